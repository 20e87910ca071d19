"""Batches gathered from a memory-mapped data set in a background thread, for prepared sets
larger than the memory budget (``data.memory_budget_gb``).

:class:`StreamingBatches` has the interface of :class:`~gankit.data.batches.EpochBatches`
and yields the very same batches: the same seeded permutation of each epoch, the same rows
per process under torchrun, the same mirror flips and the same arithmetic (both end in
:func:`~gankit.data.batches.finish_batch`). A run can therefore switch between the two, and
resume exactly, whatever the memory budget. Only the batches being trained on and a few
gathered ahead live in the process's own memory; the data set's pages belong to the page
cache, which the kernel reclaims as it needs.
"""

from __future__ import annotations

import os
import queue
import threading
from typing import Iterator

import torch

from gankit.data.batches import EpochBatches, finish_batch

PREFETCH = 3  # batches gathered ahead of the one being trained on
_DONE = object()  # the producer's end-of-epoch mark


def physical_memory_bytes() -> int:
    """The machine's physical memory in bytes (8 GiB where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 8 * 2 ** 30


def memory_budget_bytes(budget_gb: float) -> int:
    """``data.memory_budget_gb`` in bytes; 0 means a quarter of the physical memory, which
    leaves most of the machine to the models, the page cache and everything else."""
    return int(budget_gb * 2 ** 30) if budget_gb > 0 else physical_memory_bytes() // 4


def fits_in_memory(nbytes: int, budget_gb: float, copies: int = 1) -> bool:
    """Whether ``copies`` in-memory copies of ``nbytes`` (one per process on a machine)
    stay within the memory budget."""
    return nbytes * max(1, copies) <= memory_budget_bytes(budget_gb)


class StreamingBatches(EpochBatches):
    """Shuffled batches gathered from ``samples`` as training goes.

    samples: uint8 (N, C, H, W) on the CPU, usually a memory map (never copied whole).
    labels: int64 (N,) on the CPU, or None.
    device: where the batches go; on CUDA they are gathered into pinned memory and copied
    without blocking. ``prefetch`` batches are gathered ahead by one background thread
    (gathering from a memory map releases the GIL, so it overlaps the training step).
    Yields (images float (B, C, H, W) on ``device``, labels (B,) or None), exactly as
    :class:`~gankit.data.batches.EpochBatches` does for the same arguments.
    """

    def __init__(self, samples: torch.Tensor, labels: torch.Tensor | None, batch_size: int,
                 drop_last: bool, seed: int, value_range: str, *,
                 device: torch.device | str = "cpu", mirror: bool = False, rank: int = 0,
                 world_size: int = 1, prefetch: int = PREFETCH):
        assert samples.device.type == "cpu" and samples.dtype == torch.uint8, \
            (samples.device, samples.dtype)
        super().__init__(samples, labels, batch_size, drop_last, seed, value_range,
                         mirror=mirror, rank=rank, world_size=world_size)
        self.device = torch.device(device)
        self.pin = self.device.type == "cuda" and torch.cuda.is_available()
        self.prefetch = max(1, prefetch)

    def _gather(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """uint8 (B, C, H, W) and labels (B,) of ``rows``, in fresh (pinned) CPU memory."""
        images = torch.empty((rows.shape[0], *self.samples.shape[1:]), dtype=torch.uint8,
                             pin_memory=self.pin)
        torch.index_select(self.samples, 0, rows, out=images)
        labels = self.labels.index_select(0, rows) if self.labels is not None else None
        if labels is not None and self.pin:
            labels = labels.pin_memory()
        return images, labels

    def _produce(self, epoch: int, start: int, results: queue.Queue,
                 stop: threading.Event) -> None:
        """The background thread: gather each batch in order and hand it over; the
        consumer's exceptions and early exits (``stop``) end it."""
        def put(item) -> bool:
            while not stop.is_set():
                try:
                    results.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            for rows, flip in self.plan(epoch, start, device=torch.device("cpu")):
                if not put((*self._gather(rows), flip)):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the training thread, which raises it
            put(exc)

    def epoch(self, epoch: int, start: int = 0
              ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """Yield (images float (B, C, H, W), labels (B,) or None) from batch ``start`` on."""
        results: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()
        thread = threading.Thread(target=self._produce, args=(epoch, start, results, stop),
                                  name="gankit-batches", daemon=True)
        thread.start()
        try:
            while True:
                item = results.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                images, labels, flip = item
                images = images.to(self.device, non_blocking=self.pin)
                if labels is not None:
                    labels = labels.to(self.device, non_blocking=self.pin)
                yield finish_batch(images, labels, self.value_range, flip)
        finally:  # also when the loop stops mid-epoch (budget reached): end the thread
            stop.set()
            thread.join(timeout=10)
