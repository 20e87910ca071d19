"""Layers shared by several discriminators: minibatch standard deviation."""

from __future__ import annotations

import torch
from torch import nn


def group_size_for(batch: int, group_size: int) -> int:
    """The largest group size <= ``group_size`` that divides ``batch``."""
    return next(g for g in range(min(group_size, batch), 0, -1) if batch % g == 0)


class MinibatchStdDev(nn.Module):
    """Minibatch standard deviation (Karras et al. 2018, ProGAN §3): appends one feature,
    the average over features of the per-feature standard deviation within a group of
    samples, so D can see how varied a batch is (a direct signal against mode collapse).

    x (B, C, H, W) -> (B, C + 1, H, W), or x (B, F) -> (B, F + 1). Groups are consecutive
    samples; the batch must not mix real and fake (``mixes_batch`` tells ``steps`` to run
    real and fake through D separately, as for BatchNorm).
    """

    mixes_batch = True

    def __init__(self, group_size: int = 4):
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        g = group_size_for(batch, self.group_size)
        grouped = x.reshape(batch // g, g, *x.shape[1:]).float()
        std = (grouped.var(dim=1, unbiased=False) + 1e-8).sqrt()  # (B/g, C, ...)
        stat = std.flatten(1).mean(1).repeat_interleave(g).to(x.dtype)  # (B,)
        extra = stat.view(batch, 1, *([1] * (x.dim() - 2))).expand(batch, 1, *x.shape[2:])
        return torch.cat([x, extra], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"
