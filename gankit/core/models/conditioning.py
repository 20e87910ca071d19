"""Class conditioning shared by the conv models.

G takes the class as a one-hot vector concatenated to z (Mirza & Osindero 2014); D adds a
projection term <embed(y), h> to its logit (Miyato & Koyama 2018, cGANs with projection
discriminator). A conditional G called without labels draws a balanced set of classes
(0, 1, ..., K-1, 0, 1, ...), so every caller that only has z still gets all classes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def balanced_labels(batch: int, num_classes: int, device: torch.device) -> torch.Tensor:
    """Labels (batch,) cycling through the classes: 0, 1, ..., K-1, 0, ..."""
    return torch.arange(batch, device=device) % num_classes


def proportional_labels(n: int, counts) -> torch.Tensor:
    """Labels (n,) in the proportions of ``counts`` (K class sizes), the classes interleaved.

    n is split by largest remainders (ties to the lower class); the labels are then dealt
    round by round, each class with quota left once per round. Equal counts give exactly
    :func:`balanced_labels` (0, 1, ..., K-1, 0, ...). For scoring a conditional G against a
    data set whose classes are not balanced (FID compares whole distributions).
    """
    counts = torch.as_tensor(counts, dtype=torch.float64)
    assert counts.dim() == 1 and len(counts) > 0 and bool((counts >= 0).all()), counts
    exact = n * counts / counts.sum()
    quota = exact.floor().long()
    short = n - int(quota.sum())
    order = torch.sort(-(exact - quota), stable=True).indices  # largest remainders first
    quota[order[:short]] += 1
    classes = torch.repeat_interleave(torch.arange(len(counts)), quota)
    rounds = torch.cat([torch.arange(int(q)) for q in quota])
    return classes[torch.sort(rounds * len(counts) + classes).indices]


def with_class(z: torch.Tensor, labels: torch.Tensor | None, num_classes: int) -> torch.Tensor:
    """z (B, latent) -> (B, latent + K) with the one-hot class appended (z unchanged if K=0)."""
    if not num_classes:
        return z
    if labels is None:
        labels = balanced_labels(z.shape[0], num_classes, z.device)
    return torch.cat([z, F.one_hot(labels, num_classes).to(z.dtype)], dim=1)


class Projection(nn.Module):
    """The projection discriminator's class term: features h (B, F), labels (B,) -> (B,)."""

    def __init__(self, num_classes: int, features: int):
        super().__init__()
        self.embed = nn.Embedding(num_classes, features)
        nn.init.zeros_(self.embed.weight)  # start as the unconditional D

    def forward(self, h: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return (self.embed(labels) * h).sum(dim=1)


def discriminator_output(h: torch.Tensor, head: nn.Module, projection: nn.Module | None,
                         aux: nn.Module | None, labels: torch.Tensor | None) -> torch.Tensor:
    """D's output from its pooled features h (B, F): the logit (B,) — plus the projection
    term for a conditional D — or, with an ACGAN classifier, (B, 1 + K) with the adversarial
    logit first (see ``gankit.core.steps.judge_aux``)."""
    logits = head(h).squeeze(1)
    if projection is not None:
        if labels is None:
            raise ValueError("this discriminator is class-conditional: pass labels")
        logits = logits + projection(h, labels)
    if aux is not None:
        return torch.cat([logits[:, None], aux(h)], dim=1)
    return logits
