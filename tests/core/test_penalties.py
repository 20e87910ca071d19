"""Penalties and schedules (gankit.core.penalties) against hand computations on tiny critics, and
their wiring into d_step/g_step and the loop (n_critic, lazy R1, label smoothing, ACGAN)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gankit.config import apply_overrides, preset, validate
from gankit.errors import UserError
from gankit.core.losses import get_loss
from gankit.core.penalties import (Regularisers, g_due, gradient_penalty, r1_penalty, r1_weight,
                              regularisers_for, smooth_labels)
from gankit.core.steps import d_step, g_step


class Linear(nn.Module):
    """D(x) = <w, x> + b: its input gradient is w everywhere."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(w.clone())
        self.b = nn.Parameter(torch.zeros(()))

    def forward(self, x, labels=None):
        return x.flatten(1) @ self.w + self.b


class Square(nn.Module):
    """D(x) = c * sum(x²): its input gradient is 2 c x."""

    def __init__(self, c: float = 0.7):
        super().__init__()
        self.c = nn.Parameter(torch.tensor(c, dtype=torch.float64))

    def forward(self, x, labels=None):
        return self.c * x.flatten(1).pow(2).sum(1)


def _critic(D):
    return lambda x, y: D(x)


def test_gradient_penalty_linear_critic_is_weight_times_norm_gap_squared():
    w = torch.tensor([3.0, 4.0, 0.0, 0.0], dtype=torch.float64)  # ||w|| = 5
    D = Linear(w)
    real = torch.randn(6, 1, 2, 2, dtype=torch.float64)
    fake = torch.randn(6, 1, 2, 2, dtype=torch.float64)
    gp = gradient_penalty(_critic(D), real, fake, weight=10.0)
    assert gp.item() == pytest.approx(10.0 * (5.0 - 1.0) ** 2)


def test_gradient_penalty_on_interpolates_by_hand():
    D = Square(0.7)
    real = torch.tensor([[1.0, 2.0], [0.0, -1.0]], dtype=torch.float64)
    fake = torch.tensor([[3.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    alpha = torch.tensor([0.25, 0.5], dtype=torch.float64)
    gp = gradient_penalty(_critic(D), real, fake, weight=10.0, alpha=alpha)
    # x̂₁ = 0.25·(1, 2) + 0.75·(3, 0) = (2.5, 0.5); x̂₂ = (0.5, 0); ∇ = 1.4 x̂
    n1 = 1.4 * (2.5 ** 2 + 0.5 ** 2) ** 0.5
    n2 = 1.4 * 0.5
    expected = 10.0 * ((n1 - 1) ** 2 + (n2 - 1) ** 2) / 2
    assert gp.item() == pytest.approx(expected)
    gp.backward()  # the penalty trains D: d gp / d c exists and is finite
    assert D.c.grad is not None and torch.isfinite(D.c.grad)


def test_r1_penalty_by_hand():
    D = Square(0.5)
    real = torch.tensor([[1.0, 2.0], [3.0, 0.0]], dtype=torch.float64, requires_grad=True)
    r1 = r1_penalty(D(real), real, gamma=4.0)
    # ∇ = 2·0.5·x = x: ||x||² = 5 and 9; γ/2 · mean = 2 · 7 = 14
    assert r1.item() == pytest.approx(14.0)
    r1.backward()
    # d/dc of γ/2 · mean(4c² ||x||²) = γ/2 · 8c · mean(||x||²) = 2 · 4 · 7 = 56
    assert D.c.grad.item() == pytest.approx(56.0)


def test_lazy_r1_schedule_scales_by_interval():
    assert [r1_weight(s, 0.5, 4) for s in range(9)] == [2.0, 0, 0, 0, 2.0, 0, 0, 0, 2.0]
    assert r1_weight(3, 0.5, 1) == 0.5
    assert r1_weight(0, 0.0, 4) == 0.0
    assert regularisers_for(1, 0.0, 0.5, 4) is None
    assert regularisers_for(4, 0.0, 0.5, 4) == Regularisers(gp_weight=0.0, r1_gamma=2.0)
    assert regularisers_for(3, 10.0, 0.0, 16).gp_weight == 10.0


def test_g_due_gives_n_critic_d_updates_per_g_update():
    due = [g_due(s, 5) for s in range(15)]
    assert sum(due) == 3 and due[0] and due[5] and due[10]
    assert all(g_due(s, 1) for s in range(5))


def test_d_step_adds_penalties_to_what_it_optimises():
    torch.manual_seed(0)
    D = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 1), nn.Flatten(0))
    real, fake = torch.randn(5, 1, 2, 2), torch.randn(5, 1, 2, 2)
    loss = get_loss("wasserstein")
    reg = Regularisers(gp_weight=10.0, r1_gamma=2.0)
    # Expected gradients: the loss plus the two penalties, computed here by hand.
    torch.manual_seed(1)
    alpha = torch.rand(5)
    ref = [p.detach().clone() for p in D.parameters()]
    real_g = real.clone().requires_grad_(True)
    total = loss.d(D(real_g), D(fake))
    total = total + gradient_penalty(lambda x, y: D(x), real, fake, weight=10.0, alpha=alpha)
    total = total + r1_penalty(D(real_g), real_g, 2.0)
    expected = torch.autograd.grad(total, list(D.parameters()))
    opt = torch.optim.SGD(D.parameters(), lr=1.0)
    torch.manual_seed(1)  # the same α inside d_step
    stats = d_step(D, opt, loss, real, fake, reg=reg)
    assert set(stats) >= {"loss_d", "gp", "r1"}
    for p, p0, g in zip(D.parameters(), ref, expected):
        torch.testing.assert_close(p0 - p.detach(), g, atol=1e-5, rtol=1e-5)


def test_label_smoothing_is_one_sided():
    logits = torch.tensor([0.3, -1.2, 2.0])
    bce = get_loss("bce")
    smooth = smooth_labels(bce, 0.1, "bce")
    torch.testing.assert_close(smooth.d_real(logits), F.binary_cross_entropy_with_logits(
        logits, torch.full_like(logits, 0.9)))
    torch.testing.assert_close(smooth.d_fake(logits), bce.d_fake(logits))
    torch.testing.assert_close(smooth.g(logits), bce.g(logits))
    ls = smooth_labels(get_loss("lsgan"), 0.2, "lsgan")
    torch.testing.assert_close(ls.d_real(logits), 0.5 * ((logits - 0.8) ** 2).mean())
    assert smooth_labels(bce, 0.0, "bce") is bce


class AuxD(nn.Module):
    """A D with an auxiliary classifier: (B, 1 + K)."""

    aux_classes = 3

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(4, 4))

    def forward(self, x, labels=None):
        return self.net(x)


def test_acgan_terms_in_d_and_g_steps():
    torch.manual_seed(0)
    D = AuxD()
    real, fake = torch.randn(6, 1, 2, 2), torch.randn(6, 1, 2, 2, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    expected_aux = F.cross_entropy(D(real)[:, 1:], labels).item()
    opt = torch.optim.SGD(D.parameters(), lr=0.0)
    stats = d_step(D, opt, get_loss("ns"), real, fake, real_labels=labels, fake_labels=labels)
    assert stats["aux"].item() == pytest.approx(expected_aux, rel=1e-5)
    G_param = nn.Parameter(torch.zeros(()))
    opt_G = torch.optim.SGD([G_param], lr=0.0)
    out = D(fake)
    expected_g = (F.binary_cross_entropy_with_logits(out[:, 0], torch.ones(6))
                  + F.cross_entropy(out[:, 1:], labels)).item()
    stats = g_step(D, opt_G, get_loss("ns"), fake + G_param, fake_labels=labels)
    assert stats["loss_g"].item() == pytest.approx(expected_g, rel=1e-5)


def test_n_critic_counts_adam_steps_in_the_loop(tmp_path):
    import gankit

    run = gankit.train("dcgan", out=tmp_path / "run", steps=10, batch_size=4,
                       model__g_channels=4, model__d_channels=4, train__n_critic=5,
                       train__tensorboard=False, train__grid_size=4)
    state = torch.load(next((run / "checkpoints").glob("step_0000010*")), weights_only=False)

    def adam_steps(opt_state):
        return {int(s["step"]) for s in opt_state["state"].values()}

    assert adam_steps(state["opt_D"]) == {10}
    assert adam_steps(state["opt_G"]) == {2}


@pytest.mark.parametrize("key, value, message", [
    ("loss.label_smoothing", 0.1, "needs a loss with targets"),
    ("train.n_critic", 0, "n_critic"),
    ("loss.r1_every", 0, "r1_every"),
    ("loss.gp_weight", -1.0, "gp_weight"),
])
def test_bad_values_are_one_line_errors(key, value, message):
    cfg = apply_overrides(preset("sngan-hinge"), {key: value})
    with pytest.raises(UserError, match=message):
        validate(cfg)
