"""2-D mixtures of Gaussians, the standard mode-collapse benchmark (no files needed).

``ring8``: 8 Gaussians on a circle of radius 2, sigma 0.02; ``grid25``: a 5 x 5 grid with
spacing 2, sigma 0.05 (Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN).

These sets are *points*, not images: :class:`~gankit.data.registry.ImageData` holds them
with ``kind="points"`` and ``samples`` a float32 tensor (N, 2) in data units (no scaling to
[-1, 1]); batches are sliced as they are. A fixed seed makes the same points every time
(``train=False`` draws a different, equally fixed, set).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gankit.data.registry import ImageData, register

NUM_POINTS = 100_000  # large enough that an epoch is many steps and no point repeats soon


@dataclass(frozen=True)
class ToySpec:
    """Where the modes of a toy set lie: centres (M, 2) and the common sigma."""

    centers: np.ndarray
    sigma: float


def ring_centers(modes: int = 8, radius: float = 2.0) -> np.ndarray:
    """Centres (modes, 2) of the ring-of-Gaussians benchmark."""
    angles = 2 * np.pi * np.arange(modes) / modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], 1)


def grid_centers(side: int = 5, spacing: float = 2.0) -> np.ndarray:
    """Centres (side², 2) of the grid-of-Gaussians benchmark, centred on 0."""
    axis = (np.arange(side) - (side - 1) / 2) * spacing
    return np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)


def toy_spec(name: str) -> ToySpec:
    """The modes of ``ring8`` or ``grid25`` (used by the metrics and scatter plots)."""
    if name == "ring8":
        return ToySpec(ring_centers(8, 2.0), 0.02)
    if name == "grid25":
        return ToySpec(grid_centers(5, 2.0), 0.05)
    raise KeyError(name)


TOY_SETS = ("ring8", "grid25")


def is_points(name: str) -> bool:
    """Whether data set ``name`` is a 2-D toy set (points, not images)."""
    return name in TOY_SETS


def toy_spec_or_none(name: str) -> ToySpec | None:
    """The modes of data set ``name`` when it is a 2-D toy set, else None."""
    return toy_spec(name) if is_points(name) else None


def mixture(centers: np.ndarray, sigma: float, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n points (n, 2) float32 drawn evenly from N(centre, sigma² I), and their mode (n,)."""
    generator = torch.Generator().manual_seed(seed)
    modes = torch.randint(len(centers), (n,), generator=generator)
    noise = torch.randn(n, 2, generator=generator, dtype=torch.float64) * sigma
    points = torch.from_numpy(np.asarray(centers, np.float64))[modes] + noise
    return points.to(torch.float32), modes


def _load(name: str, train: bool) -> ImageData:
    spec = toy_spec(name)
    points, modes = mixture(spec.centers, spec.sigma, NUM_POINTS, seed=0 if train else 1)
    return ImageData(name=name, samples=points, labels=modes, num_classes=len(spec.centers),
                     kind="points")


@register("ring8", "2-D points: 8 Gaussians on a circle of radius 2, sigma 0.02 (mode "
          "collapse benchmark; no files)")
def load_ring8(root: str = "", train: bool = True, download: bool = False) -> ImageData:
    """100,000 points (N, 2) float32 and their mode labels 0..7."""
    return _load("ring8", train)


@register("grid25", "2-D points: 5x5 grid of Gaussians, spacing 2, sigma 0.05 (mode "
          "collapse benchmark; no files)")
def load_grid25(root: str = "", train: bool = True, download: bool = False) -> ImageData:
    """100,000 points (N, 2) float32 and their mode labels 0..24."""
    return _load("grid25", train)
