"""Prepared data sets: images decoded once into a plain array that opens in milliseconds.

A prepared data set is a directory that anyone can read without gankit::

    images.npy     uint8 (N, C, H, W) in numpy's .npy format: np.load(p, mmap_mode="r")
    labels.npy     int64 (N,), only when the set has classes
    manifest.json  format and version, source, count, shape, channels, class names, resize
                   policy, background, sha256 / size / mtime of images.npy, the gankit
                   version that wrote it, the files skipped as unreadable

:class:`PreparedWriter` writes one atomically: into a hidden sibling directory that is
renamed into place only when everything is written, so an error or Ctrl-C leaves nothing
half-written. :func:`open_prepared` memory-maps ``images.npy`` (no copy: opening takes the
same few milliseconds for 5,000 or 5 million images). Every open checks the array's shape
and size against the manifest; hashing gigabytes on every open would cost seconds, so the
full sha256 check runs when the set is written, in ``gankit data verify``, and on open only
when the file's size or modification time is not the one the manifest recorded (the file
was changed, or copied without its times).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from gankit import __version__
from gankit.data.registry import ImageData
from gankit.errors import UserError

FORMAT = "gankit-prepared"
FORMAT_VERSION = 1
MANIFEST, IMAGES, LABELS = "manifest.json", "images.npy", "labels.npy"
VERIFY_MODES = ("auto", "full", "quick")


def is_prepared(path: str | Path) -> bool:
    """Whether ``path`` is a directory holding a prepared data set's manifest."""
    return (Path(path).expanduser() / MANIFEST).is_file()


def file_sha256(path: Path, chunk_bytes: int = 16 * 2 ** 20) -> str:
    """Hex sha256 of a file, read in chunks (constant memory for any size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def _write_json(path: Path, tree: dict[str, Any]) -> None:
    """Write JSON through a temporary file and a rename (never a half-written file)."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(tree, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)


def _shrink_npy(path: Path, count: int) -> None:
    """Cut a (N, ...) .npy file to its first ``count`` rows in place: the header is
    rewritten at its old length (padded with spaces, as the format allows) and the file
    truncated, so nothing is copied."""
    with open(path, "r+b") as handle:
        version = np.lib.format.read_magic(handle)
        assert version == (1, 0), version  # open_memmap writes 1.0 for these small headers
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        offset = handle.tell()
        header = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": fortran,
                       "shape": (count, *shape[1:])})
        room = offset - 10  # magic (6) + version (2) + header length (2)
        handle.seek(10)
        handle.write((header.ljust(room - 1) + "\n").encode("latin1"))
        handle.truncate(offset + count * int(np.prod(shape[1:], dtype=np.int64)) *
                        dtype.itemsize)


@dataclass
class PreparedSet:
    """An opened prepared data set.

    images: uint8 (N, C, H, W), memory-mapped copy-on-write (reading it costs no memory of
    the process's own; writing to it never reaches the file).
    labels: int64 (N,) in memory, or None when the set has no classes.
    """

    path: Path
    images: np.ndarray
    labels: np.ndarray | None
    manifest: dict[str, Any]

    @property
    def classes(self) -> list[str]:
        return list(self.manifest.get("classes") or [])

    def to_image_data(self) -> ImageData:
        """The set as :class:`ImageData` whose ``samples`` view the memory map (no copy)."""
        labels = torch.from_numpy(self.labels) if self.labels is not None else None
        return ImageData(name=str(self.manifest.get("name") or self.path.name),
                         samples=torch.from_numpy(self.images), labels=labels,
                         num_classes=len(self.classes) if labels is not None else 0,
                         mapped=True, class_names=tuple(self.classes))


class RowHasher:
    """The sha256 of an ``.npy`` file whose rows are written in any order (by several
    processes): its header, then each row as soon as every row before it is written.

    Hashing a prepared set of gigabytes after writing it took as long as a tenth of the
    decoding; done here, it runs in the decoding's main process, which otherwise only
    waits. ``images``: the writer's uint8 (N, C, H, W) memory map (rows written through
    any mapping of the same file are seen here: they share the page cache).
    """

    def __init__(self, images: np.memmap):
        self.images = images
        self.written = np.zeros(len(images), bool)
        self.next = 0  # rows before this one are hashed
        self.digest = hashlib.sha256()
        with open(images.filename, "rb") as handle:
            self.digest.update(handle.read(images.offset))

    def add(self, rows: Sequence[int]) -> None:
        """Note ``rows`` as written; hash the rows now complete from the start."""
        self.written[list(rows)] = True
        rest = self.written[self.next:]
        stop = self.next + (len(rest) if rest.all() else int(rest.argmin()))
        for start in range(self.next, stop, 4096):  # bounded blocks of the map
            self.digest.update(memoryview(self.images[start:min(stop, start + 4096)]))
        self.next = stop

    def hexdigest(self) -> str | None:
        """The file's sha256 once every row is hashed, else None."""
        return self.digest.hexdigest() if self.next == len(self.written) else None


class PreparedWriter:
    """Writes one prepared data set of ``count`` images of ``shape`` (C, H, W) to ``out``.

    Use as a context manager: fill ``writer.images`` (a uint8 (count, C, H, W) memory map
    of the file being written), then call :meth:`finish`. Leaving the block without
    :meth:`finish` (an error, Ctrl-C) removes everything written so far.
    """

    def __init__(self, out: str | Path, count: int, shape: Sequence[int]):
        self.out = Path(out).expanduser()
        self.count, self.shape = int(count), tuple(int(s) for s in shape)
        self.partial = self.out.parent / f".{self.out.name}.partial-{os.getpid()}"
        self.images: np.ndarray | None = None
        self.done = False

    def __enter__(self) -> "PreparedWriter":
        if self.out.exists():
            raise UserError(f"{self.out} already exists; remove it or choose another --out")
        if self.count < 1:
            raise UserError(f"no images to write to {self.out}")
        try:
            self.partial.mkdir(parents=True)
            self.images = np.lib.format.open_memmap(self.partial / IMAGES, mode="w+",
                                                    dtype=np.uint8,
                                                    shape=(self.count, *self.shape))
        except OSError as exc:
            shutil.rmtree(self.partial, ignore_errors=True)
            raise UserError(f"cannot write {self.out}: {exc.strerror or exc}") from None
        return self

    def __exit__(self, *exc) -> None:
        self.images = None
        if not self.done:
            shutil.rmtree(self.partial, ignore_errors=True)

    def finish(self, labels: np.ndarray | None = None, classes: Sequence[str] = (),
               keep: np.ndarray | None = None, hasher: RowHasher | None = None,
               **fields: Any) -> dict[str, Any]:
        """Complete the set and move it into place; returns its manifest.

        labels: int (count,) or None; classes: their names; keep: bool (count,), the rows
        to keep (the others, unreadable files, are dropped and the array shortened);
        hasher: the images' sha256 taken while they were written (used when no row was
        dropped; otherwise the file is hashed here); fields: more manifest entries (source,
        resize policy, skipped files, ...).
        """
        assert self.images is not None, "finish() inside the with block"
        rows = np.arange(self.count) if keep is None else np.flatnonzero(keep)
        if len(rows) == 0:
            raise UserError(f"no readable images to write to {self.out}")
        for target, row in enumerate(rows):  # close the gaps of dropped rows, in order
            if target != row:
                self.images[target] = self.images[row]
        self.images.flush()
        self.images = None  # unmap before the file is cut and hashed
        images_path = self.partial / IMAGES
        if len(rows) < self.count:
            _shrink_npy(images_path, len(rows))
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                    "name": self.out.name, "count": int(len(rows)), "shape": list(self.shape),
                    "channels": self.shape[0], "dtype": "uint8",
                    "classes": list(classes) if labels is not None else [],
                    **fields, "created_by": f"gankit {__version__}",
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        if labels is not None:
            labels = np.ascontiguousarray(np.asarray(labels)[rows], dtype=np.int64)
            np.save(self.partial / LABELS, labels)
            manifest["labels_sha256"] = file_sha256(self.partial / LABELS)
        stat = images_path.stat()
        known = hasher.hexdigest() if hasher is not None and len(rows) == self.count else None
        manifest.update(images_sha256=known or file_sha256(images_path),
                        images_bytes=stat.st_size,
                        images_mtime_ns=stat.st_mtime_ns)
        _write_json(self.partial / MANIFEST, manifest)
        try:
            os.rename(self.partial, self.out)  # the set appears whole, or not at all
        except OSError as exc:  # e.g. another process wrote the same set meanwhile
            raise UserError(f"cannot move the prepared set into {self.out}: "
                            f"{exc.strerror or exc}") from None
        self.done = True
        return manifest


def _read_manifest(path: Path) -> dict[str, Any]:
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise UserError(f"{path} is not a prepared data set: {MANIFEST} is missing")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {manifest_path}: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UserError(f"{manifest_path} is not a gankit prepared data set's manifest")
    if not isinstance(manifest.get("format_version"), int) or \
            manifest["format_version"] > FORMAT_VERSION:
        raise UserError(f"{manifest_path} has format version {manifest.get('format_version')}; "
                        f"this gankit reads up to {FORMAT_VERSION}: upgrade gankit")
    missing = [k for k in ("count", "shape", "images_sha256", "images_bytes") if k not in manifest]
    if missing:
        raise UserError(f"{manifest_path} lacks {', '.join(missing)}; prepare the set again")
    return manifest


def check_images(path: Path, manifest: dict[str, Any], verify: str = "auto") -> None:
    """Check ``path/images.npy`` against ``manifest``: its size always; its sha256 with
    ``verify="full"``, or with ``"auto"`` when its size or mtime is not the recorded one
    (then a match records the new mtime, so the next open is quick again)."""
    images = path / IMAGES
    if not images.is_file():
        raise UserError(f"{images} is missing; prepare the set again")
    stat = images.stat()
    again = "it was changed after `gankit data prepare`: prepare the set again"
    if stat.st_size != manifest["images_bytes"]:
        raise UserError(f"{images} is {stat.st_size} bytes but its manifest says "
                        f"{manifest['images_bytes']}; {again}")
    moved = stat.st_mtime_ns != manifest.get("images_mtime_ns")
    if verify == "full" or (verify == "auto" and moved):
        actual = file_sha256(images)
        if actual != manifest["images_sha256"]:
            raise UserError(f"{images} does not match its manifest (sha256 {actual[:16]}..., "
                            f"manifest {str(manifest['images_sha256'])[:16]}...); {again}")
        if moved:
            try:  # a copy or a touch, same bytes: remember the new time
                _write_json(path / MANIFEST, {**manifest, "images_mtime_ns": stat.st_mtime_ns})
            except OSError:
                pass  # a read-only copy is checked in full on every open; still correct


def _open_labels(path: Path, manifest: dict[str, Any], count: int) -> np.ndarray | None:
    classes = manifest.get("classes") or []
    if not classes:
        return None
    labels_path = path / LABELS
    try:
        if file_sha256(labels_path) != manifest.get("labels_sha256"):
            raise UserError(f"{labels_path} does not match its manifest; prepare the set again")
        labels = np.load(labels_path)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {labels_path}: {exc}") from None
    if labels.shape != (count,) or labels.dtype != np.int64 or \
            (count and (labels.min() < 0 or labels.max() >= len(classes))):
        raise UserError(f"{labels_path} does not hold {count} class numbers below "
                        f"{len(classes)}; prepare the set again")
    return labels


def open_prepared(path: str | Path, verify: str = "auto") -> PreparedSet:
    """Open the prepared data set in ``path`` (memory-mapped; see the module's notes).

    verify: "auto" (size always, sha256 when the file's size or mtime changed), "full"
    (sha256 always: reads the whole array) or "quick" (size only). Anything wrong is a
    one-line :class:`UserError`.
    """
    assert verify in VERIFY_MODES, verify
    path = Path(path).expanduser()
    manifest = _read_manifest(path)
    check_images(path, manifest, verify)
    try:
        images = np.load(path / IMAGES, mmap_mode="c")
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {path / IMAGES}: {exc}") from None
    count, shape = int(manifest["count"]), tuple(manifest["shape"])
    if images.dtype != np.uint8 or images.shape != (count, *shape):
        raise UserError(f"{path / IMAGES} holds {images.dtype} {images.shape}, its manifest "
                        f"says uint8 {(count, *shape)}; prepare the set again")
    return PreparedSet(path, images, _open_labels(path, manifest, count), manifest)
