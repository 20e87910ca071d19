"""Runs shared by the tests of the latent applications (projection, directions, inpainting):
a class-conditional DCGAN run trained a few steps, and small in-memory runs around a toy
generator whose class matters (a few training steps leave a DCGAN's class columns tiny)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn


@pytest.fixture(scope="session")
def conditional_run(tmp_path_factory) -> Path:
    """The default preset (class-conditional DCGAN, EMA) trained 3 steps; read-only."""
    import gankit

    out = tmp_path_factory.mktemp("runs") / "default"
    torch.manual_seed(0)
    return gankit.train("default", out=out, steps=3)


class ToyG(nn.Module):
    """tanh(W z [+ a class's offset]) as (1, 8, 8) images: every image it makes has one z
    and, when conditional, one class that make it exactly."""

    def __init__(self, latent_dim: int = 4, num_classes: int = 0, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.W = nn.Parameter(torch.randn(64, latent_dim, generator=g) * 0.3)
        self.offsets = nn.Parameter(torch.randn(max(num_classes, 1), 64, generator=g))

    def forward(self, z, labels=None):
        h = z @ self.W.T
        if self.num_classes:
            h = h + self.offsets[labels]
        return torch.tanh(h).view(-1, 1, 8, 8)


@pytest.fixture
def toy_run():
    """``toy_run(num_classes=0)``: a loaded run (gankit.load's type) around a :class:`ToyG`
    of 4 latent dimensions, 8x8 gray images in [-1, 1]."""
    from gankit.config import apply_overrides, resolve
    from gankit.training.finished_run import Run

    def make(num_classes: int = 0):
        cfg = apply_overrides(resolve("default"), {"model.latent_dim": 4})
        G = ToyG(num_classes=num_classes).eval()
        return Run(G=G, D=None, G_ema=None, config=cfg, step=0, image_shape=(1, 8, 8),
                   num_classes=num_classes)

    return make
