"""Mini-batches sliced from the in-memory data set, normalised on the device.

The order of epoch ``e`` is a permutation drawn from a generator seeded with
``(seed, e)``, so a resumed run sees exactly the same batches without storing RNG state.
"""

from __future__ import annotations

from typing import Iterator

import torch


def to_model_range(images_u8: torch.Tensor, value_range: str) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float32 in [-1, 1] ("tanh") or [0, 1] ("unit").

    "tanh" computes ``(x / 255 - 0.5) / 0.5`` exactly as ToTensor + Normalize(0.5, 0.5) do.
    """
    unit = images_u8.to(torch.float32, copy=True).div_(255.0)  # one buffer, in place
    return unit if value_range == "unit" else unit.sub_(0.5).div_(0.5)


def to_uint8(images: torch.Tensor, value_range: str) -> torch.Tensor:
    """Model-range float (B, C, H, W) -> uint8, clamped."""
    unit = images if value_range == "unit" else images * 0.5 + 0.5
    return (unit.clamp(0, 1) * 255).round().to(torch.uint8)


def take_batch(images: torch.Tensor, labels: torch.Tensor | None, rows: torch.Tensor,
               value_range: str, flip: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The batch at ``rows`` (B,): uint8 images (N, C, H, W) -> float (B, C, H, W) in the
    model's range, labels (N,) -> (B,) or None; points (N, D) are taken as they are.
    ``flip``: bool (B,) or None, the images to mirror left-right (:func:`mirror_flags`).

    ``index_select`` copies whole rows; plain ``images[rows]`` gathers element by element,
    which for uint8 images is many times slower and a visible share of an MLP step."""
    batch = images.index_select(0, rows)
    picked = labels.index_select(0, rows) if labels is not None else None
    return finish_batch(batch, picked, value_range, flip)


def finish_batch(batch: torch.Tensor, labels: torch.Tensor | None, value_range: str,
                 flip: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Gathered rows -> what the step takes: uint8 (B, C, H, W) mirrored where ``flip`` (bool
    (B,)) says, then scaled to the model's range; points (B, D) as they are. The in-memory
    and the streaming batches both end here, so they give the same bits."""
    if batch.dtype != torch.uint8:
        return batch, labels  # the 2-D toy sets are used in their own units
    if flip is not None:
        flip = flip.to(batch.device).view(-1, 1, 1, 1)
        batch = torch.where(flip, batch.flip(-1), batch)
    return to_model_range(batch, value_range), labels


def batch_count(n: int, batch_size: int, drop_last: bool, world_size: int = 1) -> int:
    """Batches an epoch of ``n`` samples gives. Over ``world_size`` processes a last partial
    batch is kept only when every process gets a row of it (see :func:`batch_rows`)."""
    full, rest = divmod(n, batch_size)
    return full + (1 if not drop_last and rest >= world_size else 0)


def batch_rows(order: torch.Tensor, index: int, batch_size: int, rank: int = 0,
               world_size: int = 1) -> torch.Tensor:
    """The rows (B,) of batch ``index`` that process ``rank`` of ``world_size`` takes from
    the epoch's permutation ``order`` (N,).

    Rank r keeps the permutation's elements r, r + W, r + 2W, ..., so its share of batch i
    is the single-process batch i at positions r::W; a last partial batch is cut to a
    multiple of W rows so that every process holds an equal share. One process: the plain
    slice ``order[i * B:(i + 1) * B]``."""
    n, local = order.shape[0], batch_size // world_size
    in_batch = min(batch_size, n - index * batch_size) // world_size
    share = order[rank::world_size]
    return share[index * local:index * local + in_batch]


def mirror_flags(seed: int, epoch: int, index: int, batch_size: int, *, rank: int = 0,
                 world_size: int = 1, rows: int | None = None) -> torch.Tensor:
    """Which images of batch ``index`` of ``epoch`` to mirror (``data.mirror``): bool (B,).

    Drawn from a generator seeded with (seed, epoch, index) alone, so a resumed run (or
    another process) draws the same flips without stored RNG state; process ``rank`` takes
    positions rank::W of the global batch's flags, as :func:`batch_rows` takes its rows.
    ``rows``: the batch's length on this process (default: the full share)."""
    key = ((seed * 1_000_003 + epoch) * 1_000_033 + index) % (2 ** 62) + 0x5EED
    flags = torch.rand(batch_size, generator=torch.Generator().manual_seed(key)) < 0.5
    share = flags[rank::world_size]
    return share if rows is None else share[:rows]


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator)


class EpochBatches:
    """Shuffled batches of one epoch (this process's share of them under torchrun).

    samples: uint8 images (N, C, H, W), already on the training device, or float points
    (N, D), yielded unscaled.
    labels: int64 (N,) on the same device, or None.
    mirror: mirror a seeded half of the images left-right (``data.mirror``).
    rank, world_size: this process's share of every batch (:func:`batch_rows`).
    """

    def __init__(self, samples: torch.Tensor, labels: torch.Tensor | None, batch_size: int,
                 drop_last: bool, seed: int, value_range: str, *, mirror: bool = False,
                 rank: int = 0, world_size: int = 1):
        if drop_last and samples.shape[0] < batch_size:
            # Too few samples for one full batch: use a smaller batch rather than none.
            drop_last = False
        self.samples, self.labels = samples, labels
        self.batch_size, self.drop_last = batch_size, drop_last
        self.seed, self.value_range, self.mirror = seed, value_range, mirror
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        return batch_count(self.samples.shape[0], self.batch_size, self.drop_last,
                           self.world_size)

    def plan(self, epoch: int, start: int = 0, device: torch.device | None = None
             ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """(rows (B,), flips bool (B,) or None) of each batch from ``start`` on; rows on
        ``device`` (default: the samples')."""
        order = epoch_permutation(self.samples.shape[0], self.seed, epoch)
        order = order.to(device if device is not None else self.samples.device)
        for index in range(start, len(self)):
            rows = batch_rows(order, index, self.batch_size, self.rank, self.world_size)
            flip = (mirror_flags(self.seed, epoch, index, self.batch_size, rank=self.rank,
                                 world_size=self.world_size, rows=rows.shape[0])
                    if self.mirror else None)
            yield rows, flip

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """Yield (images float (B, C, H, W), labels (B,) or None) from batch ``start`` on."""
        for rows, flip in self.plan(epoch, start):
            yield take_batch(self.samples, self.labels, rows, self.value_range, flip)
