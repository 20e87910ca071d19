"""A translation generator that moves the picture, then retouches it locally.

CycleGAN's ResNet generator sees the whole image at its bottleneck, so nothing stops it from
drawing a *different* picture that fools D and still cycles back: on digits2mnist it turns
1s and 9s into other digits. Many domain gaps are "same content, other framing, other
texture" (a digit drawn full-frame vs. MNIST's centred 20x20 box; strokes blocky vs. thin).
:class:`WarpGenerator` builds that prior in, as spatial-transformer GANs do:

1. a small *locator* CNN predicts, per image, a zoom and a shift (x and y scales kept
   positive, no rotation or shear: a 6 cannot become a 9), and the image is resampled so
   (``grid_sample``, edges repeated, the identity at initialisation);
2. a *retoucher* at full resolution: conv 3x3 + ``n_blocks`` residual blocks + conv 3x3,
   whose receptive field is only ``5 + 4 n_blocks`` px (13 px for 2 blocks; instance
   norm adds per-image means and variances, nothing about where things are), adds a
   correction to the warped image before the final tanh, so it changes strokes and texture
   where they are, not what is drawn.

The warp starts as the identity (zero-initialised last layer).

Images (B, C_in, H, W) in [-1, 1] -> (B, C_out, H, W) in [-1, 1]; any size >= 4 px.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gankit.core.models.registry import count_parameters
from gankit.core.models.translation_blocks import (ResnetBlock, check_input, check_norm,
                                                   conv_bias, init_translation_weights,
                                                   norm_layer)

ZOOM_LIMIT = 2.0  # the warp zooms at most this much in or out on each axis
# Adam moves every parameter by about lr per step, so a warp parameter would take thousands
# of steps to reach a zoom of 1.4; scaling the head's output lets it get there in hundreds
LOCATOR_GAIN = 20.0


class Locator(nn.Module):
    """(B, C, H, W) -> (B, 2, 3) affine matrices of a zoom and shift per image.

    Three stride-2 convs, global average pooling and a linear layer whose weights and bias
    start at zero, so every warp starts as the identity.
    """

    def __init__(self, in_channels: int, channels: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(2 * channels, 2 * channels, 3, 2, 1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(2 * channels, 4)  # log zoom x, log zoom y, shift x, shift y

    def reset_head(self) -> None:
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raw = LOCATOR_GAIN * self.head(self.features(x))
        log_zoom_x, log_zoom_y, shift_x, shift_y = raw.unbind(1)
        limit = math.log(ZOOM_LIMIT)
        # tanh bounds the zoom to [1/ZOOM_LIMIT, ZOOM_LIMIT] and the shift to half the image
        zoom_x = torch.exp(limit * torch.tanh(log_zoom_x))
        zoom_y = torch.exp(limit * torch.tanh(log_zoom_y))
        zero = torch.zeros_like(zoom_x)
        return torch.stack([torch.stack([zoom_x, zero, torch.tanh(shift_x)], 1),
                            torch.stack([zero, zoom_y, torch.tanh(shift_y)], 1)], 1)


def sampling_grid(theta: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``F.affine_grid(theta, (B, C, H, W), align_corners=False)`` written out: (B, 2, 3)
    -> (B, H, W, 2) sampling positions. Plain products export to ONNX opset 17, where
    affine_grid needs opset 20."""
    xs = (torch.arange(width, dtype=theta.dtype, device=theta.device) * 2 + 1) / width - 1
    ys = (torch.arange(height, dtype=theta.dtype, device=theta.device) * 2 + 1) / height - 1
    base = torch.stack([xs.view(1, -1).expand(height, width),
                        ys.view(-1, 1).expand(height, width),
                        torch.ones(height, width, dtype=theta.dtype, device=theta.device)], -1)
    return (base.view(1, height * width, 3) @ theta.transpose(1, 2)).view(-1, height, width, 2)


class WarpGenerator(nn.Module):
    """Zoom-and-shift warp, then a local residual retouch (see the module docstring)."""

    def __init__(self, in_channels: int, out_channels: int, base_channels: int = 32,
                 n_blocks: int = 2, norm: str = "instance"):
        super().__init__()
        check_norm(norm)
        if n_blocks < 0:
            raise ValueError(f"WarpGenerator needs n_blocks >= 0, not {n_blocks}")
        self.in_channels, self.out_channels, self.norm = in_channels, out_channels, norm
        self.n_blocks = n_blocks
        self.locator = Locator(in_channels, max(8, base_channels // 2))
        bias = conv_bias(norm)
        self.retouch = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(in_channels, base_channels, 3, bias=bias),
            norm_layer(norm, base_channels), nn.ReLU(),
            *[ResnetBlock(base_channels, norm) for _ in range(n_blocks)],
            nn.ReflectionPad2d(1), nn.Conv2d(base_channels, out_channels, 3))
        init_translation_weights(self)
        # the warp starts as the identity; the retouch does not (as every other layer, N(0,
        # 0.02)): from an exact identity the cycle and identity L1 terms, whose gradient does
        # not vanish at zero, hold G there against D
        self.locator.reset_head()

    min_size = 4

    @property
    def receptive_field(self) -> int:
        """Pixels the retouch of one output pixel can see (the warp aside)."""
        return 5 + 4 * self.n_blocks

    def warp(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> the same images zoomed and shifted, edges repeated."""
        grid = sampling_grid(self.locator(x), x.shape[2], x.shape[3])
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border",
                             align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.in_channels, self.min_size, "WarpGenerator")
        warped = self.warp(x)
        base = warped if self.in_channels == self.out_channels else \
            warped.mean(1, keepdim=True).expand(-1, self.out_channels, -1, -1)
        # the retouch adds to the warped picture before tanh, so "change nothing" is easy
        base = base.clamp(-0.98, 0.98)
        inverse_tanh = 0.5 * torch.log((1 + base) / (1 - base))  # atanh, which ONNX export lacks
        return torch.tanh(self.retouch(warped) + inverse_tanh)

    def describe(self) -> str:
        return (f"warp generator: zoom-and-shift locator, retouch of {self.n_blocks} residual "
                f"blocks of {self.retouch[1].out_channels} channels at full size "
                f"({self.receptive_field} px receptive field), {self.norm} norm, "
                f"{self.in_channels} -> {self.out_channels} channels, "
                f"{count_parameters(self):,} parameters")
