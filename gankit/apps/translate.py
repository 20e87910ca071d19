"""``gankit translate RUN --input IMAGE|FOLDER --out PATH``: a trained translator on any images.

Every input is brought to the run's image size (bilinear, as the built-in sets bring 8x8
digits to 28x28, so a folder of raw 8x8 digits is translated exactly as the benchmark's
held-out digits are) and to the run's channels (PIL's conversion: colour to luminance or
grey to RGB); the output is a PNG per input, optionally back at the input's own size.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from gankit.config.kinds import require
from gankit.errors import UserError

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def resize_u8(images_u8: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 (N, C, H, W) -> uint8 (N, C, *size): bilinear (antialiased when shrinking),
    rounded; the identity when the size already fits."""
    if tuple(images_u8.shape[-2:]) == tuple(size):
        return images_u8
    shrink = size[0] < images_u8.shape[-2] or size[1] < images_u8.shape[-1]
    out = F.interpolate(images_u8.float(), size=size, mode="bilinear", align_corners=False,
                        antialias=shrink)
    return out.round().clamp(0, 255).to(torch.uint8)


def translate(run, images_u8: torch.Tensor, direction: str | None = None, ema: bool = True,
              batch_size: int = 64) -> torch.Tensor:
    """Translate uint8 images (N, C, H, W) of the run's input size and channels with the
    generator for ``direction`` (default: the run's); returns uint8 (N, C_out, H, W). A
    run whose kind does not serve ``gankit translate`` is a UserError."""
    require(run.kind, "translate")
    return run.translate(images_u8, direction, ema=ema, batch_size=batch_size)


def _inputs(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise UserError(f"--input not found: {path}")
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
    if not files:
        raise UserError(f"no images in {path} ({', '.join(SUFFIXES)})")
    return files


def _read(path: Path, channels: int) -> torch.Tensor:
    """One image file as uint8 (C, H, W) with the run's channel count."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert("L" if channels == 1 else "RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise UserError(f"cannot read image {path}: {exc}") from None
    tensor = torch.from_numpy(array.copy())
    return tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1)


def _write(image_u8: torch.Tensor, path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    array = image_u8.permute(1, 2, 0).numpy()
    Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(path)


def translate_files(run, source: str | Path, out: str | Path, direction: str | None = None, *,
                    keep_size: bool = False, ema: bool = True, progress: bool = False,
                    batch_size: int = 64) -> list[Path]:
    """Translate one image file or every image of a folder (recursively) into PNGs: a file
    to ``out`` (a .png path, or a folder), a folder to ``out``/same relative names. Files
    are read, translated and written ``batch_size`` at a time; ``progress``: a bar of the
    images on stderr."""
    from gankit.data.decoding import progress_bar

    require(run.kind, "translate")
    source, out = Path(source), Path(out)
    files = _inputs(source)
    channels, height, width = run.input_shape(direction)
    written = []
    with progress_bar(len(files), "translating", "img", progress) as bar:
        for start in range(0, len(files), batch_size):
            batch = files[start:start + batch_size]
            originals = [_read(f, channels) for f in batch]
            inputs = torch.stack([resize_u8(image[None], (height, width))[0]
                                  for image in originals])
            outputs = translate(run, inputs, direction, ema=ema, batch_size=batch_size)
            for file, original, image in zip(batch, originals, outputs):
                if keep_size:
                    image = resize_u8(image[None], tuple(original.shape[-2:]))[0]
                written.append(_write_beside(image, file, source, out))
            bar.update(len(batch))
    return written


def _write_beside(image_u8: torch.Tensor, file: Path, source: Path, out: Path) -> Path:
    """Write the translation of ``file`` (from the file or folder ``source``) under ``out``
    and return where it went."""
    if source.is_file():
        target = out if out.suffix.lower() == ".png" else out / f"{file.stem}.png"
    else:
        target = (out / file.relative_to(source)).with_suffix(".png")
    try:
        _write(image_u8, target)
    except OSError as exc:
        raise UserError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target
