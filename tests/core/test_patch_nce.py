"""PatchNCE (CUT): the loss rewards a translation whose patches match the input's at the
same place, and G's encoder features are the ones its forward pass computes."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gankit.core.models.translation import ResnetGenerator
from gankit.core.patch_nce import PatchHeads, patch_nce, patch_nce_loss


def _unit(*shape: int, seed: int = 0) -> torch.Tensor:
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_a_query_equal_to_its_key_scores_lower_than_a_shuffled_one():
    keys = _unit(2, 64, 32)
    matched = patch_nce(keys.clone(), keys, temperature=0.07)
    shuffled = patch_nce(keys[:, torch.randperm(64)], keys, temperature=0.07)
    assert matched < 0.01 < 2.0 < shuffled  # log(64) = 4.2 is chance


def test_the_loss_is_cross_entropy_over_the_positive_and_the_same_images_negatives():
    queries, keys = _unit(1, 3, 4, seed=1), _unit(1, 3, 4, seed=2)
    logits = queries[0] @ keys[0].T / 0.5  # (3, 3): diagonal positives
    by_hand = torch.stack([-torch.log_softmax(logits[i], 0)[i] for i in range(3)]).mean()
    assert torch.allclose(patch_nce(queries, keys, 0.5), by_hand, atol=1e-6)


def test_keys_carry_no_gradient_queries_do():
    queries = _unit(1, 8, 16).requires_grad_()
    keys = _unit(1, 8, 16, seed=3).requires_grad_()
    patch_nce(queries, keys, 0.07).backward()
    assert keys.grad is None and queries.grad.abs().sum() > 0


def test_nce_features_are_the_forward_pass_s_and_it_translates_the_same():
    torch.manual_seed(0)
    G = ResnetGenerator(3, 3, base_channels=8, n_blocks=4).eval()
    x = torch.rand(2, 3, 20, 20) * 2 - 1  # 20 px: padded to 20 (a multiple of 4) as forward
    out, features = G.nce_features(x, translate=True)
    assert torch.equal(out, G(x))
    alone = G.nce_features(x)
    assert len(features) == len(G.nce_layers) == 5 and all(
        torch.equal(a, b) for a, b in zip(features, alone))
    # pixels (padded by 3), the two stride-2 convs, the first and the middle block
    assert [f.shape[1:] for f in features] == [(3, 26, 26), (16, 10, 10), (32, 5, 5),
                                              (32, 5, 5), (32, 5, 5)]


def test_the_heads_take_the_same_positions_for_queries_and_keys():
    torch.manual_seed(0)
    heads = PatchHeads([3, 16], width=8)
    features = [torch.randn(2, 3, 10, 10), torch.randn(2, 16, 4, 4)]
    keys, rows = heads(features, patches=6)
    assert [k.shape for k in keys] == [(2, 6, 8), (2, 6, 8)]
    assert torch.allclose(keys[0].norm(dim=-1), torch.ones(2, 6))
    again, same_rows = heads(features, patches=6, rows=rows)
    assert all(torch.equal(a, b) for a, b in zip(rows, same_rows))
    assert all(torch.equal(a, b) for a, b in zip(again, keys))
    # identical features: the loss is low; a translation that moves content: higher
    moved = [torch.roll(f, 2, dims=-1) for f in features]
    assert patch_nce_loss(heads, features, features, 6, 0.07) < \
        patch_nce_loss(heads, features, moved, 6, 0.07)
