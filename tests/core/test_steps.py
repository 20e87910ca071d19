"""One update each: what d_step, g_step and ema_update change, and what they leave alone."""

from __future__ import annotations

import copy

import pytest
import torch

from gankit.config import ModelConfig
from gankit.core.losses import LOSSES
from gankit.core.models import build_models
from gankit.core.steps import d_step, ema_beta, ema_update, g_step, lr_factor

SHAPE = (1, 28, 28)


def _nets(name="mlp"):
    torch.manual_seed(0)
    cfg = ModelConfig(name=name, g_hidden=(32,), d_hidden=(32,), g_channels=8, d_channels=8)
    G, D = build_models(cfg, SHAPE)
    opt_G = torch.optim.Adam(G.parameters(), lr=1e-2)
    opt_D = torch.optim.Adam(D.parameters(), lr=1e-2)
    return G, D, opt_G, opt_D


def _snapshot(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _changed(before, net):
    after = net.state_dict()
    return {k for k in before if not torch.equal(before[k], after[k])}


def _real(n=8):
    return torch.rand(n, *SHAPE, generator=torch.Generator().manual_seed(1)) * 2 - 1


@pytest.mark.parametrize("name", ["mlp", "dcgan"])
@pytest.mark.parametrize("separate", [False, True])
def test_d_step_changes_d_only(name, separate):
    G, D, opt_G, opt_D = _nets(name)
    real = _real()
    fake = G(torch.randn(8, 100))  # (in train mode this updates G's BatchNorm statistics)
    g_before, d_before = _snapshot(G), _snapshot(D)
    stats = d_step(D, opt_D, LOSSES["bce"], real, fake, separate=separate)
    weights = {k for k, _ in D.named_parameters()}
    assert _changed(d_before, D) == weights  # every weight of D moved
    assert _changed(g_before, G) == set()  # G untouched, no gradient reached it
    assert all(p.grad is None for p in G.parameters())
    assert set(stats) == {"loss_d", "d_real", "d_fake"}
    for value in stats.values():
        assert value.shape == () and not value.requires_grad and torch.isfinite(value)
    assert 0 < stats["d_real"] < 1 and 0 < stats["d_fake"] < 1


def test_d_step_reports_loss_and_probabilities_before_the_update():
    G, D, _, opt_D = _nets()
    real, fake = _real(), G(torch.randn(8, 100)).detach()
    D_copy = copy.deepcopy(D)
    with torch.no_grad():
        r, f = D_copy(real), D_copy(fake)
    stats = d_step(D, opt_D, LOSSES["bce"], real, fake)
    assert stats["loss_d"].item() == pytest.approx(LOSSES["bce"].d(r, f).item(), abs=1e-5)
    assert stats["d_real"].item() == pytest.approx(torch.sigmoid(r).mean().item(), abs=1e-6)
    assert stats["d_fake"].item() == pytest.approx(torch.sigmoid(f).mean().item(), abs=1e-6)


def test_d_step_lowers_d_loss_on_the_same_batch():
    G, D, _, opt_D = _nets()
    real, fake = _real(), G(torch.randn(8, 100)).detach()
    first = d_step(D, opt_D, LOSSES["bce"], real, fake)["loss_d"].item()
    for _ in range(5):
        last = d_step(D, opt_D, LOSSES["bce"], real, fake)["loss_d"].item()
    assert last < first


@pytest.mark.parametrize("separate,expected", [(False, 1), (True, 2)])
def test_separate_d_updates_take_two_optimiser_steps(separate, expected):
    G, D, _, opt_D = _nets()
    d_step(D, opt_D, LOSSES["bce"], _real(), G(torch.randn(8, 100)), separate=separate)
    steps = {float(opt_D.state[p]["step"]) for p in D.parameters()}
    assert steps == {float(expected)}


@pytest.mark.parametrize("name", ["mlp", "dcgan"])
def test_g_step_changes_g_and_leaves_d_alone(name):
    G, D, opt_G, _ = _nets(name)
    # a D with one parameter already frozen: g_step must restore exactly these flags
    frozen = next(D.parameters())
    frozen.requires_grad_(False)
    flags = [p.requires_grad for p in D.parameters()]
    assert flags.count(False) == 1 and flags.count(True) >= 1
    fake = G(torch.randn(8, 100))
    g_before, d_before = _snapshot(G), _snapshot(D)
    stats = g_step(D, opt_G, LOSSES["bce"], fake)
    weights = {k for k, _ in G.named_parameters()}
    assert _changed(g_before, G) == weights
    assert _changed(d_before, D) == set()
    assert [p.requires_grad for p in D.parameters()] == flags
    assert all(p.grad is None for p in D.parameters())  # D's grads were not even computed
    assert set(stats) == {"loss_g"} and stats["loss_g"].shape == ()
    assert not stats["loss_g"].requires_grad


def test_g_step_restores_flags_even_when_the_loss_fails():
    G, D, opt_G, _ = _nets()
    flags = [p.requires_grad for p in D.parameters()]

    def broken(_logits):
        raise RuntimeError("boom")

    loss = LOSSES["bce"]._replace(g=broken)
    with pytest.raises(RuntimeError, match="boom"):
        g_step(D, opt_G, loss, G(torch.randn(4, 100)))
    assert [p.requires_grad for p in D.parameters()] == flags == [True] * len(flags)


def test_g_step_raises_d_of_g_z():
    G, D, opt_G, _ = _nets()
    z = torch.randn(16, 100)
    with torch.no_grad():
        before = torch.sigmoid(D(G(z))).mean().item()
    for _ in range(5):
        g_step(D, opt_G, LOSSES["bce"], G(z))
    with torch.no_grad():
        after = torch.sigmoid(D(G(z))).mean().item()
    assert after > before


def test_ema_update_math():
    G, _, _, _ = _nets("dcgan")
    G_ema = copy.deepcopy(G)
    with torch.no_grad():
        for p in G_ema.parameters():
            p.fill_(1.0)
        for p in G.parameters():
            p.fill_(3.0)
    for b in G.buffers():
        if b.dtype.is_floating_point:
            b.fill_(7.0)
        else:
            b.fill_(5)
    ema_update(G_ema, G, beta=0.75)
    for p in G_ema.parameters():
        assert torch.allclose(p, torch.full_like(p, 0.75 * 1 + 0.25 * 3))
    buffers = list(G_ema.buffers())
    assert buffers  # BatchNorm running stats: copied, not averaged
    for b, b_src in zip(buffers, G.buffers()):
        assert torch.equal(b, b_src)
    ema_update(G_ema, G, beta=0.0)
    for p in G_ema.parameters():
        assert torch.allclose(p, torch.full_like(p, 3.0))


def test_ema_update_does_not_touch_g_or_record_grads():
    G, _, _, _ = _nets()
    G_ema = copy.deepcopy(G)
    before = _snapshot(G)
    out = G(torch.randn(2, 100)).sum()
    ema_update(G_ema, G, 0.9)
    assert _changed(before, G) == set()
    out.backward()  # the graph through G is intact


def test_ema_beta_half_life():
    beta = ema_beta(batch_size=64, half_life_kimg=10.0)
    assert 0 < beta < 1
    assert beta ** (10_000 / 64) == pytest.approx(0.5, rel=1e-9)
    assert ema_beta(64, 0.0) == 0.0
    assert ema_beta(128, 10.0) < beta  # bigger batches decay more per step


def test_lr_factor_falls_linearly_over_the_last_fraction():
    assert [lr_factor(s, 10, 0.5) for s in range(10)] == pytest.approx(
        [1, 1, 1, 1, 1, 1, 0.8, 0.6, 0.4, 0.2])
    assert [lr_factor(s, 4, 1.0) for s in range(4)] == pytest.approx([1, 0.75, 0.5, 0.25])
    assert lr_factor(3, 10, 0.0) == 1.0  # no decay
    assert lr_factor(3, 0, 0.5) == 1.0  # no step budget


def test_lr_decay_in_a_run_and_its_errors(tmp_path):
    from gankit.training.checkpoint import latest_checkpoint
    from gankit.config import resolve
    from gankit.errors import UserError
    from gankit.apps.train import run_training

    tiny = {"train.steps": 8, "train.epochs": 0, "train.log_every": 4, "train.grid_size": 4,
            "train.tensorboard": False, "train.batch_size": 16, "model.g_hidden": "16",
            "model.d_hidden": "16"}
    cfg = resolve("seed-mlp", overrides={**tiny, "optim.lr_decay": 0.5,
                                         "optim.lr_g": 1e-3, "optim.lr_d": 4e-4})
    state = latest_checkpoint(run_training(cfg, tmp_path / "run", progress=False, echo=lambda *a: 0))
    # the last of 8 updates ran at 1/4 of the rates (decay over the last 4 steps)
    assert state["opt_G"]["param_groups"][0]["lr"] == pytest.approx(1e-3 / 4)
    assert state["opt_D"]["param_groups"][0]["lr"] == pytest.approx(4e-4 / 4)
    with pytest.raises(UserError, match="lr_decay must lie in"):
        resolve("seed-mlp", overrides={"optim.lr_decay": 1.5})
    with pytest.raises(UserError, match="needs a step or epoch budget"):
        resolve("seed-mlp", overrides={"optim.lr_decay": 0.5, "train.epochs": 0,
                                       "train.minutes": 1})
