"""Decoding many image files on all cores, for ``gankit data prepare`` and the emoji sets.

Jobs ``(index, payload, name)`` (:mod:`gankit.data.sources`) go to worker processes in
chunks; each worker decodes with PIL (:func:`~gankit.data.folder.decode_image`,
:func:`~gankit.data.folder.fit_image`) and writes each image at its index of the output
array, so the result is the same whatever the number of workers or the order in which
chunks finish. When the output is a memory-mapped file (``gankit data prepare``), workers
open the same file and write their rows into it themselves: the pixels never travel back
through a pipe, which on 2 cores cost as much as decoding them (the main process
unpickling and copying every image competed with both workers). Otherwise they send the
arrays back and this process writes them. At most two chunks per worker are in flight: an
archive is never read into memory far ahead of its decoding.

:func:`progress_bar` is the progress bar of this and of all of gankit's long work (training,
inpainting, translation, extractor training): one place decides when bars show.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from itertools import islice
from typing import Callable, Iterable, Iterator

import numpy as np

from gankit.data.folder import WHITE, decode_image, fit_image, has_colour
from gankit.errors import UserError

CHUNK = 32  # images per task: large enough to amortise the messages, small for balance
PATH_CHUNK = 256  # for file paths: no payload held in memory, fewer messages matter more
SKIP_HINT = " (--skip-bad skips unreadable files and lists them in the manifest)"


@dataclass(frozen=True)
class DecodeSpec:
    """How every image is decoded: PIL ``mode`` ("L" or "RGB"), ``image_size`` (0: as it
    is), ``resize`` policy ("center-crop" or "pad"), ``background`` for transparency and
    padding."""

    mode: str
    image_size: int = 0
    resize: str = "center-crop"
    background: tuple[int, int, int] = WHITE


def default_workers() -> int:
    """All the cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _open(payload):
    import io

    from PIL import Image

    return Image.open(io.BytesIO(payload) if isinstance(payload, bytes) else payload)


def scan_chunk(chunk: list) -> list[tuple[int, tuple[int, int] | None, bool, str]]:
    """(index, (width, height) or None, has colour, error) of each job, from the files'
    headers alone (nothing decoded)."""
    out = []
    for index, payload, name in chunk:
        try:
            if payload is None:
                raise OSError("unreadable")
            with _open(payload) as image:
                out.append((index, image.size, has_colour(image.mode), ""))
        except Exception as exc:  # any failure of a header means an unreadable file
            out.append((index, None, False, f"cannot read image {name}: {exc}"))
    return out


def decode_chunk(spec: DecodeSpec, chunk: list) -> list[tuple[int, np.ndarray | None, str]]:
    """(index, uint8 (C, H, W) or None, error) of each job, decoded per ``spec``."""
    out = []
    for index, payload, name in chunk:
        try:
            if payload is None:
                raise UserError(f"cannot read image {name}")
            image = decode_image(payload, spec.mode, spec.background, name=name)
            out.append((index, fit_image(image, spec.image_size, spec.resize,
                                         spec.background), ""))
        except UserError as exc:
            out.append((index, None, str(exc)))
    return out


@dataclass(frozen=True)
class MappedTarget:
    """Where a worker writes decoded rows: the uint8 array of ``shape`` (N, C, H, W) stored
    at byte ``offset`` of the file ``path`` (an ``.npy`` being written)."""

    path: str
    offset: int
    shape: tuple[int, ...]

    @classmethod
    def of(cls, array: np.ndarray) -> "MappedTarget | None":
        """The target of a writable file-backed memory map; None for any other array."""
        if not isinstance(array, np.memmap) or array.filename is None or \
                not array.flags.writeable or not array.flags.c_contiguous:
            return None
        return cls(str(array.filename), int(array.offset), tuple(array.shape))


_OPEN_TARGETS: dict = {}  # per worker process: the memory map of each target, opened once


def _mapped(target: MappedTarget) -> np.ndarray:
    if target not in _OPEN_TARGETS:
        _OPEN_TARGETS.clear()  # one target at a time: never keep an old file mapped
        _OPEN_TARGETS[target] = np.memmap(target.path, np.uint8, "r+", target.offset,
                                          target.shape)
    return _OPEN_TARGETS[target]


def decode_chunk_into(spec: DecodeSpec, target: MappedTarget, chunk: list
                      ) -> list[tuple[int, np.ndarray | None, str]]:
    """:func:`decode_chunk`, each image written at its row of ``target`` by this worker:
    (index, None, error) per job ("" when written). An image of another shape is returned
    as it is (the caller reports it)."""
    out = _mapped(target)
    results = []
    for index, array, error in decode_chunk(spec, chunk):
        if not error and array.shape == out.shape[1:]:
            out[index] = array
            array = None
        results.append((index, array, error))
    return results


def _quiet_worker() -> None:
    """Ctrl-C is the main process's to handle (it stops the pool and cleans up)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _chunks(jobs: Iterable, size: int) -> Iterator[list]:
    jobs = iter(jobs)
    while chunk := list(islice(jobs, size)):
        yield chunk


def run_chunks(work: Callable[[list], list], jobs: Iterable, workers: int,
               chunk: int = CHUNK) -> Iterator[list]:
    """``work(chunk)`` of every ``chunk`` jobs, yielded as they finish: in this process for
    one worker, else on ``workers`` processes with at most two chunks each in flight."""
    if workers <= 1:
        yield from map(work, _chunks(jobs, chunk))
        return
    methods = multiprocessing.get_all_start_methods()
    # fork starts workers in milliseconds; they only use PIL and numpy, never torch
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_quiet_worker)
    pending: set = set()
    try:
        for part in _chunks(jobs, chunk):
            pending.add(pool.submit(work, part))
            while len(pending) >= 2 * workers:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from (future.result() for future in done)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            yield from (future.result() for future in done)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def progress_bar(total: int | None, what: str | None = None, unit: str = "it",
                 enabled: bool = True, **options):
    """A tqdm bar on stderr, for every long piece of work gankit shows. Off when not
    ``enabled`` (``--no-progress``), and also whenever stderr is not a terminal (CI logs,
    SLURM output files, pipes; tqdm's ``disable=None``), so that logs stay readable."""
    from tqdm import tqdm

    return tqdm(total=total, desc=what, unit=unit, disable=None if enabled else True,
                file=sys.stderr, dynamic_ncols=True, **options)


def _bar(total: int, what: str, progress: bool):
    return progress_bar(total, what, "img", progress, leave=False)


def scan(jobs: Iterable, total: int, workers: int, progress: bool = True
         ) -> list[tuple[tuple[int, int] | None, bool, str]]:
    """(size, has colour, error) of each of ``total`` jobs, in index order."""
    found: list = [(None, False, "")] * total
    with _bar(total, "scanning", progress) as bar:
        for results in run_chunks(scan_chunk, jobs, workers):
            for index, size, colour, error in results:
                found[index] = (size, colour, error)
            bar.update(len(results))
    return found


def decode_into(out: np.ndarray, jobs: Iterable, spec: DecodeSpec, workers: int, *,
                skip_bad: bool = False, progress: bool = True, chunk: int = CHUNK,
                written: Callable[[list[int]], None] | None = None) -> dict[int, str]:
    """Decode every job into ``out`` (uint8 (N, C, H, W), e.g. a memory map) at its index.

    Returns {index: reason} of the unreadable files when ``skip_bad``; without it the first
    unreadable file is a UserError naming it. An image of another size than ``out``'s (no
    ``image_size``) is a UserError. ``chunk``: jobs per task (file paths are small: larger
    chunks cost fewer messages); ``written(indices)`` is told of each chunk's rows once
    they are in ``out`` (e.g. :class:`~gankit.data.prepared.RowHasher`).
    """
    from functools import partial

    target = MappedTarget.of(out) if workers > 1 else None
    work = partial(decode_chunk_into, spec, target) if target else partial(decode_chunk, spec)
    bad: dict[int, str] = {}
    with _bar(len(out), "decoding", progress) as bar:
        for results in run_chunks(work, jobs, workers, chunk):
            for index, array, error in results:
                if error:
                    if not skip_bad:
                        raise UserError(error + SKIP_HINT)
                    bad[index] = error
                elif array is None:  # a worker wrote it into the memory map
                    continue
                elif array.shape != out.shape[1:]:
                    raise UserError(f"image {index} is {array.shape[2]}x{array.shape[1]}, "
                                    f"not {out.shape[3]}x{out.shape[2]} as the others; give "
                                    f"--image-size to resize them all")
                else:
                    out[index] = array
            if written is not None:
                written([index for index, _, _ in results])
            bar.update(len(results))
    return bad
