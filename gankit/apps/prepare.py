"""``gankit data prepare`` and ``gankit data verify``: turn a folder, an archive or a named
data set into a prepared data set (:mod:`gankit.data.prepared`), and check one.

A folder or archive is read in two passes over its files, both on all cores: the headers
(sizes and colour, unless ``--image-size`` and ``--channels`` make them unnecessary), then
the pixels, decoded straight into the memory-mapped array being written. A registered set
(``mnist5k``, the torchvision sets, the emoji sets) is loaded as training loads it and
written as it is. Everything is checked before anything is written; an error or Ctrl-C
while writing leaves nothing behind.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np

from gankit.data import DATASETS, is_points_shape, load_dataset
from gankit.data.decoding import (CHUNK, PATH_CHUNK, DecodeSpec, decode_into,
                                  default_workers, scan)
from gankit.data.folder import RESIZE_POLICIES, parse_background
from gankit.data.prepared import PreparedWriter, RowHasher, is_prepared, open_prepared
from gankit.data.sources import ImageSource, open_source
from gankit.errors import UserError


def _common_size(source: ImageSource, found: list) -> tuple[int, int]:
    """(height, width) shared by every readable image; two that differ are a UserError
    naming both."""
    first = None
    for index, (size, _, error) in enumerate(found):
        if error:
            continue
        if first is None:
            first = (index, size)
        elif size != first[1]:
            (w0, h0), (w1, h1) = first[1], size
            raise UserError(f"images in {source.location} differ in size: "
                            f"{source.names[first[0]]} is {w0}x{h0}, {source.names[index]} "
                            f"is {w1}x{h1}; give --image-size N to resize them all")
    if first is None:
        raise UserError(f"no readable images in {source.location}")
    return first[1][1], first[1][0]


def _first_error(found: list, skip_bad: bool) -> None:
    errors = [error for _, _, error in found if error]
    if errors and not skip_bad:
        from gankit.data.decoding import SKIP_HINT

        raise UserError(errors[0] + SKIP_HINT)


def _prepare_files(source: ImageSource, out: Path, *, image_size: int, resize: str,
                   background: tuple[int, int, int], channels: int, workers: int,
                   skip_bad: bool, progress: bool) -> dict[str, Any]:
    """Decode the files of ``source`` into the prepared set ``out``; returns its manifest."""
    height = width = image_size
    colour = channels == 3
    if not image_size or not channels:  # the headers say what the options do not
        found = scan(source.jobs(), len(source), workers, progress)
        _first_error(found, skip_bad)
        if not image_size:
            height, width = _common_size(source, found)
        if not channels:
            colour = any(has for _, has, error in found if not error)
    spec = DecodeSpec("RGB" if colour else "L", image_size, resize, background)
    classes, labels = source.classes()
    with PreparedWriter(out, len(source), (3 if colour else 1, height, width)) as writer:
        hasher = RowHasher(writer.images)
        bad = decode_into(writer.images, source.jobs(), spec, workers, skip_bad=skip_bad,
                          progress=progress,
                          chunk=PATH_CHUNK if source.kind == "folder" else CHUNK,
                          written=hasher.add)
        keep = np.ones(len(source), bool)
        keep[list(bad)] = False
        return writer.finish(labels, classes, keep=keep if bad else None, hasher=hasher,
                             source=source.describe(), image_size=image_size, resize=resize,
                             background="#%02x%02x%02x" % background,
                             skipped=[{"name": source.names[i], "reason": bad[i]}
                                      for i in sorted(bad)])


def _prepare_registered(name: str, out: Path, image_size: int, channels: int,
                        root: str) -> dict[str, Any]:
    """Write the registered data set ``name`` as training would load it."""
    data = load_dataset(SimpleNamespace(name=name, root=root, image_size=image_size,
                                        channels=channels, download=True))
    if is_points_shape(data.shape):
        raise UserError(f"{name} holds 2-D points, not images: there is nothing to prepare")
    classes = list(data.class_names) or [str(i) for i in range(data.num_classes)]
    with PreparedWriter(out, len(data.samples), data.shape) as writer:
        for start in range(0, len(data.samples), 4096):  # bounded memory for big sets
            writer.images[start:start + 4096] = data.samples[start:start + 4096].numpy()
        labels = data.labels.numpy() if data.labels is not None else None
        return writer.finish(labels, classes, source={"kind": "registered", "name": name},
                             image_size=image_size,
                             resize="bilinear" if image_size else "none",
                             background="", skipped=[])


def prepare(source: str | Path, out: str | Path, *, image_size: int = 0,
            resize: str = "center-crop", background: str = "white", channels: int = 0,
            workers: int = 0, skip_bad: bool = False, progress: bool = True,
            root: str = "data", echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Prepare ``source`` (a folder, a zip or tar archive, or a registered data set name)
    into ``out``; returns the manifest (also ``out/manifest.json``).

    image_size: S (images become S x S by ``resize``: "center-crop" or "pad"), 0 keeps
    their size (which must then be the same for all); background: "white", "black" or
    "#rrggbb", behind transparent pixels and padding; channels: 1, 3, or 0 for grayscale
    when no image has colour; workers: processes decoding (0: all cores); skip_bad: list
    unreadable files in the manifest and go on, instead of stopping at the first.
    """
    out = Path(out).expanduser()
    if out.exists():
        raise UserError(f"{out} already exists; remove it or choose another --out")
    if resize not in RESIZE_POLICIES:
        raise UserError(f"--resize must be {' or '.join(RESIZE_POLICIES)}, not {resize!r}")
    if channels not in (0, 1, 3):
        raise UserError(f"--channels must be 0 (auto), 1 or 3, not {channels}")
    colour = parse_background(background)
    workers = workers or default_workers()
    started = time.perf_counter()
    path = Path(source).expanduser()
    if path.exists():
        if is_prepared(path):
            raise UserError(f"{path} is already a prepared data set (train on it with "
                            f"--data {path})")
        files = open_source(path)
        manifest = _prepare_files(files, out, image_size=image_size, resize=resize,
                                  background=colour, channels=channels, workers=workers,
                                  skip_bad=skip_bad, progress=progress)
    elif str(source) in DATASETS:
        manifest = _prepare_registered(str(source), out, image_size, channels, root)
    else:
        raise UserError(f"{source} is not a folder, a .zip or tar archive, or a data set "
                        f"name (gankit list datasets)")
    open_prepared(out, verify="quick")  # what was written opens as training will open it
    _summary(manifest, source, out, time.perf_counter() - started, workers, echo)
    return manifest


def _summary(manifest: dict[str, Any], source, out: Path, seconds: float, workers: int,
             echo: Callable[[str], None]) -> None:
    count, (c, h, w) = manifest["count"], manifest["shape"]
    classes = f", {len(manifest['classes'])} classes" if manifest["classes"] else ""
    echo(f"prepared {count:,} images ({c}x{h}x{w}{classes}) from {source} into {out} in "
         f"{seconds:.1f} s ({count / max(seconds, 1e-9):,.0f} images/s, {workers} workers); "
         f"train with --data {out}")
    if manifest.get("skipped"):
        echo(f"skipped {len(manifest['skipped'])} unreadable files, listed in "
             f"{out / 'manifest.json'} (first: {manifest['skipped'][0]['name']})")


def verify(path: str | Path) -> dict[str, Any]:
    """Check a prepared set in full (the sha256 of its whole array); returns its manifest.
    A mismatch is a UserError."""
    return open_prepared(path, verify="full").manifest
