"""PatchNCE, the contrastive loss of CUT (Park, Efros, Zhang, Zhu, ECCV 2020).

A patch of the translation should be closer to the input's patch at the same place than to
the input's other patches. G's own encoder describes both: its features at a few layers
(:meth:`~gankit.core.models.translation.ResnetGenerator.nce_features`) of the input and of the
output, at the same randomly sampled positions, each projected by a small MLP head per
layer (:class:`PatchHeads`) onto the unit sphere. For each query (an output patch) the
positive is the input's patch at its position and the negatives the input's other sampled
patches of the same image; the loss is cross-entropy over (positive, negatives) logits
divided by the temperature, averaged over the layers (taesungp/contrastive-unpaired-
translation: ``PatchSampleF``, ``PatchNCELoss``, ``nce_includes_all_negatives_from_minibatch``
off, as for single-image-free training).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gankit.core.models.translation_blocks import init_translation_weights


class PatchHeads(nn.Module):
    """One MLP head per encoder layer: Linear(C_l, width) -> ReLU -> Linear(width, width),
    as CUT's ``PatchSampleF`` with ``use_mlp``; initialised N(0, 0.02) like G."""

    def __init__(self, channels: list[int], width: int = 256):
        super().__init__()
        self.channels, self.width = list(channels), width
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(c, width), nn.ReLU(), nn.Linear(width, width))
            for c in channels)
        init_translation_weights(self)

    def forward(self, features: list[torch.Tensor], patches: int,
                rows: list[torch.Tensor] | None = None
                ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Features (B, C_l, H_l, W_l) per layer -> (descriptors (B, P_l, width) on the
        unit sphere, the sampled positions (P_l,) per layer). ``rows`` None samples
        ``patches`` positions per layer (all of a smaller map) from torch's RNG; given, the
        same positions are taken (the query's positions are the key's)."""
        out, taken = [], []
        for index, (feature, head) in enumerate(zip(features, self.heads)):
            flat = feature.flatten(2).transpose(1, 2)  # (B, H_l W_l, C_l)
            if rows is None:
                where = torch.randperm(flat.shape[1], device=flat.device)[:patches]
            else:
                where = rows[index]
            out.append(F.normalize(head(flat[:, where]), dim=-1))
            taken.append(where)
        return out, taken


def patch_nce(queries: torch.Tensor, keys: torch.Tensor, temperature: float) -> torch.Tensor:
    """PatchNCE on one layer: queries and keys (B, P, D) unit vectors, query ``p``'s
    positive the key ``p`` and its negatives the other keys of the same image; keys carry
    no gradient. Returns the mean cross-entropy, a scalar."""
    keys = keys.detach()
    positive = (queries * keys).sum(-1, keepdim=True)  # (B, P, 1)
    negative = queries @ keys.transpose(1, 2)  # (B, P, P)
    same = torch.eye(queries.shape[1], dtype=torch.bool, device=queries.device)
    # the diagonal is the positive: out of the negatives (CUT fills it with -10)
    negative = negative.masked_fill(same, -10.0)
    logits = torch.cat([positive, negative], dim=-1).flatten(0, 1) / temperature
    target = torch.zeros(len(logits), dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, target)


def patch_nce_loss(heads: PatchHeads, source: list[torch.Tensor],
                   translated: list[torch.Tensor], patches: int,
                   temperature: float) -> torch.Tensor:
    """The PatchNCE loss of a translation: ``source`` and ``translated`` are G's encoder
    features (one (B, C_l, H_l, W_l) per layer) of the input and of its translation. Mean
    over the layers, a scalar."""
    keys, rows = heads(source, patches)
    queries, _ = heads(translated, patches, rows)
    losses = [patch_nce(q, k, temperature) for q, k in zip(queries, keys)]
    return torch.stack(losses).mean()
