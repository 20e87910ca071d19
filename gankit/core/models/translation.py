"""Image-to-image translation networks (pix2pix, Isola et al. 2017; CycleGAN, Zhu et al. 2017)
and the two builders the translation training kind calls.

Images (B, C_in, H, W) in [-1, 1] -> images (B, C_out, H, W) in [-1, 1] (generators) or
patch logits (B, 1, h, w) (discriminator); grayscale and RGB alike.

- ``unet``: :class:`~gankit.core.models.unet.UNetGenerator`, pix2pix's G, depth from the
  image size (28 px: padded to 32, depth 5).
- ``resnet``: :class:`ResnetGenerator`, CycleGAN's G (here).
- ``warp``: :class:`~gankit.core.models.warp.WarpGenerator`, a zoom-and-shift warp and a
  local retouch: content stays where it was drawn (the cyclegan preset's G).
- ``patchgan``: :class:`~gankit.core.models.patchgan.PatchDiscriminator`, both papers' D,
  ``n_layers`` from the image size when 0 (28 px: 2, 256 px: 3, the 70x70 PatchGAN).

These are not in ``MODELS``: those map noise to images (``build_models(model_cfg, shape,
num_classes)``); these have their own registry, :data:`TRANSLATION_NETWORKS`.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from gankit.core.models.patchgan import (PatchDiscriminator, min_patch_input,  # noqa: F401
                                         patch_layers_for, patch_output_size, receptive_field)
from gankit.core.models.registry import count_parameters
from gankit.core.models.translation_blocks import (ResnetBlock, check_input, check_norm,
                                                   conv_bias, crop, init_translation_weights,
                                                   norm_layer, pad_to_multiple)
from gankit.core.models.unet import UNetGenerator
from gankit.core.models.warp import WarpGenerator
from gankit.registry import Registry

__all__ = ["TRANSLATION_NETWORKS", "GENERATOR_KINDS", "ResnetBlock", "ResnetGenerator",
           "UNetGenerator", "WarpGenerator", "PatchDiscriminator", "receptive_field", "patch_layers_for",
           "init_translation_weights", "build_generator", "build_patch_discriminator"]


class ResnetGenerator(nn.Module):
    """CycleGAN's generator: reflect pad 3 + conv 7x7, ``n_downsampling`` conv 3x3 stride 2
    (channels doubling), ``n_blocks`` :class:`ResnetBlock`, as many transposed convs 3x3
    stride 2 back up, reflect pad 3 + conv 7x7, Tanh; norm + ReLU after every inner conv.

    Any H, W > 2**n_downsampling (and >= 4): sides that are not multiples of
    ``2**n_downsampling`` are reflection-padded up to one and the output cropped back
    (28 px needs none: 28 -> 14 -> 7 and back).
    """

    def __init__(self, in_channels: int, out_channels: int, *, base_channels: int = 64,
                 n_blocks: int = 9, norm: str = "instance", n_downsampling: int = 2,
                 dropout: bool = False):
        super().__init__()
        check_norm(norm)
        if n_blocks < 0 or n_downsampling < 0:
            raise ValueError(f"ResnetGenerator needs n_blocks >= 0 and n_downsampling >= 0, "
                             f"not {n_blocks} and {n_downsampling}")
        self.in_channels, self.out_channels, self.norm = in_channels, out_channels, norm
        self.n_blocks, self.n_downsampling, self.dropout = n_blocks, n_downsampling, dropout
        bias = conv_bias(norm)
        widths = [base_channels * 2 ** i for i in range(n_downsampling + 1)]
        self.widths = widths
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, widths[0], 7, bias=bias),
                  norm_layer(norm, widths[0]), nn.ReLU()]
        for i in range(n_downsampling):
            layers += [nn.Conv2d(widths[i], widths[i + 1], 3, 2, 1, bias=bias),
                       norm_layer(norm, widths[i + 1]), nn.ReLU()]
        layers += [ResnetBlock(widths[-1], norm, dropout) for _ in range(n_blocks)]
        for i in range(n_downsampling, 0, -1):
            layers += [nn.ConvTranspose2d(widths[i], widths[i - 1], 3, 2, 1, output_padding=1,
                                          bias=bias),
                       norm_layer(norm, widths[i - 1]), nn.ReLU()]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(widths[0], out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_translation_weights(self)

    @property
    def min_size(self) -> int:
        """The smallest side it takes: the reflection pads need a 2 px bottleneck and
        4 px at full size."""
        return max(4, 2 ** self.n_downsampling + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.in_channels, self.min_size, "ResnetGenerator")
        padded, offsets = pad_to_multiple(x, 2 ** self.n_downsampling)
        return crop(self.net(padded), offsets, tuple(x.shape[2:]))

    @property
    def nce_layers(self) -> tuple[int, ...]:
        """Indices into ``net`` whose outputs PatchNCE compares, as CUT's layers 0, 4, 8,
        12, 16 of its 9-block G: the padded pixels, each downsampling conv's output, the
        first residual block's and the middle one's (fewer where G has fewer blocks)."""
        down = [4 + 3 * i for i in range(self.n_downsampling)]  # each stride-2 conv
        first_block = 4 + 3 * self.n_downsampling
        blocks = [first_block, first_block + self.n_blocks // 2] if self.n_blocks else []
        return tuple(sorted({0, *down, *blocks}))

    def nce_features(self, x: torch.Tensor, translate: bool = False):
        """Encoder features (B, C_l, H_l, W_l) of ``x`` (B, C_in, H, W) at :attr:`nce_layers`,
        the patch descriptors of CUT's PatchNCE loss; only the layers up to the last of them
        run. ``translate``: the whole G runs and (translation, features) come back, so that
        a CUT step gets the input's features from the pass that translates it."""
        check_input(x, self.in_channels, self.min_size, "ResnetGenerator")
        feature, offsets = pad_to_multiple(x, 2 ** self.n_downsampling)
        wanted, features = self.nce_layers, []
        layers = self.net if translate else self.net[:wanted[-1] + 1]
        for index, layer in enumerate(layers):
            feature = layer(feature)
            if index in wanted:
                features.append(feature)
        if translate:
            return crop(feature, offsets, tuple(x.shape[2:])), features
        return features

    def describe(self) -> str:
        return (f"ResNet generator: {self.n_downsampling} downsamplings, {self.n_blocks} "
                f"residual blocks, widths {'-'.join(map(str, self.widths))}, {self.norm} "
                f"norm{', dropout' if self.dropout else ''}, {self.in_channels} -> "
                f"{self.out_channels} channels, {count_parameters(self):,} parameters")


# name -> builder; generators take (in_ch, out_ch, image_size, *, base_channels, norm, dropout,
# n_blocks), the discriminator (in_ch, image_size, base_channels, n_layers, norm)
TRANSLATION_NETWORKS: Registry[Callable[..., nn.Module]] = Registry("translation network")
GENERATOR_KINDS = ("unet", "resnet", "warp")
DEFAULT_NORM = {"unet": "batch", "resnet": "instance", "warp": "instance",
                "patchgan": "batch"}


@TRANSLATION_NETWORKS.register("unet", "pix2pix U-Net generator, depth from the image size "
                               "(batch norm, dropout by default)")
def _unet(in_ch, out_ch, image_size, *, base_channels, norm, dropout, n_blocks):
    return UNetGenerator(in_ch, out_ch, image_size, base_channels=base_channels, norm=norm,
                         dropout=dropout)


@TRANSLATION_NETWORKS.register("resnet", "CycleGAN ResNet generator, n_blocks residual "
                               "blocks (instance norm by default)")
def _resnet(in_ch, out_ch, image_size, *, base_channels, norm, dropout, n_blocks):
    generator = ResnetGenerator(in_ch, out_ch, base_channels=base_channels, n_blocks=n_blocks,
                                norm=norm, dropout=dropout)
    if image_size < generator.min_size:
        raise ValueError(f"the ResNet generator needs images of at least "
                         f"{generator.min_size} px, not {image_size}")
    return generator


@TRANSLATION_NETWORKS.register("warp", "zoom-and-shift warp, then a local retouch of n_blocks "
                               "residual blocks at full size (instance norm by default)")
def _warp(in_ch, out_ch, image_size, *, base_channels, norm, dropout, n_blocks):
    if dropout:
        raise ValueError("the warp generator has no dropout; set translation.dropout=false")
    if image_size < WarpGenerator.min_size:
        raise ValueError(f"the warp generator needs images of at least "
                         f"{WarpGenerator.min_size} px, not {image_size}")
    return WarpGenerator(in_ch, out_ch, base_channels, n_blocks, norm)


def build_generator(kind: str, in_ch: int, out_ch: int, image_size: int, *,
                    base_channels: int = 64, norm: str | None = None,
                    dropout: bool | None = None, n_blocks: int = 9) -> nn.Module:
    """G for square ``image_size`` images: ``kind`` "unet", "resnet" or "warp"; ``norm`` and
    ``dropout`` None take the kind's default (U-Net: batch norm, dropout; ResNet and warp:
    instance norm, no dropout); ``n_blocks`` is the ResNet's or the warp's retouch's. Weights are initialised N(0, 0.02)
    from torch's global RNG. Bad kinds, norms and sizes raise ``ValueError``."""
    if kind not in GENERATOR_KINDS:
        raise ValueError(f"unknown generator kind {kind!r}; choose one of: "
                         f"{', '.join(GENERATOR_KINDS)}")
    norm = DEFAULT_NORM[kind] if norm is None else norm
    dropout = kind == "unet" if dropout is None else dropout
    return TRANSLATION_NETWORKS[kind](in_ch, out_ch, image_size, base_channels=base_channels,
                                      norm=norm, dropout=dropout, n_blocks=n_blocks)


@TRANSLATION_NETWORKS.register("patchgan", "PatchGAN discriminator (70x70 for 3 layers), "
                               "patch logits (B, 1, h, w)")
def build_patch_discriminator(in_ch: int, image_size: int, base_channels: int = 64,
                              n_layers: int = 0, norm: str = "batch") -> PatchDiscriminator:
    """D for square ``image_size`` images with ``in_ch`` channels (pix2pix: C_A + C_B);
    ``n_layers`` 0 picks :func:`patch_layers_for` (28 px: 2, 256 px: 3). Sizes giving less
    than 1x1 logits raise ``ValueError``."""
    if n_layers == 0:
        n_layers = patch_layers_for(image_size)
    if patch_output_size(image_size, n_layers) < 1:
        raise ValueError(f"a PatchGAN with {n_layers} layers needs images of at least "
                         f"{min_patch_input(n_layers)} px, not {image_size}; use n_layers 0 "
                         f"(auto) or fewer layers")
    return PatchDiscriminator(in_ch, base_channels, n_layers, norm)
