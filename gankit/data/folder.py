"""Any folder of images, searched recursively.

Images in sub-folders get the sub-folder's name as their class (as ``ImageFolder`` does);
a flat folder has no classes. Every image is resized (shorter side) and centre-cropped to
``image_size``; without ``image_size`` all images must share one size. Transparent images
are composited onto white.

The pieces (:func:`image_paths`, :func:`colour_mode`, :func:`decode_image`,
:func:`fit_image`, :func:`stack_images`) also read the translation sets' folders
(:mod:`gankit.data.translation`) and the sources of ``gankit data prepare``
(:mod:`gankit.data.decoding`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from gankit.errors import UserError
from gankit.data.registry import ImageData

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"}


def image_files(folder: Path) -> list[tuple[str, ...]]:
    """The path parts, relative to ``folder``, of every image file below it, sorted (the
    order of ``sorted(folder.rglob(...))``); a missing folder or one without images is a
    UserError.

    ``os.scandir`` reads each directory's entries with their types, so nothing is stat'ed
    and no Path objects are made: 100,000 files are listed in a fraction of the time
    ``rglob`` takes. As ``rglob``, it does not descend into symbolic links to folders and
    skips folders it may not read.
    """
    import os

    if not folder.is_dir():
        raise UserError(f"data folder {folder} is not a folder")
    found: list[tuple[str, ...]] = []
    pending: list[tuple[tuple[str, ...], str]] = [((), str(folder))]
    while pending:
        prefix, directory = pending.pop()
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(((*prefix, entry.name), entry.path))
                    elif os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES and \
                            entry.is_file():
                        found.append((*prefix, entry.name))
        except PermissionError:
            continue
    if not found:
        raise UserError(f"no images (.png, .jpg, ...) found under {folder}")
    found.sort()
    return found


def image_paths(folder: Path) -> list[Path]:
    """Every image file below ``folder``, sorted (:func:`image_files`)."""
    return [folder.joinpath(*parts) for parts in image_files(folder)]


WHITE = (255, 255, 255)
RESIZE_POLICIES = ("center-crop", "pad")
_GRAY_MODES = ("L", "1", "I", "I;16", "F", "LA")


def parse_background(text: str) -> tuple[int, int, int]:
    """``white``, ``black`` or ``#rrggbb`` -> an (r, g, b) colour; anything else is a
    UserError."""
    named = {"white": WHITE, "black": (0, 0, 0)}
    value = text.strip().lower()
    if value in named:
        return named[value]
    digits = value[1:] if value.startswith("#") else ""
    if len(digits) == 6 and all(c in "0123456789abcdef" for c in digits):
        return tuple(int(digits[i:i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]
    raise UserError(f"background must be white, black or #rrggbb, not {text!r}")


def has_colour(mode: str) -> bool:
    """Whether a PIL image mode can hold colour (palette images count as colour)."""
    return mode not in _GRAY_MODES


def colour_mode(paths: Sequence[Path]) -> str:
    """"RGB" if any of the images has colour, otherwise "L" (grayscale)."""
    from PIL import Image

    def is_colour(path: Path) -> bool:
        try:
            with Image.open(path) as image:
                return has_colour(image.mode)
        except Exception:
            return False  # unreadable files are reported by decode_image with their name

    return "RGB" if any(is_colour(p) for p in paths) else "L"


def flatten_alpha(image, background: tuple[int, int, int] = WHITE):
    """A PIL image with transparency composited onto ``background`` (RGBA); others as they
    are. Dropping alpha instead would show whatever colour the transparent pixels happen to
    hold (often black)."""
    from PIL import Image

    transparent = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or \
        "transparency" in image.info
    if not transparent:
        return image
    rgba = image.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, (*background, 255)), rgba)


def decode_image(source: Path | str | bytes, mode: str, background: tuple[int, int, int] = WHITE,
                 name: str | None = None):
    """The image in ``source`` (a path, or a file's bytes, e.g. an archive member called
    ``name``) decoded, alpha composited onto ``background``, converted to ``mode`` (a PIL
    image); an unreadable file is a UserError naming it."""
    import io

    from PIL import Image, UnidentifiedImageError

    where = name or ("<bytes>" if isinstance(source, bytes) else str(source))
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            return flatten_alpha(image, background).convert(mode)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise UserError(f"cannot read image {where}: {exc}") from None


def fit_image(image, image_size: int, resize: str = "center-crop",
              background: tuple[int, int, int] = WHITE) -> np.ndarray:
    """A PIL image brought to ``image_size`` x ``image_size`` (0: as it is), as uint8
    (C, H, W).

    ``center-crop``: the shorter side resized to ``image_size``, the middle cut out (no
    borders, loses the ends of the longer side). ``pad``: the longer side resized to
    ``image_size``, the rest filled with ``background`` (keeps the whole picture)."""
    from PIL import Image

    if image.size == (image_size, image_size):
        image_size = 0  # already there: both policies would give the same pixels back
    if image_size and resize == "pad":
        scale = image_size / max(image.size)
        new_size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        fill = Image.new("RGB", (1, 1), background).convert(image.mode).getpixel((0, 0))
        canvas = Image.new(image.mode, (image_size, image_size), fill)
        canvas.paste(image.resize(new_size, Image.Resampling.BICUBIC),
                     ((image_size - new_size[0]) // 2, (image_size - new_size[1]) // 2))
        image = canvas
    elif image_size:
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
    classes, labels = classes_of([p.relative_to(folder).parts for p in paths])
    return ImageData(name=folder.name, samples=images,
                     labels=torch.from_numpy(labels) if labels is not None else None,
                     num_classes=len(classes), class_names=tuple(classes))


def classes_of(parts: Sequence[tuple[str, ...]]) -> tuple[list[str], np.ndarray | None]:
    """(class names, labels int64 (N,)) of N files by their relative paths' parts: when
    every file lies in a sub-folder, the first sub-folder is its class (sorted names, as
    ``ImageFolder``); otherwise ([], None)."""
    if not parts or not all(len(p) > 1 for p in parts):
        return [], None
    classes = sorted({p[0] for p in parts})
    index = {name: i for i, name in enumerate(classes)}
    return classes, np.array([index[p[0]] for p in parts], dtype=np.int64)
