"""The pix2pix U-Net generator (Isola et al. 2017, §3.2.1 and appendix 6.1.1), sized from the
image instead of pix2pix's fixed ``unet_256`` / ``unet_128``.

**Depth.** ``depth = min(max_depth, ceil(log2(image_size)))`` stride-2 levels. Images are
reflection-padded to the next multiple of ``2 ** depth`` (for a side up to
``2 ** max_depth``: the next power of two) and the output is cropped back, so the bottleneck
is 1x1 unless ``max_depth`` caps the depth:

    28 px -> padded to 32, depth 5 (32 -> 1 px);  32 -> 5;  64 -> 6;  256 -> 8 (unet_256);
    300 px with max_depth 8 -> padded to 512, a 2x2 bottleneck.

**Levels** (level 0 outermost). Encoder level i: [LeakyReLU 0.2 unless i = 0] conv 4x4
stride 2 to ``base * min(2**i, 8)`` channels, [norm unless outermost or innermost]. Decoder
level i, innermost first: ReLU, transposed conv 4x4 stride 2 from the level's output
concatenated with the skip (the innermost takes the bottleneck alone), then norm and, when
``dropout``, Dropout(0.5) in the three levels just above the innermost (levels
``max(1, depth - 4) .. depth - 2``: pix2pix's three for depth 8, and still three for the
depth-5 net of 28 px images, where pix2pix's rule would leave none); the outermost decoder
level is ReLU, transposed conv to ``out_channels`` (with bias), Tanh.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gankit.core.models.registry import count_parameters
from gankit.core.models.translation_blocks import (check_input, check_norm, conv_bias, crop,
                                                   init_translation_weights, norm_layer,
                                                   pad_to_multiple)

MAX_WIDTH_FACTOR = 8  # channel widths double from base_channels up to 8x, then stay
DROPOUT_LEVELS = 3


def unet_geometry(image_size: int, max_depth: int = 8) -> tuple[int, int]:
    """(depth, padded side) of the U-Net for square ``image_size`` images."""
    if image_size < 4:
        raise ValueError(f"the U-Net needs images of at least 4 px, not {image_size}")
    if max_depth < 2:
        raise ValueError(f"the U-Net needs max_depth >= 2, not {max_depth}")
    depth = min(max_depth, math.ceil(math.log2(image_size)))
    step = 2 ** depth
    return depth, -(-image_size // step) * step


def unet_widths(base_channels: int, depth: int) -> list[int]:
    """Output channels of encoder levels 0 .. depth - 1."""
    return [base_channels * min(2 ** i, MAX_WIDTH_FACTOR) for i in range(depth)]


def dropout_levels(depth: int) -> range:
    """The decoder levels with Dropout(0.5): up to three just above the innermost."""
    return range(max(1, depth - 1 - DROPOUT_LEVELS), depth - 1)


class UNetGenerator(nn.Module):
    """Images (B, in_channels, S, S) in [-1, 1] -> images (B, out_channels, S, S) in [-1, 1],
    ``S = image_size``."""

    def __init__(self, in_channels: int, out_channels: int, image_size: int, *,
                 base_channels: int = 64, norm: str = "batch", dropout: bool = True,
                 max_depth: int = 8):
        super().__init__()
        check_norm(norm)
        self.depth, self.padded_size = unet_geometry(image_size, max_depth)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.image_size = image_size
        self.norm, self.dropout = norm, dropout
        widths = self.widths = unet_widths(base_channels, self.depth)
        self.down = nn.ModuleList([nn.Conv2d(in_channels, widths[0], 4, 2, 1,
                                             bias=conv_bias(norm))])
        for i in range(1, self.depth):
            innermost = i == self.depth - 1
            conv = nn.Conv2d(widths[i - 1], widths[i], 4, 2, 1, bias=conv_bias(norm))
            self.down.append(nn.Sequential(nn.LeakyReLU(0.2), conv,
                                           *([] if innermost else [norm_layer(norm, widths[i])])))
        self.up = nn.ModuleList()
        for i in range(self.depth - 1, 0, -1):  # innermost first
            width_in = widths[i] * (1 if i == self.depth - 1 else 2)
            extra = [nn.Dropout(0.5)] if dropout and i in dropout_levels(self.depth) else []
            self.up.append(nn.Sequential(
                nn.ReLU(), nn.ConvTranspose2d(width_in, widths[i - 1], 4, 2, 1,
                                              bias=conv_bias(norm)),
                norm_layer(norm, widths[i - 1]), *extra))
        self.up.append(nn.Sequential(
            nn.ReLU(), nn.ConvTranspose2d(2 * widths[0], out_channels, 4, 2, 1), nn.Tanh()))
        init_translation_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = self.image_size
        check_input(x, self.in_channels, 1, "UNetGenerator")
        if tuple(x.shape[2:]) != (size, size):
            raise ValueError(f"UNetGenerator was built for {size}x{size} images, "
                             f"got {x.shape[2]}x{x.shape[3]}")
        h, offsets = pad_to_multiple(x, 2 ** self.depth)
        skips = []
        for layer in self.down:
            h = layer(h)
            skips.append(h)
        h = self.up[0](skips.pop())
        for layer in self.up[1:]:
            h = layer(torch.cat([skips.pop(), h], dim=1))
        return crop(h, offsets, (size, size))

    def describe(self) -> str:
        size, padded = self.image_size, self.padded_size
        pad = f" (reflect-padded to {padded})" if padded != size else ""
        n_drop = len(dropout_levels(self.depth)) if self.dropout else 0
        return (f"U-Net {size} px{pad}: depth {self.depth} ({padded} -> "
                f"{padded >> self.depth} px), widths {'-'.join(map(str, self.widths))}, "
                f"{self.norm} norm, dropout in {n_drop} decoder levels, "
                f"{self.in_channels} -> {self.out_channels} channels, "
                f"{count_parameters(self):,} parameters")
