"""Pieces shared by the image-to-image translation networks (``translation``, ``unet``,
``patchgan``): normalisation by name, input checks, reflection pad-and-crop, weight init, the residual
block.

As in pix2pix / CycleGAN (Isola et al. 2017, Zhu et al. 2017): ``norm`` is "batch"
(BatchNorm2d) or "instance" (InstanceNorm2d without affine parameters or running
statistics), and a convolution followed by a norm has a bias only with instance norm
(BatchNorm's shift makes the bias redundant).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gankit.core.models.registry import initialise

NORMS = ("batch", "instance")


def check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, not {norm!r}")


def norm_layer(norm: str, channels: int) -> nn.Module:
    """BatchNorm2d or InstanceNorm2d(affine=False, track_running_stats=False)."""
    check_norm(norm)
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


def conv_bias(norm: str) -> bool:
    """Whether a conv followed by ``norm`` gets a bias: only with instance norm."""
    check_norm(norm)
    return norm == "instance"


def check_input(x: torch.Tensor, channels: int, min_size: int, name: str) -> None:
    """Images (B, ``channels``, H, W) with H, W >= ``min_size``, else ``ValueError``."""
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"{name} expects images of shape (B, {channels}, H, W), "
                         f"got {tuple(x.shape)}")
    if min(x.shape[2:]) < min_size:
        raise ValueError(f"{name} needs images of at least {min_size}x{min_size} px, "
                         f"got {x.shape[2]}x{x.shape[3]}")


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflection-pad H and W up to multiples of ``multiple`` (the extra split about evenly
    between the two sides); returns the padded images and the (top, left) offsets that
    :func:`crop` needs."""
    h, w = x.shape[2:]
    extra_h, extra_w = -h % multiple, -w % multiple
    if not (extra_h or extra_w):
        return x, (0, 0)
    top, left = extra_h // 2, extra_w // 2
    padded = F.pad(x, (left, extra_w - left, top, extra_h - top), mode="reflect")
    return padded, (top, left)


def crop(x: torch.Tensor, offsets: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """Undo :func:`pad_to_multiple`: the ``size`` = (H, W) window at ``offsets``."""
    (top, left), (h, w) = offsets, size
    if (top, left) == (0, 0) and tuple(x.shape[2:]) == (h, w):
        return x
    return x[:, :, top:top + h, left:left + w]


def init_translation_weights(module: nn.Module, seed: int | None = None) -> nn.Module:
    """pix2pix/CycleGAN's ``init_weights('normal')``: conv weights N(0, 0.02), biases 0,
    BatchNorm scales N(1, 0.02) and shifts 0 (InstanceNorm here has no parameters).

    Draws from torch's global CPU RNG; with ``seed``, from a generator seeded so, leaving
    the global state as it was. Returns ``module``.
    """
    if seed is None:
        initialise(module, "dcgan")
        return module
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
        initialise(module, "dcgan")
    return module


class ResnetBlock(nn.Module):
    """x + [reflect pad 1, conv 3x3, norm, ReLU, (Dropout 0.5), reflect pad 1, conv 3x3,
    norm](x)."""

    def __init__(self, channels: int, norm: str, dropout: bool = False):
        super().__init__()
        bias = conv_bias(norm)
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias),
            norm_layer(norm, channels), nn.ReLU(), *([nn.Dropout(0.5)] if dropout else []),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias),
            norm_layer(norm, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)
