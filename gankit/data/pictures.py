"""Samples written as files: image grids, scatter plots of 2-D points, point arrays.

Training writes sample grids (or, for the 2-D toy sets, scatter plots) as it goes, and
``gankit sample`` writes the same pictures, so they live here, below both.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from gankit.data.toy2d import toy_spec_or_none


def tile(images_u8: torch.Tensor, nrow: int, padding: int = 2) -> torch.Tensor:
    """uint8 (N, C, H, W) -> one uint8 grid (3 or C, H', W') in ``torchvision.utils.make_grid``'s
    layout: ``nrow`` images a row, ``padding`` black pixels around each, one channel repeated
    to three, and a single image returned as it is.

    Written out rather than imported because ``import torchvision`` takes 1-2 s on a 2-core
    CPU (it imports torch's compiler), which a one-step ``gankit train`` should not pay;
    ``tests/data/test_pictures.py`` holds it to ``make_grid`` pixel for pixel.
    """
    if images_u8.dtype != torch.uint8 or images_u8.dim() != 4:
        raise ValueError(f"tile takes uint8 images (N, C, H, W), got {images_u8.dtype} "
                         f"{tuple(images_u8.shape)}")
    if images_u8.shape[1] == 1:
        images_u8 = images_u8.expand(-1, 3, -1, -1)
    n, channels, height, width = images_u8.shape
    if n == 1:
        return images_u8[0].clone()
    columns = min(nrow, n)
    rows = math.ceil(n / columns)
    cell_h, cell_w = height + padding, width + padding
    grid = torch.zeros(channels, rows * cell_h + padding, columns * cell_w + padding,
                       dtype=torch.uint8)
    for k, image in enumerate(images_u8):
        y, x = divmod(k, columns)
        grid[:, y * cell_h + padding:(y + 1) * cell_h, x * cell_w + padding:(x + 1) * cell_w] = image
    return grid


def save_grid(images_u8: torch.Tensor, path: str | Path, nrow: int | None = None) -> Path:
    """Save uint8 (N, C, H, W) images as one grid PNG (:func:`tile`: ``make_grid``'s layout,
    2 px padding; ``nrow`` images a row, by default a near-square grid)."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nrow = nrow or max(1, int(round(len(images_u8) ** 0.5)))
    grid = tile(images_u8.cpu(), nrow)
    Image.fromarray(grid.permute(1, 2, 0).contiguous().numpy()).save(path)
    return path


def save_scatter(points, path: str | Path, data_name: str = "", title: str = "",
                 real=None) -> Path:
    """Scatter plot PNG of points (N, 2), over the true modes of ``data_name`` when known."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    points = np.asarray(points.detach().cpu() if hasattr(points, "detach") else points)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    if real is not None:
        real = np.asarray(real)
        ax.scatter(real[:, 0], real[:, 1], s=2, c="#bbbbbb", lw=0, label="real")
    ax.scatter(points[:, 0], points[:, 1], s=2, c="#1f77b4", lw=0, alpha=0.6, label="generated")
    spec = toy_spec_or_none(data_name)
    if spec is not None:
        ax.scatter(spec.centers[:, 0], spec.centers[:, 1], s=25, marker="x", c="#d62728",
                   label="modes")
        span = np.abs(spec.centers).max() + 1.5
        ax.set_xlim(-span, span)
        ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def save_points_npz(points, path: str | Path) -> Path:
    """Save points (N, D) as npz with key ``points`` (float32)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    array = points.detach().cpu().numpy() if hasattr(points, "detach") else np.asarray(points)
    np.savez_compressed(path, points=array.astype(np.float32))
    return path
