"""Every registered loss against its paper's formula, written out by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gankit.core.losses import LOSSES, get_loss

bce = nn.BCELoss()
ones, zeros = torch.ones, torch.zeros


def _bce_d(r, f):
    """The tutorial: criterion(D(x), 1) + criterion(D(G(z)), 0) with D ending in Sigmoid."""
    return bce(torch.sigmoid(r), ones(len(r))) + bce(torch.sigmoid(f), zeros(len(f)))


def _bce_g(f):
    return bce(torch.sigmoid(f), ones(len(f)))


# name -> (D loss on (real logits, fake logits), G loss on fake logits)
REFERENCE = {
    "bce": (_bce_d, _bce_g),
    "ns": (_bce_d, _bce_g),
    "minimax": (_bce_d, lambda f: torch.log(1 - torch.sigmoid(f)).mean()),
    "hinge": (lambda r, f: torch.clamp(1 - r, min=0).mean() + torch.clamp(1 + f, min=0).mean(),
              lambda f: -f.mean()),
    "wasserstein": (lambda r, f: f.mean() - r.mean(), lambda f: -f.mean()),
    "lsgan": (lambda r, f: 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f ** 2).mean(),
              lambda f: 0.5 * ((f - 1) ** 2).mean()),
}


def _logits(seed, n):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=generator, dtype=torch.float64).float() * 3


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_registered_loss_has_a_reference_here(name):
    assert name in REFERENCE, f"no reference formula for loss {name!r}: add one to REFERENCE"


@pytest.mark.parametrize("name", sorted(REFERENCE))
@pytest.mark.parametrize("seed", [0, 1])
def test_loss_matches_hand_formula(name, seed):
    loss = LOSSES[name]
    real, fake = _logits(seed, 16), _logits(seed + 100, 12)  # batches may differ in size
    d_ref, g_ref = REFERENCE[name]
    assert loss.d(real, fake).shape == ()
    assert loss.d(real, fake).item() == pytest.approx(d_ref(real, fake).item(), abs=1e-6)
    assert loss.d_real(real).item() + loss.d_fake(fake).item() == pytest.approx(
        loss.d(real, fake).item(), abs=1e-6)
    assert loss.g(fake).item() == pytest.approx(g_ref(fake).item(), abs=1e-6)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_loss_gradients_match_hand_formula(name):
    loss = LOSSES[name]
    d_ref, g_ref = REFERENCE[name]
    for fn, ref, args in ((loss.d, d_ref, (_logits(2, 8), _logits(3, 8))),
                          (loss.g, g_ref, (_logits(4, 8),))):
        ours = [a.clone().requires_grad_() for a in args]
        theirs = [a.clone().requires_grad_() for a in args]
        fn(*ours).backward()
        ref(*theirs).backward()
        for a, b in zip(ours, theirs):
            assert torch.allclose(a.grad, b.grad, atol=1e-6)


def test_bce_on_logits_is_stable_where_sigmoid_then_log_is_not():
    real = torch.tensor([-200.0, 50.0])
    fake = torch.tensor([200.0, -50.0])
    value = LOSSES["bce"].d(real, fake)
    # mean(200, ~0) for each term -> 100 + 100, finite (BCELoss on sigmoid clamps at 100)
    assert torch.isfinite(value)
    assert value.item() == pytest.approx(200.0, rel=1e-4)
    assert torch.isfinite(LOSSES["minimax"].g(torch.tensor([200.0])))
    assert LOSSES["minimax"].g(torch.tensor([200.0])).item() == pytest.approx(-200.0)


def test_perfect_discriminator_has_near_zero_bce_loss():
    real, fake = torch.full((4,), 20.0), torch.full((4,), -20.0)
    assert LOSSES["bce"].d(real, fake).item() < 1e-8
    assert LOSSES["bce"].g(fake).item() == pytest.approx(20.0, rel=1e-6)


def test_get_loss():
    assert get_loss("hinge") is LOSSES["hinge"]
    with pytest.raises(ValueError, match="unknown loss 'nope'.*bce"):
        get_loss("nope")
    assert all(loss.description for loss in LOSSES.values())
