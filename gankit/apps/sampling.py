"""Drawing from a trained run to files: grids, PNG folders, npz arrays, a window.

Loading a run and drawing tensors from it live in :mod:`gankit.training.finished_run` (re-exported
here): the evaluation layer needs them too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gankit.data.pictures import save_grid  # noqa: F401  (gankit sample writes grids)
from gankit.errors import UserError
from gankit.training.finished_run import Run, class_labels, generate, load, sample  # noqa: F401


def save_npz(images_u8: torch.Tensor, path: str | Path) -> Path:
    """Save as npz with key ``images``: uint8 (N, H, W, C)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, images=images_u8.permute(0, 2, 3, 1).contiguous().numpy())
    return path


def save_png_folder(images_u8: torch.Tensor, folder: str | Path) -> Path:
    """Save each image as ``folder/000000.png``."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    array = images_u8.permute(0, 2, 3, 1).numpy()
    for i, image in enumerate(array):
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(folder / f"{i:06d}.png")
    return folder


def show(images_u8: torch.Tensor, nrow: int = 4) -> None:
    """The tutorial's display: ``make_grid(nrow=4, normalize=True)`` in a matplotlib window."""
    import matplotlib

    if matplotlib.get_backend().lower() in ("agg", "pdf", "svg", "ps", "cairo"):
        raise UserError("--show needs a display (matplotlib has no interactive backend here); "
                        "use --out grid.png instead")
    import matplotlib.pyplot as plt
    from torchvision.utils import make_grid

    grid = make_grid(images_u8.float() / 255.0, nrow=nrow, normalize=True)
    plt.imshow(grid.permute(1, 2, 0).numpy())
    plt.axis("off")
    plt.show()
