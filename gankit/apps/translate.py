"""``gankit translate RUN --input IMAGE|FOLDER --out PATH``: a trained translator on any images.

Every input is brought to the run's image size (bilinear, as the built-in sets bring 8x8
digits to 28x28, so a folder of raw 8x8 digits is translated exactly as the benchmark's
held-out digits are) and to the run's channels: transparency (RGBA, LA, palette or gray
images with a transparent colour) is composited onto white first, as ``gankit data
prepare`` and the folder sets do, then PIL converts colour to luminance (one warning per
call: colour is lost) or gray to RGB (silently: nothing is lost). The output is a PNG per
input, optionally back at the input's own size.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

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


def _read(path: Path, channels: int) -> tuple[torch.Tensor, bool]:
    """One image file as uint8 (C, H, W) with the run's channel count, transparency
    composited onto white, and whether a gray run (``channels`` 1) lost its colour."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from gankit.data.folder import flatten_alpha

    try:
        with Image.open(path) as image:
            lost = channels == 1 and _has_colour(image)
            # a plain convert() drops alpha, showing whatever the transparent pixels hold
            # (usually black); the training sets put transparency on white
            array = np.asarray(flatten_alpha(image).convert("L" if channels == 1 else "RGB"))
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, EOFError) as exc:
        raise UserError(f"cannot read image {path}: {exc}") from None
    tensor = torch.from_numpy(array.copy())
    return (tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1)), lost


def _has_colour(image) -> bool:
    """Whether a PIL image holds colour: by its mode, and for a palette image by the
    palette entries it uses (a gray GIF is a palette image and loses nothing to gray)."""
    from gankit.data.folder import has_colour

    if image.mode not in ("P", "PA"):
        return has_colour(image.mode)
    palette = image.getpalette() or []
    # a PA image counts (index, alpha) pairs, a P image indices
    used = [c if isinstance(c, int) else c[0] for _, c in image.getcolors(256) or []]
    if not used:  # getcolors gives up past 256 colours, which a palette cannot have
        return True
    triples = [palette[3 * i:3 * i + 3] for i in used]
    return any(len(t) == 3 and not t[0] == t[1] == t[2] for t in triples)


def _warn(message: str) -> None:
    """The Python API's warning: the CLI passes its own one-line ``gankit: warning:``."""
    warnings.warn(message, UserWarning, stacklevel=3)


def _write(image_u8: torch.Tensor, path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    array = image_u8.permute(1, 2, 0).numpy()
    Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(path)


def translate_files(run, source: str | Path, out: str | Path, direction: str | None = None, *,
                    keep_size: bool = False, ema: bool = True, progress: bool = False,
                    batch_size: int = 64, warn: Callable[[str], None] | None = None
                    ) -> list[Path]:
    """Translate one image file or every image of a folder (recursively) into PNGs: a file
    to ``out`` (a .png path, or a folder), a folder to ``out``/same relative names. Files
    are read (transparency onto white), translated as uint8 (N, C, H, W) of the run's input
    shape and written ``batch_size`` at a time; ``progress``: a bar of the images on stderr.
    Colour inputs of a gray run are converted to gray with one ``warn`` line per call
    (default: a :class:`UserWarning`); gray inputs of a colour run silently to RGB."""
    from gankit.data.decoding import progress_bar

    require(run.kind, "translate")
    source, out = Path(source), Path(out)
    files = _inputs(source)
    channels, height, width = run.input_shape(direction)
    written, lost = [], 0
    with progress_bar(len(files), "translating", "img", progress) as bar:
        for start in range(0, len(files), batch_size):
            batch = files[start:start + batch_size]
            read = [_read(file, channels) for file in batch]
            originals = [image for image, _ in read]
            lost += sum(lost_colour for _, lost_colour in read)
            inputs = torch.stack([resize_u8(image[None], (height, width))[0]
                                  for image in originals])
            outputs = translate(run, inputs, direction, ema=ema, batch_size=batch_size)
            for file, original, image in zip(batch, originals, outputs):
                if keep_size:
                    image = resize_u8(image[None], tuple(original.shape[-2:]))[0]
                written.append(_write_beside(image, file, source, out))
            bar.update(len(batch))
    if lost:  # after the bar, once: a line per image would bury the bar and the summary
        (warn or _warn)(f"{lost} of {len(files)} input image(s) had colour; this run "
                        f"translates gray images, so they were converted to gray (luminance)")
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


def translate_emoji(run, code_points: list[str], out: str | Path, direction: str | None = None,
                    *, ema: bool = True) -> list[Path]:
    """Translate emoji-styles' own images of ``code_points`` (``1f600``, ``U+1F600`` or the
    emoji itself; training and held-out emoji alike) from the run's input style; writes
    ``out/<code point>.png`` each. A run not trained on emoji-styles, or a code point the
    set lacks, is a UserError."""
    from gankit.data import load_translation
    from gankit.data.emoji_styles import NAME, code_point_of, rows_of

    require(run.kind, "translate")
    d = run.config.data
    if d.name != NAME:
        raise UserError(f"--emoji picks emoji of {NAME}; this run was trained on {d.name}: "
                        f"give --input IMAGE|FOLDER")
    data = load_translation(d.name, image_size=d.image_size, channels=d.channels, root=d.root)
    forward = (direction or run.config.translation.direction) == "AtoB"
    names = data.a_names + data.a_test_names
    images = torch.cat([data.a, data.a_test] if forward else [data.b, data.b_test])
    rows = rows_of(code_points, names)
    outputs = translate(run, images[rows], direction, ema=ema)
    written = []
    for row, image in zip(rows, outputs):
        target = Path(out) / f"{code_point_of(names[row])}.png"
        try:
            _write(image, target)
        except OSError as exc:
            raise UserError(f"cannot write {target}: {exc.strerror or exc}") from None
        written.append(target)
    return written
