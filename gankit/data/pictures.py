"""Samples written as files: image grids, scatter plots of 2-D points, point arrays.

Training writes sample grids (or, for the 2-D toy sets, scatter plots) as it goes, and
``gankit sample`` writes the same pictures, so they live here, below both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gankit.data.toy2d import toy_spec_or_none


def save_grid(images_u8: torch.Tensor, path: str | Path, nrow: int | None = None) -> Path:
    """Save uint8 (N, C, H, W) images as one grid PNG (``make_grid`` layout, 2 px padding)."""
    from torchvision.utils import save_image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nrow = nrow or max(1, int(round(len(images_u8) ** 0.5)))
    save_image(images_u8.float() / 255.0, path, nrow=nrow, normalize=True, value_range=(0, 1))
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
