"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
Training"): random, differentiable transforms applied to every image D sees — real and fake
in D's step, fake in G's step — so D cannot memorise a small training set, while G still
gets gradients through the transform.

Policies are comma-separated names: ``translation`` (shift by up to 1/8 of the side, zero
padding), ``cutout`` (a zeroed square of half the side), ``color`` (brightness, saturation,
contrast). Images are (B, C, H, W) in the model's range; each sample gets its own draw.
The transforms follow the paper's reference implementation (``DiffAugment_pytorch.py``).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gankit.core.augment_policy import TRANSFORM_NAMES, parse_policy

Transform = Callable[[torch.Tensor], torch.Tensor]


def _uniform(x: torch.Tensor) -> torch.Tensor:
    """U[0, 1) per sample, shaped (B, 1, 1, 1)."""
    return torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device)


def brightness(x: torch.Tensor) -> torch.Tensor:
    """Add U[-0.5, 0.5) to every pixel of a sample."""
    return x + (_uniform(x) - 0.5)


def saturation(x: torch.Tensor) -> torch.Tensor:
    """Scale the distance from the channel mean by U[0, 2) (no-op for one channel)."""
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_uniform(x) * 2) + mean


def contrast(x: torch.Tensor) -> torch.Tensor:
    """Scale the distance from the image mean by U[0.5, 1.5)."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x) + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125,
                shift: torch.Tensor | None = None) -> torch.Tensor:
    """Shift each sample by whole pixels, up to ``ratio`` of the side in each direction;
    uncovered pixels are 0. ``shift`` (B, 2) of (dy, dx) may be given (tests)."""
    b, _, h, w = x.shape
    if shift is None:
        max_y, max_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
        shift = torch.stack([torch.randint(-max_y, max_y + 1, (b,), device=x.device),
                             torch.randint(-max_x, max_x + 1, (b,), device=x.device)], dim=1)
    # Output pixel (i, j) reads input (i - dy, j - dx) of a 1-px zero-padded copy.
    rows = torch.arange(h, device=x.device).view(1, h, 1) - shift[:, 0].view(b, 1, 1) + 1
    cols = torch.arange(w, device=x.device).view(1, 1, w) - shift[:, 1].view(b, 1, 1) + 1
    rows, cols = rows.clamp(0, h + 1), cols.clamp(0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])  # the border that clamped indices land on is zero
    batch = torch.arange(b, device=x.device).view(b, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, ratio: float = 0.5,
           centre: torch.Tensor | None = None) -> torch.Tensor:
    """Zero a square of ``ratio`` x the side (clipped at the border) at a random centre per
    sample; ``centre`` (B, 2) of (row, col) may be given (tests)."""
    b, _, h, w = x.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    if centre is None:
        centre = torch.stack([torch.randint(0, h + (1 - size_y % 2), (b,), device=x.device),
                              torch.randint(0, w + (1 - size_x % 2), (b,), device=x.device)],
                             dim=1)
    top = (centre[:, 0] - size_y // 2).view(b, 1, 1)
    left = (centre[:, 1] - size_x // 2).view(b, 1, 1)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (rows >= top) & (rows < top + size_y) & (cols >= left) & (cols < left + size_x)
    return x * (~inside).unsqueeze(1).to(x.dtype)


POLICIES: dict[str, list[Transform]] = {
    "color": [brightness, saturation, contrast],
    "translation": [translation],
    "cutout": [cutout],
}


assert tuple(POLICIES) == TRANSFORM_NAMES, "one transform list per policy name"


def diff_augment(x: torch.Tensor, policy: str) -> torch.Tensor:
    """Apply the policy's transforms in order (colour first, as in the paper) to x (B, C, H, W)."""
    for name in TRANSFORM_NAMES:
        if name in parse_policy(policy):
            for transform in POLICIES[name]:
                x = transform(x)
    return x.contiguous()


class Augmented(nn.Module):
    """D behind DiffAugment: ``Augmented(D, policy)(x, *labels)`` = ``D(T(x), *labels)``.

    The loop hands this to ``d_step``/``g_step`` in place of D, so real and fake go through
    the same random transforms in D's step and fakes in G's step; D's parameters and
    modules stay D's (checkpoints save D itself).
    """

    def __init__(self, D: nn.Module, policy: str):
        super().__init__()
        parse_policy(policy)
        self.D, self.policy = D, policy

    def forward(self, x: torch.Tensor, *args) -> torch.Tensor:
        return self.D(diff_augment(x, self.policy), *args)


def maybe_augment(D: nn.Module, policy: str) -> nn.Module:
    """``D`` itself for an empty policy, else :class:`Augmented`."""
    return Augmented(D, policy) if policy.strip() else D
