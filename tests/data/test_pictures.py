"""Sample grids: gankit's own tiling matches torchvision's make_grid/save_image exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.data.pictures import save_grid, tile


@pytest.mark.parametrize("n, channels, size, nrow", [
    (1, 1, 28, 1), (16, 1, 28, 4), (10, 1, 28, 4), (64, 1, 28, 8), (3, 3, 64, 3),
    (7, 3, 32, 8),
])
def test_save_grid_writes_what_torchvision_save_image_writes(tmp_path, n, channels, size, nrow):
    from torchvision.utils import save_image

    images = torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(n))
    ours = np.asarray(Image.open(save_grid(images, tmp_path / "ours.png", nrow=nrow)))
    save_image(images.float() / 255.0, tmp_path / "theirs.png", nrow=nrow, normalize=True,
               value_range=(0, 1))
    theirs = np.asarray(Image.open(tmp_path / "theirs.png"))
    assert ours.shape == theirs.shape and ours.dtype == np.uint8
    assert np.array_equal(ours, theirs)


def test_tile_layout_and_errors():
    images = torch.full((5, 1, 4, 6), 200, dtype=torch.uint8)
    grid = tile(images, nrow=2, padding=2)
    # 2 columns of (6 + 2) + 2 px, 3 rows of (4 + 2) + 2 px; gray repeated to RGB
    assert grid.shape == (3, 3 * 6 + 2, 2 * 8 + 2)
    assert grid[:, 2:6, 2:8].eq(200).all() and grid[:, :2].eq(0).all()
    assert grid[:, 14:18, 10:16].eq(0).all()  # the sixth cell is empty
    with pytest.raises(ValueError, match="uint8 images"):
        tile(images.float(), nrow=2)
