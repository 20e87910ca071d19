"""Image files in and out for the applications that work image by image (inpainting,
projection): one file or a folder of them, at the run's size, and a PNG per result.

Inputs must already have the run's size (these applications compare pixels; a resized input
would be another image), and are converted to the run's channels (colour to luminance, grey
to RGB). Every mistake is one :class:`~gankit.errors.UserError` line naming the file.
"""

from __future__ import annotations

from pathlib import Path

import torch

from gankit.errors import UserError


def read_image(path: str | Path, image_shape: tuple[int, int, int]) -> torch.Tensor:
    """A PNG/JPEG as uint8 (C, H, W) with the run's channels; its size must be the run's."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise UserError(f"image not found: {path}")
    c, h, w = image_shape
    try:
        with Image.open(path) as image:
            image = image.convert("L" if c == 1 else "RGB")
            import numpy as np

            array = np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UserError(f"cannot read image {path}: {exc}") from None
    tensor = torch.from_numpy(array.copy())
    tensor = tensor[None] if tensor.dim() == 2 else tensor.permute(2, 0, 1)
    if tuple(tensor.shape[1:]) != (h, w):
        raise UserError(f"{path} is {tensor.shape[2]}x{tensor.shape[1]} pixels but the run makes "
                        f"{w}x{h} images; resize it first")
    return tensor


def input_files(source: str | Path, flag: str = "--input") -> tuple[list[Path], list[str]]:
    """(the image files, their names) of ``source``: one file (its name), or every image
    below a folder, sorted, named by their paths relative to it (``7/00012.png``)."""
    from gankit.data.folder import image_paths

    source = Path(source)
    if source.is_file():
        return [source], [source.name]
    if not source.is_dir():
        raise UserError(f"{flag} not found: {source}")
    files = image_paths(source)
    return files, [f.relative_to(source).as_posix() for f in files]


def read_images(files: list[Path], image_shape: tuple[int, int, int]) -> torch.Tensor:
    """uint8 (N, C, H, W) of ``files``, each at the run's size (:func:`read_image`)."""
    return torch.stack([read_image(f, image_shape) for f in files])


def png_names(names: list[str]) -> list[str]:
    """The PNG each input name is written to (its suffix made .png); two inputs that would
    write the same file (``a.jpg`` and ``a.png``) are a UserError."""
    out = [str(Path(name).with_suffix(".png").as_posix()) for name in names]
    seen: dict[str, str] = {}
    for name, png in zip(names, out):
        if png in seen:
            raise UserError(f"{seen[png]} and {name} would both be written to {png}; rename "
                            f"one of them")
        seen[png] = name
    return out


def write_png(image_u8: torch.Tensor, path: str | Path) -> Path:
    """Write uint8 (C, H, W) as a PNG (folders made as needed); returns the path."""
    from PIL import Image

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        array = image_u8.permute(1, 2, 0).numpy()
        Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(path)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
