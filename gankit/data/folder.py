"""Any folder of images, searched recursively.

Images in sub-folders get the sub-folder's name as their class (as ``ImageFolder`` does);
a flat folder has no classes. Every image is resized (shorter side) and centre-cropped to
``image_size``; without ``image_size`` all images must share one size.

The pieces (:func:`image_paths`, :func:`colour_mode`, :func:`decode_image`,
:func:`fit_image`, :func:`stack_images`) also read the translation sets' folders
(:mod:`gankit.data.translation`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from gankit.errors import UserError
from gankit.data.registry import ImageData

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"}


def image_paths(folder: Path) -> list[Path]:
    """Every image file below ``folder``, sorted; a missing folder or one without images is
    a UserError."""
    if not folder.is_dir():
        raise UserError(f"data folder {folder} is not a folder")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                   and p.is_file())
    if not paths:
        raise UserError(f"no images (.png, .jpg, ...) found under {folder}")
    return paths


def colour_mode(paths: Sequence[Path]) -> str:
    """"RGB" if any of the images has colour, otherwise "L" (grayscale)."""
    from PIL import Image

    def is_colour(path: Path) -> bool:
        try:
            with Image.open(path) as image:
                return image.mode not in ("L", "1", "I", "I;16", "F", "LA")
        except Exception:
            return False  # unreadable files are reported by decode_image with their name

    return "RGB" if any(is_colour(p) for p in paths) else "L"


def decode_image(path: Path, mode: str):
    """The image at ``path`` decoded and converted to ``mode`` (a PIL image); an unreadable
    file is a UserError naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.convert(mode)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UserError(f"cannot read image {path}: {exc}") from None


def fit_image(image, image_size: int) -> np.ndarray:
    """A PIL image resized (shorter side) and centre-cropped to ``image_size`` (0: as it is),
    as uint8 (C, H, W)."""
    from PIL import Image

    if image_size:
        scale = image_size / min(image.size)
        new_size = (max(image_size, round(image.width * scale)),
                    max(image_size, round(image.height * scale)))
        image = image.resize(new_size, Image.Resampling.BICUBIC)
        left = (image.width - image_size) // 2
        top = (image.height - image_size) // 2
        image = image.crop((left, top, left + image_size, top + image_size))
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def stack_images(arrays: Sequence[np.ndarray], folder: Path) -> torch.Tensor:
    """uint8 (C, H, W) arrays as one (N, C, H, W) tensor; different sizes are a UserError
    (the images under ``folder`` need ``image_size``)."""
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        sizes = ", ".join(f"{s[2]}x{s[1]}" for s in sorted(shapes)[:4])
        raise UserError(f"images under {folder} have different sizes ({sizes}); "
                        f"give --image-size to resize them all")
    return torch.from_numpy(np.stack(arrays))


def load_folder(folder: Path, image_size: int = 0) -> ImageData:
    """Read every image under ``folder``: images (N, C, S, S) uint8, labels by sub-folder.

    Channels follow the images: RGB if any image has colour, otherwise grayscale
    (``data.channels`` converts afterwards).
    """
    paths = image_paths(folder)
    mode = colour_mode(paths)
    images = stack_images([fit_image(decode_image(p, mode), image_size) for p in paths],
                          folder)
    classes = sorted({p.relative_to(folder).parts[0] for p in paths
                      if len(p.relative_to(folder).parts) > 1})
    labels = None
    if classes and all(len(p.relative_to(folder).parts) > 1 for p in paths):
        index = {name: i for i, name in enumerate(classes)}
        labels = torch.tensor([index[p.relative_to(folder).parts[0]] for p in paths])
    return ImageData(name=folder.name, samples=images, labels=labels,
                     num_classes=len(classes) if labels is not None else 0)
