"""Mini-batches of two domains for image-to-image translation.

Paired data (pix2pix): batch ``i`` of epoch ``e`` holds the same rows of A and B, in the
order of :func:`~gankit.data.batches.epoch_permutation`. Unpaired data (CycleGAN): each
domain has its own permutation; an epoch is one pass over the larger domain while the
smaller one wraps around, as the anchor's unaligned data set does. Orders come from
``(seed, epoch)`` alone, so a resumed run sees exactly the same batches.
"""

from __future__ import annotations

from typing import Iterator

import torch

from gankit.data.batches import epoch_permutation, to_model_range


class TwoDomainBatches:
    """(A (B, C, H, W), B (B, C, H, W)) float batches in [-1, 1] from uint8 domains; with
    ``labels`` (int64 (N_A,), (N_B,)), (A, B, labels of A (B,), labels of B (B,)).

    a, b: uint8 (N_A, C, H, W), (N_B, C, H, W) on the training device; ``paired`` needs
    N_A == N_B and keeps rows aligned. Batches are full (the last partial one is dropped)
    unless a domain holds fewer images than one batch.
    """

    def __init__(self, a: torch.Tensor, b: torch.Tensor, batch_size: int, paired: bool,
                 seed: int, labels: tuple[torch.Tensor, torch.Tensor] | None = None):
        if paired and len(a) != len(b):
            raise ValueError(f"paired domains need as many images: {len(a)} != {len(b)}")
        self.a, self.b, self.paired, self.seed = a, b, paired, seed
        self.labels = labels
        self.batch_size = min(batch_size, max(len(a), len(b)))

    def __len__(self) -> int:
        return max(1, max(len(self.a), len(self.b)) // self.batch_size)

    def _rows(self, n: int, order: torch.Tensor, index: int) -> torch.Tensor:
        positions = torch.arange(index * self.batch_size, (index + 1) * self.batch_size)
        return order[positions % n].to(self.a.device)

    def epoch(self, epoch: int, start: int = 0
              ) -> Iterator[tuple[torch.Tensor, ...]]:
        order_a = epoch_permutation(len(self.a), self.seed, epoch)
        order_b = order_a if self.paired else epoch_permutation(len(self.b), self.seed + 7919,
                                                                epoch)
        for index in range(start, len(self)):
            rows_a = self._rows(len(self.a), order_a, index)
            rows_b = rows_a if self.paired else self._rows(len(self.b), order_b, index)
            images = (to_model_range(self.a.index_select(0, rows_a), "tanh"),
                      to_model_range(self.b.index_select(0, rows_b), "tanh"))
            if self.labels is None:
                yield images
            else:
                yield (*images, self.labels[0].index_select(0, rows_a),
                       self.labels[1].index_select(0, rows_b))
