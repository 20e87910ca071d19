"""The hand-written MLP step (gankit.speed.fast_mlp): its passes against autograd, its step
against ``d_step``/``g_step``, when the loop takes it, and that a run trains the same either
way.

Its step against the tutorial's literal step is in ``test_exactness.py``.
"""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn

from gankit.config import preset, resolve
from gankit.speed import speed_on
from gankit.speed.fast_mlp import (FastMLPStep, backward, fast_mlp_step, forward, layers_of,
                                   output_of)
from gankit.apps.train import run_training
from gankit.training.noise_to_image import make_optimisers
from gankit.core.losses import get_loss
from gankit.core.models import build_models
from gankit.core.models.linear import Linear
from gankit.core.models.mlp import MLPDiscriminator, MLPGenerator
from gankit.core.steps import d_step, g_step

CPU = torch.device("cpu")
TOL = 1e-5


def test_layers_of_reads_the_seed_networks():
    G, D = build_models(preset("seed-mlp").model, (1, 28, 28))
    g_layers, d_layers = layers_of(G), layers_of(D)
    assert [(l.linear.in_features, l.linear.out_features, l.activation) for l in g_layers] == [
        (100, 256, "relu"), (256, 512, "relu"), (512, 1024, "relu"), (1024, 784, "tanh")]
    assert [(l.linear.out_features, l.activation, l.slope) for l in d_layers] == [
        (512, "leaky_relu", 0.2), (256, "leaky_relu", 0.2), (1, "none", 0.0)]
    assert [l.tiny for l in d_layers] == [False, False, True]
    keras_G, _ = build_models(preset("seed-keras").model, (1, 28, 28))
    assert [l.activation for l in layers_of(keras_G)] == ["relu", "sigmoid"]


def test_layers_of_refuses_what_it_cannot_run():
    cfg = preset("seed-mlp").model
    assert layers_of(MLPDiscriminator((32,), (1, 28, 28), mbstd=True)) is None
    assert layers_of(build_models(preset("dcgan").model, (1, 28, 28))[1]) is None
    assert layers_of(nn.Sequential(Linear(4, 4))) is None  # not a gankit MLP
    _, D = build_models(cfg, (1, 28, 28))
    nn.utils.parametrizations.spectral_norm(D.model[0])
    assert layers_of(D) is None
    _, D = build_models(cfg, (1, 28, 28))
    D.model[2].register_forward_hook(lambda *args: None)
    assert layers_of(D) is None


def _stack(widths, activations, seed=0):
    """An MLPGenerator-shaped network: Linear layers of ``widths`` with ``activations``."""
    torch.manual_seed(seed)
    net = MLPGenerator(widths[0], tuple(widths[1:-1]), (1, 1, widths[-1]))
    modules = []
    for i, act in enumerate(activations):
        modules.append(Linear(widths[i], widths[i + 1]))
        if act != "none":
            modules.append({"relu": nn.ReLU(), "leaky_relu": nn.LeakyReLU(0.1),
                            "tanh": nn.Tanh(), "sigmoid": nn.Sigmoid()}[act])
    net.model = nn.Sequential(*modules)
    return net


@pytest.mark.parametrize("widths, activations", [
    ((20, 40, 30, 1), ("leaky_relu", "relu", "none")),  # D-like: tiny logit layer
    ((20, 48, 36), ("tanh", "sigmoid")),  # G-like: feature-major to the end
    ((20, 8, 36), ("relu", "tanh")),  # a tiny hidden layer in between
])
@pytest.mark.parametrize("batch", [64, 5])
@pytest.mark.parametrize("transposed_input", [False, True])
@pytest.mark.parametrize("onednn", [True, False], ids=["onednn", "mkl"])
def test_passes_equal_autograd(widths, activations, batch, transposed_input, onednn):
    net = _stack(widths, activations)
    layers = layers_of(net)
    assert [l.activation for l in layers] == list(activations)
    x = torch.randn(widths[0], batch).t() if transposed_input else torch.randn(batch, widths[0])
    grad_out = torch.randn(batch, widths[-1])

    x_ref = x.detach().clone().requires_grad_(True)
    out_ref = net.model(x_ref)
    out_ref.backward(grad_out)
    with torch.no_grad():
        outputs = forward(layers, x, onednn)
        grads, grad_x = backward(layers, x, outputs, grad_out, weights=True, input_grad=True,
                                 onednn=onednn)
    torch.testing.assert_close(output_of(outputs, layers), out_ref, atol=TOL, rtol=0)
    torch.testing.assert_close(grad_x, x_ref.grad, atol=TOL, rtol=0)
    assert len(grads) == len(layers)
    for layer, (d_weight, d_bias) in zip(layers, grads):
        assert d_weight.shape == layer.linear.weight.shape and d_weight.is_contiguous()
        torch.testing.assert_close(d_weight, layer.linear.weight.grad, atol=TOL, rtol=0)
        torch.testing.assert_close(d_bias, layer.linear.bias.grad, atol=TOL, rtol=0)


def test_backward_skips_what_is_not_asked_for():
    layers = layers_of(_stack((10, 30, 1), ("relu", "none")))
    x = torch.randn(32, 10)
    outputs = forward(layers, x)
    grads, grad_x = backward(layers, x, outputs, torch.ones(32, 1), weights=False,
                             input_grad=False)
    assert grads == [] and grad_x is None


def _pair(name):
    """Two copies of ``name``'s networks and optimisers from the same initial weights."""
    cfg = preset(name)
    torch.manual_seed(0)
    G, D = build_models(cfg.model, (1, 28, 28))
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    return cfg, (G, D, *make_optimisers(cfg, G, D)), \
        (G2, D2, *make_optimisers(cfg, G2, D2))


@pytest.mark.parametrize("name, loss_name, onednn", [
    ("seed-mlp", "bce", True), ("seed-tutorial", "bce", True), ("seed-mlp", "hinge", True),
    ("seed-mlp", "lsgan", True), ("seed-mlp", "bce", False)])
def test_step_equals_d_step_then_g_step(name, loss_name, onednn):
    cfg, (G, D, opt_G, opt_D), (G2, D2, opt_G2, opt_D2) = _pair(name)
    loss = get_loss(loss_name)
    fast = fast_mlp_step(cfg, G2, D2, opt_G2, opt_D2, loss, device=CPU, conditional=False,
                         onednn=onednn)
    assert isinstance(fast, FastMLPStep) and fast.onednn is onednn
    generator = torch.Generator().manual_seed(1)
    for step in range(3):
        real = torch.rand(64, 1, 28, 28, generator=generator) * 2 - 1
        z = torch.randn(64, cfg.model.latent_dim, generator=generator)
        fake = G(z)
        ours = d_step(D, opt_D, loss, real, fake)
        ours.update(g_step(D, opt_G, loss, fake))
        theirs = fast(real, z)
        assert theirs.keys() == ours.keys()
        for key in ours:
            torch.testing.assert_close(theirs[key], ours[key], atol=TOL, rtol=0, msg=key)
    for a, b in zip([*G.parameters(), *D.parameters()], [*G2.parameters(), *D2.parameters()]):
        torch.testing.assert_close(b, a, atol=TOL, rtol=0)


def test_step_without_g_update_leaves_g_alone():
    cfg, _, (G, D, opt_G, opt_D) = _pair("seed-mlp")
    fast = fast_mlp_step(cfg, G, D, opt_G, opt_D, get_loss("bce"), device=CPU,
                         conditional=False)
    g_before = copy.deepcopy(G.state_dict())
    d_before = copy.deepcopy(D.state_dict())
    stats = fast(torch.zeros(16, 1, 28, 28), torch.randn(16, 100), update_g=False)
    assert set(stats) == {"loss_d", "d_real", "d_fake"}
    assert all(torch.equal(v, G.state_dict()[k]) for k, v in g_before.items())
    assert not all(torch.equal(v, D.state_dict()[k]) for k, v in d_before.items())


@pytest.mark.parametrize("override", [
    {"train.fast_mlp": False}, {"train.precision": "bf16"}, {"train.compile": True},
    {"train.d_updates": "separate"}, {"train.g_fresh_noise": True}, {"loss.r1_gamma": 1.0},
    {"loss.gp_weight": 10.0}, {"model.mbstd": True}, {"model.name": "dcgan"},
])
def test_other_runs_take_the_general_step(override):
    cfg = resolve("seed-mlp", overrides=override)
    G, D = build_models(cfg.model, (1, 28, 28))
    opt_G, opt_D = make_optimisers(cfg, G, D)
    assert fast_mlp_step(cfg, G, D, opt_G, opt_D, get_loss("bce"), device=CPU,
                         conditional=False) is None


def test_devices_processes_and_wrappers_take_the_general_step():
    cfg = preset("seed-mlp")
    G, D = build_models(cfg.model, (1, 28, 28))
    opt_G, opt_D = make_optimisers(cfg, G, D)
    loss = get_loss("bce")
    cpu = dict(device=CPU, conditional=False)
    assert fast_mlp_step(cfg, G, D, opt_G, opt_D, loss, **cpu) is not None
    assert fast_mlp_step(cfg, G, D, opt_G, opt_D, loss, device=torch.device("cuda"),
                         conditional=False) is None
    assert fast_mlp_step(cfg, G, D, opt_G, opt_D, loss, device=CPU, conditional=True) is None
    assert fast_mlp_step(cfg, G, D, opt_G, opt_D, loss, **cpu, world_size=2) is None
    assert fast_mlp_step(cfg, G, nn.Sequential(D), opt_G, opt_D, loss, **cpu) is None
    assert fast_mlp_step(cfg, G.double(), D, opt_G, opt_D, loss, **cpu) is None


TINY = {"train.steps": 12, "train.epochs": 0, "train.log_every": 4, "train.tensorboard": False,
        "model.g_hidden": "48", "model.d_hidden": "40", "train.grid_size": 4,
        "train.batch_size": 32, "train.n_critic": 2}


def _run(tmp_path, name, monkeypatch, **overrides):
    calls = []
    real_call = FastMLPStep.__call__
    monkeypatch.setattr(FastMLPStep, "__call__",
                        lambda self, *a, **k: calls.append(a[2]) or real_call(self, *a, **k))
    run_dir = run_training(resolve("seed-mlp", overrides={**TINY, **overrides}), tmp_path / name,
                    progress=False, echo=lambda *a, **k: None)
    records = [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines()]
    state = torch.load(sorted((run_dir / "checkpoints").glob("*.pt"))[-1], weights_only=True)
    return calls, records, state


@pytest.mark.skipif(not speed_on(), reason="GANKIT_SPEED=0: no hand-written step in a run")
def test_loop_trains_the_same_with_either_step(tmp_path, monkeypatch):
    calls, fast_log, fast_state = _run(tmp_path, "fast", monkeypatch)
    # every step, G updated after the first of every two D updates (n_critic 2)
    assert calls == [True, False] * 6
    none, general_log, general_state = _run(tmp_path, "general", monkeypatch,
                                            **{"train.fast_mlp": False})
    assert none == []
    assert [r["step"] for r in fast_log] == [r["step"] for r in general_log] == [4, 8, 12]
    for ours, theirs in zip(fast_log, general_log):
        for key in ("loss_d", "loss_g", "d_real", "d_fake"):
            assert ours[key] == pytest.approx(theirs[key], abs=1e-4), key
    for net in ("G", "D"):
        for name, value in fast_state[net].items():
            torch.testing.assert_close(value, general_state[net][name], atol=1e-4, rtol=0)

