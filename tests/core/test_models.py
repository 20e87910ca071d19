"""Generators and discriminators: shapes, sizes, output ranges, initialisation."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from gankit.config import ModelConfig, preset
from gankit.core.models import MODELS, build_models, count_parameters


def _cfg(name, **kw):
    # narrow conv nets keep the tests fast; widths do not change the shape logic
    defaults = {"g_channels": 8, "d_channels": 8} if name == "dcgan" else {}
    return ModelConfig(name=name, **{**defaults, **kw})


@pytest.mark.parametrize("name", ["mlp", "dcgan"])
@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes(name, size, channels):
    torch.manual_seed(0)
    G, D = build_models(_cfg(name), (channels, size, size))
    z = torch.randn(3, 100)
    images = G(z)
    assert images.shape == (3, channels, size, size)
    assert images.dtype == torch.float32
    assert images.abs().max() <= 1  # tanh output
    logits = D(images)
    assert logits.shape == (3,)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", ["mlp", "dcgan"])
def test_default_dcgan_widths_and_latent_dim(name):
    G, D = build_models(ModelConfig(name=name, latent_dim=16), (1, 28, 28))
    G.eval()
    assert G(torch.randn(2, 16)).shape == (2, 1, 28, 28)
    assert D(torch.zeros(2, 1, 28, 28)).shape == (2,)
    with pytest.raises(RuntimeError):
        G(torch.randn(2, 100))  # the latent size is part of the architecture


@pytest.mark.parametrize("shape", [(1, 30, 30), (3, 48, 48), (1, 20, 20), (1, 7, 7), (1, 28, 32)])
def test_conv_models_reject_sizes_they_cannot_make(shape):
    with pytest.raises(ValueError, match="conv models need"):
        build_models(_cfg("dcgan"), shape)


def test_discriminator_checks_its_input_shape():
    _, D = build_models(_cfg("mlp"), (1, 28, 28))
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 1, 28, 28\)"):
        D(torch.zeros(2, 3, 28, 28))


def test_unknown_model_is_a_value_error():
    with pytest.raises(ValueError, match="unknown model 'vit'"):
        build_models(ModelConfig(name="vit"), (1, 28, 28))
    assert {"mlp", "dcgan"} <= set(MODELS)


def test_sigmoid_output_is_in_unit_range():
    G, _ = build_models(ModelConfig(name="mlp", g_hidden=(32,), output="sigmoid"), (1, 28, 28))
    images = G(torch.randn(64, 100) * 10)
    assert images.min() >= 0 and images.max() <= 1
    assert images.min() < 0.5 < images.max()


def test_seed_mlp_layers_match_the_tutorial():
    """Same layer names and shapes as the tutorial's nn.Sequential, so its weights load."""
    G, D = build_models(preset("seed-mlp").model, (1, 28, 28))
    g_shapes = {k: tuple(v.shape) for k, v in G.state_dict().items()}
    assert g_shapes == {
        "model.0.weight": (256, 100), "model.0.bias": (256,),
        "model.2.weight": (512, 256), "model.2.bias": (512,),
        "model.4.weight": (1024, 512), "model.4.bias": (1024,),
        "model.6.weight": (784, 1024), "model.6.bias": (784,),
    }
    d_shapes = {k: tuple(v.shape) for k, v in D.state_dict().items()}
    assert d_shapes == {
        "model.0.weight": (512, 784), "model.0.bias": (512,),
        "model.2.weight": (256, 512), "model.2.bias": (256,),
        "model.4.weight": (1, 256), "model.4.bias": (1,),
    }
    assert isinstance(G.model[1], nn.ReLU) and isinstance(G.model[7], nn.Tanh)
    assert isinstance(D.model[1], nn.LeakyReLU) and D.model[1].negative_slope == 0.2
    assert count_parameters(G) == 1_486_352 and count_parameters(D) == 533_505


def _layers(*modules):
    return [m for net in modules for m in net.modules()
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))]


def test_glorot_init_gives_zero_biases_and_glorot_bounds():
    torch.manual_seed(0)
    G, D = build_models(preset("seed-keras").model, (1, 28, 28))
    layers = _layers(G, D)
    assert len(layers) == 4
    for layer in layers:
        assert torch.count_nonzero(layer.bias) == 0
        fan_out, fan_in = layer.weight.shape
        bound = math.sqrt(6 / (fan_in + fan_out))
        assert layer.weight.abs().max() <= bound
        assert layer.weight.abs().max() > 0.9 * bound  # uniform over the whole range


def test_default_init_keeps_pytorch_biases():
    torch.manual_seed(0)
    G, D = build_models(preset("seed-tutorial").model, (1, 28, 28))
    assert all(torch.count_nonzero(layer.bias) > 0 for layer in _layers(G, D))


def test_dcgan_init_is_normal_0_02():
    torch.manual_seed(0)
    G, D = build_models(ModelConfig(name="dcgan", init="dcgan"), (1, 28, 28))
    weights = torch.cat([layer.weight.flatten() for layer in _layers(G, D)])
    assert abs(weights.mean().item()) < 2e-3
    assert weights.std().item() == pytest.approx(0.02, rel=0.05)
    for layer in _layers(G, D):
        if layer.bias is not None:
            assert torch.count_nonzero(layer.bias) == 0
    norms = [m for m in G.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms
    for norm in norms:
        assert torch.count_nonzero(norm.bias) == 0
        assert (norm.weight - 1).abs().max() < 0.15


def test_dcgan_discriminator_has_no_batch_norm():
    _, D = build_models(_cfg("dcgan"), (3, 32, 32))
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules())
    # so one sample's logit does not depend on the rest of its batch
    x = torch.randn(4, 3, 32, 32)
    assert torch.allclose(D(x)[:1], D(x[:1]), atol=1e-6)


# --- the oneDNN products, an explicit setting of each layer and step -------------------------

@pytest.fixture
def onednn_calls(monkeypatch):
    """A list that grows by one at every call of PyTorch's private oneDNN linear operator."""
    from gankit.core.models.linear import onednn_available

    if not onednn_available():
        pytest.skip("this PyTorch build has no oneDNN linear")
    calls = []
    op = torch.ops.mkldnn._linear_pointwise
    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise",
                        lambda *args: calls.append(1) or op(*args))
    return calls


def _linear_results(x, layer):
    x = x.detach().clone().requires_grad_(True)
    out = layer(x)
    grads = torch.autograd.grad(out.pow(2).sum(), (x, layer.weight, layer.bias))
    return [out.detach(), *grads]


def _fast_steps(G, D, onednn, steps=2):
    """Statistics and final weights of ``steps`` hand-written MLP steps on fixed batches,
    their products by oneDNN or not."""
    import copy

    from gankit.core.losses import get_loss
    from gankit.speed.fast_mlp import FastMLPStep, layers_of

    G, D = copy.deepcopy(G), copy.deepcopy(D)
    opt_G = torch.optim.Adam(G.parameters(), lr=2e-4)
    opt_D = torch.optim.Adam(D.parameters(), lr=2e-4)
    step = FastMLPStep(layers_of(G), layers_of(D), opt_G, opt_D, get_loss("bce"), onednn)
    generator = torch.Generator().manual_seed(1)
    stats = []
    for _ in range(steps):
        real = torch.rand(64, 1, 28, 28, generator=generator) * 2 - 1
        stats.append(step(real, torch.randn(64, 100, generator=generator)))
    return stats, [p.detach() for net in (G, D) for p in net.parameters()]


def test_onednn_setting_gives_the_same_results_without_onednn(onednn_calls):
    """A layer or step asked for oneDNN products calls oneDNN's operator; one that is not
    (the default of a layer) never does; both agree to float32 rounding."""
    from gankit.core.models.linear import Linear

    torch.manual_seed(0)
    x = torch.randn(32, 48)
    layer = Linear(48, 40, onednn=True)
    G, D = build_models(preset("seed-mlp").model, (1, 28, 28))
    fast_on, linear_on = _fast_steps(G, D, onednn=True), _linear_results(x, layer)
    assert onednn_calls  # the counter sees the operator when asked for
    onednn_calls.clear()
    layer.onednn = False
    fast_off, linear_off = _fast_steps(G, D, onednn=False), _linear_results(x, layer)
    assert "OneDNN" not in type(layer(x.requires_grad_(True)).grad_fn).__name__
    assert onednn_calls == []
    for on, off in zip(linear_on, linear_off):
        torch.testing.assert_close(off, on, atol=1e-5, rtol=0)
    for on, off in zip(fast_on[0], fast_off[0]):
        assert on.keys() == off.keys()
        for key in on:
            torch.testing.assert_close(off[key], on[key], atol=1e-5, rtol=0, msg=key)
    for on, off in zip(fast_on[1], fast_off[1]):
        torch.testing.assert_close(off, on, atol=1e-5, rtol=0)


def test_built_networks_multiply_as_nn_linear_until_told_otherwise(onednn_calls):
    """The model builder makes plain layers: no process-wide switch, no environment
    variable (GANKIT_ONEDNN is the speed machinery's) turns oneDNN on in core; two layers
    in one process may multiply differently."""
    import os
    import subprocess
    import sys

    from gankit.core.models.linear import Linear

    G, D = build_models(preset("seed-mlp").model, (1, 28, 28))
    layers = [m for net in (G, D) for m in net.modules() if isinstance(m, Linear)]
    assert layers and not any(layer.onednn for layer in layers)
    D(torch.randn(64, 1, 28, 28))
    assert onednn_calls == []
    on, off = Linear(48, 40, onednn=True), Linear(48, 40)
    on(torch.randn(32, 48))
    off(torch.randn(32, 48))
    assert len(onednn_calls) == 1 and "onednn=True" in repr(on)
    code = ("from gankit.core.models.linear import Linear; "
            "print(Linear(4, 4).onednn, Linear(4, 4, onednn=True).onednn)")
    for value in ("0", "1"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env={**os.environ, "GANKIT_ONEDNN": value}, check=True).stdout
        assert out.split() == ["False", "True"]


def test_mlp_d_dropout_drops_hidden_units_in_training_only():
    """model.d_dropout puts Dropout after each hidden activation: two training passes of the
    same batch differ, eval passes do not, and the parameters are the tutorial's."""
    cfg = replace(preset("seed-mlp").model, d_dropout=0.3)
    _, D = build_models(cfg, (1, 28, 28))
    drops = [m for m in D.modules() if isinstance(m, nn.Dropout)]
    assert [m.p for m in drops] == [0.3, 0.3] and count_parameters(D) == 533_505
    x = torch.randn(16, 1, 28, 28)
    D.train()
    assert not torch.equal(D(x), D(x))
    D.eval()
    assert torch.equal(D(x), D(x))


def test_mlp_d_spectral_norm_bounds_every_layer():
    """model.d_norm=spectral on the mlp D: each layer's weight has spectral norm ~1."""
    torch.manual_seed(0)
    _, D = build_models(replace(preset("seed-mlp").model, d_norm="spectral"), (1, 28, 28))
    D.train()
    for _ in range(20):  # power iterations converge over forward passes
        D(torch.randn(8, 1, 28, 28))
    linears = [m for m in D.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 3
    for layer in linears:
        assert torch.linalg.matrix_norm(layer.weight.detach(), ord=2) == pytest.approx(1, abs=0.05)


@pytest.mark.parametrize("change, message", [
    (dict(d_norm="batch"), "must be none or spectral"),
])
def test_mlp_d_rejects_batch_norm(change, message):
    with pytest.raises(ValueError, match=message):
        MODELS.get("mlp").validate(replace(preset("seed-mlp").model, **change))


@pytest.mark.parametrize("literal, stable, g_params, d_params", [
    ("seed-mlp", "seed-mlp-stable", 1_486_352, 533_505),
    ("seed-tutorial", "seed-tutorial-stable", 114_064, 100_609),
])
def test_stable_seed_presets_keep_the_tutorials_networks(literal, stable, g_params, d_params):
    """The remedies change training, not the networks: G is the tutorial's, layer for layer,
    and D is the tutorial's plus one input to its last layer (the minibatch std-dev)."""
    G_lit, D_lit = build_models(preset(literal).model, (1, 28, 28))
    G, D = build_models(preset(stable).model, (1, 28, 28))
    assert count_parameters(G_lit) == count_parameters(G) == g_params
    assert {k: v.shape for k, v in G.state_dict().items()} == \
        {k: v.shape for k, v in G_lit.state_dict().items()}
    assert count_parameters(D_lit) == d_params and count_parameters(D) == d_params + 1
