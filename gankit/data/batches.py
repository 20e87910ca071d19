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
               value_range: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The batch at ``rows`` (B,): uint8 images (N, C, H, W) -> float (B, C, H, W) in the
    model's range, labels (N,) -> (B,) or None; points (N, D) are taken as they are.

    ``index_select`` copies whole rows; plain ``images[rows]`` gathers element by element,
    which for uint8 images is many times slower and a visible share of an MLP step."""
    batch = images.index_select(0, rows)
    picked = labels.index_select(0, rows) if labels is not None else None
    if images.dtype == torch.uint8:
        return to_model_range(batch, value_range), picked
    return batch, picked  # the 2-D toy sets are used in their own units


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator)


class EpochBatches:
    """Shuffled batches of one epoch.

    samples: uint8 images (N, C, H, W), already on the training device, or float points
    (N, D), yielded unscaled.
    labels: int64 (N,) on the same device, or None.
    """

    def __init__(self, samples: torch.Tensor, labels: torch.Tensor | None, batch_size: int,
                 drop_last: bool, seed: int, value_range: str):
        if drop_last and samples.shape[0] < batch_size:
            # Too few samples for one full batch: use a smaller batch rather than none.
            drop_last = False
        self.samples, self.labels = samples, labels
        self.batch_size, self.drop_last = batch_size, drop_last
        self.seed, self.value_range = seed, value_range

    def __len__(self) -> int:
        n = self.samples.shape[0]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """Yield (images float (B, C, H, W), labels (B,) or None) from batch ``start`` on."""
        order = epoch_permutation(self.samples.shape[0], self.seed, epoch).to(self.samples.device)
        for index in range(start, len(self)):
            rows = order[index * self.batch_size:(index + 1) * self.batch_size]
            yield take_batch(self.samples, self.labels, rows, self.value_range)
