"""PacGAN packing (Lin et al. 2018): D judges m samples at once.

``Packed(D, m)`` wraps a discriminator built for packed inputs: a batch (B, C, H, W) becomes
(B/m, m*C, H, W) (m consecutive images stacked on the channel axis), points (B, D) become
(B/m, m*D). A packed D sees whether a *set* of samples is real, so a generator that puts
all of its mass on a few modes is caught (the strongest published remedy for mode collapse).

The wrapper returns one logit *per sample* (B,): each sample gets its pack's logit. The
mean of those over the batch equals the mean over packs, so every loss (mean of a function
of the logits) is the same as on the packed logits, and callers that split a concatenated
real+fake batch by sample count (:func:`gankit.core.steps.discriminate`) work unchanged, as long
as B and the real part are multiples of m (config validation ensures it).
"""

from __future__ import annotations

import torch
from torch import nn


def packed_shape(shape: tuple[int, ...], pack: int) -> tuple[int, ...]:
    """The input shape of a D that sees ``pack`` samples of ``shape``: (m*C, H, W) or (m*D,)."""
    return (shape[0] * pack, *shape[1:])


class Packed(nn.Module):
    """D (on packed inputs) -> a D on single samples: x (B, ...) -> logits (B,)."""

    def __init__(self, D: nn.Module, pack: int):
        super().__init__()
        if pack < 1:
            raise ValueError(f"pack must be >= 1, not {pack}")
        self.D, self.pack = D, pack

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is not None:
            raise ValueError("a packed discriminator is unconditional; it takes no labels")
        batch, m = x.shape[0], self.pack
        if batch % m:
            raise ValueError(f"a batch of {batch} cannot be split into packs of {m}")
        packs = x.reshape(batch // m, m * x.shape[1], *x.shape[2:])
        return self.D(packs).repeat_interleave(m)

