"""Label-blind baselines that a learnt translation must beat, scored with the same code
(:func:`gankit.evaluation.translation.translation_scores`):

* :func:`identity`: the input itself (no translation at all: the style judge should put
  about none of it in the target style, and its category agreement is the content a
  translation starts from);
* :func:`histogram_match`: each input's colours moved, channel by channel, to the target
  domain's pooled histogram (the cheapest "style transfer": palette, no shapes).

The third baseline of the benchmark, L1 regression without D, is a training run (pix2pix
with ``translation.gan_weight=0``).
"""

from __future__ import annotations

import torch

LEVELS = 256


def identity(images_u8: torch.Tensor) -> torch.Tensor:
    """The inputs (N, C, H, W) uint8 as they are."""
    return images_u8


def _cdf(counts: torch.Tensor) -> torch.Tensor:
    """Cumulative shares (..., 256) of histograms (..., 256), float64, ending at 1."""
    counts = counts.to(torch.float64)
    return counts.cumsum(-1) / counts.sum(-1, keepdim=True).clamp_min(1)


def _histograms(images_u8: torch.Tensor) -> torch.Tensor:
    """Per-image, per-channel histograms (N, C, 256) of uint8 images (N, C, H, W)."""
    n, c = images_u8.shape[:2]
    values = images_u8.reshape(n * c, -1).long()
    offsets = torch.arange(n * c).unsqueeze(1) * LEVELS
    counts = torch.bincount((values + offsets).flatten(), minlength=n * c * LEVELS)
    return counts.view(n, c, LEVELS)


def histogram_match(images_u8: torch.Tensor, reference_u8: torch.Tensor, *,
                    source_u8: torch.Tensor | None = None) -> torch.Tensor:
    """Each image of ``images_u8`` (N, C, H, W) uint8 with each channel's histogram matched
    to the pooled histogram of that channel over ``reference_u8`` (M, C, h, w) uint8 (the
    target domain's *training* images): uint8 (N, C, H, W).

    Classic histogram specification (CDF matching): a level v of an image's channel, whose
    cumulative share in that channel is F(v), becomes the smallest reference level r with
    G(r) >= F(v), G the reference's cumulative share. Per image and channel the map is a
    non-decreasing look-up table, so the order of the pixel values is kept (monotone).

    ``source_u8`` (K, C, h, w), e.g. the source domain's training images: one table per
    channel for every image instead, from the pooled histogram of ``source_u8`` (a set-level
    match, which keeps how images differ from one another: per image, an emoji that fills
    its frame has its colours pushed to the reference's white background).
    """
    if images_u8.dtype != torch.uint8 or reference_u8.dtype != torch.uint8 or \
            images_u8.dim() != 4 or images_u8.shape[1] != reference_u8.shape[1]:
        raise ValueError(f"histogram_match takes uint8 (N, C, H, W) images and references of "
                         f"the same C, got {images_u8.dtype} {tuple(images_u8.shape)} and "
                         f"{reference_u8.dtype} {tuple(reference_u8.shape)}")
    n, c = images_u8.shape[:2]
    pooled = _cdf(_histograms(reference_u8).sum(0))  # (C, 256)
    if source_u8 is None:
        own = _cdf(_histograms(images_u8))  # (N, C, 256)
    else:
        own = _cdf(_histograms(source_u8).sum(0)).expand(n, c, LEVELS)
    # subtracting a hair keeps round-off from pushing F(v) == G(r) past r
    lut = torch.stack([torch.searchsorted(pooled[k], own[:, k].contiguous() - 1e-12)
                       for k in range(c)], 1)
    lut = lut.clamp(max=LEVELS - 1)  # (N, C, 256)
    flat = images_u8.reshape(n, c, -1).long()
    return lut.gather(2, flat).to(torch.uint8).view_as(images_u8)
