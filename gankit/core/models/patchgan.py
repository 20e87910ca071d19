"""The PatchGAN discriminator of pix2pix and CycleGAN (Isola et al. 2017, §3.2.2; the "70x70"
PatchGAN for ``n_layers=3``): each output logit judges one patch of the input.

Layers: conv 4x4 stride 2 + LeakyReLU 0.2 (no norm); ``n_layers - 1`` more conv 4x4
stride 2 + norm + LeakyReLU with channels doubling up to 8x ``base_channels``; one conv 4x4
stride 1 + norm + LeakyReLU (doubling once more, up to 8x); a conv 4x4 stride 1 to one
channel. All convs pad by 1, so a side S gives ``floor(S / 2**n_layers) - 2`` logits.

Receptive field (one logit's window, padding included): 16, 34, 70 px for 1, 2, 3 layers.
Near the border part of that window is zero padding: the corner logit sees only
``receptive_field - overhang`` = 11, 23, 47 px of the image (its *window on the image*).
:func:`patch_layers_for` picks the largest ``n_layers <= 3`` whose window on the image is
smaller than the image, so that some logits judge only part of the image rather than all
of it: 28 px -> 2 (5x5 logits; 3 layers would give one logit that sees everything),
32 -> 2, 64 -> 3, 256 -> 3.
"""

from __future__ import annotations

import torch
from torch import nn

from gankit.core.models.registry import count_parameters
from gankit.core.models.translation_blocks import (check_input, check_norm, conv_bias,
                                                   init_translation_weights, norm_layer)

MAX_WIDTH_FACTOR = 8
MAX_PATCH_LAYERS = 3


def patch_geometry(n_layers: int) -> list[tuple[int, int, int]]:
    """(kernel, stride, padding) of each conv of a PatchGAN with ``n_layers``."""
    if n_layers < 1:
        raise ValueError(f"a PatchGAN needs n_layers >= 1, not {n_layers}")
    return [(4, 2, 1)] * n_layers + [(4, 1, 1)] * 2


def receptive_field(n_layers: int) -> int:
    """Side of the input window one logit depends on: 16, 34, 70 for 1, 2, 3 layers."""
    field = 1
    for kernel, stride, _ in reversed(patch_geometry(n_layers)):
        field = (field - 1) * stride + kernel
    return field


def patch_window(n_layers: int) -> int:
    """How much of the image the corner logit sees: the receptive field less the part of
    it that lies on the zero padding (11, 23, 47 for 1, 2, 3 layers)."""
    overhang, jump = 0, 1
    for _, stride, padding in patch_geometry(n_layers):
        overhang += padding * jump
        jump *= stride
    return receptive_field(n_layers) - overhang


def patch_output_size(image_size: int, n_layers: int) -> int:
    """Logits per side for ``image_size`` px (< 1: too small for ``n_layers``)."""
    size = image_size
    for kernel, stride, padding in patch_geometry(n_layers):
        size = (size + 2 * padding - kernel) // stride + 1
        if size < 1:
            return 0
    return size


def min_patch_input(n_layers: int) -> int:
    """The smallest side that still gives 1x1 logits: 3 * 2**n_layers."""
    return 3 * 2 ** n_layers


def patch_layers_for(image_size: int) -> int:
    """The largest ``n_layers <= 3`` whose window on the image (:func:`patch_window`) is
    smaller than the image and whose output is at least 1x1: 28 -> 2, 256 -> 3."""
    for n_layers in range(MAX_PATCH_LAYERS, 0, -1):
        if patch_window(n_layers) < image_size and patch_output_size(image_size, n_layers) >= 1:
            return n_layers
    raise ValueError(f"a PatchGAN needs images of at least {patch_window(1) + 1} px, "
                     f"not {image_size}")


class PatchDiscriminator(nn.Module):
    """Images (B, in_channels, H, W) -> patch logits (B, 1, h, w), h = floor(H / 2**n) - 2.

    For pix2pix, D sees the input and the output stacked: ``in_channels = C_A + C_B``.
    """

    def __init__(self, in_channels: int, base_channels: int = 64, n_layers: int = 3,
                 norm: str = "batch"):
        super().__init__()
        check_norm(norm)
        geometry = patch_geometry(n_layers)
        self.in_channels, self.n_layers, self.norm = in_channels, n_layers, norm
        widths = [base_channels * min(2 ** i, MAX_WIDTH_FACTOR) for i in range(n_layers + 1)]
        self.widths = widths
        layers: list[nn.Module] = []
        for i, (kernel, stride, padding) in enumerate(geometry[:-1]):
            first = i == 0
            width_in = in_channels if first else widths[i - 1]
            layers.append(nn.Conv2d(width_in, widths[i], kernel, stride, padding,
                                    bias=first or conv_bias(norm)))
            layers += [] if first else [norm_layer(norm, widths[i])]
            layers.append(nn.LeakyReLU(0.2))
        kernel, stride, padding = geometry[-1]
        layers.append(nn.Conv2d(widths[-1], 1, kernel, stride, padding))
        self.net = nn.Sequential(*layers)
        init_translation_weights(self)

    @property
    def receptive_field(self) -> int:
        return receptive_field(self.n_layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.in_channels, min_patch_input(self.n_layers),
                    f"PatchDiscriminator(n_layers={self.n_layers})")
        return self.net(x)

    def describe(self) -> str:
        return (f"PatchGAN: {self.n_layers} stride-2 + 2 stride-1 conv layers, widths "
                f"{'-'.join(map(str, self.widths))}-1, {self.receptive_field}x"
                f"{self.receptive_field} px receptive field, {self.norm} norm, "
                f"{self.in_channels} input channels, {count_parameters(self):,} parameters")
