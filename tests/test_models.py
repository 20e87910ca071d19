"""Generators and discriminators: shapes, sizes, output ranges, initialisation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gankit.config import ModelConfig, preset
from gankit.errors import UserError
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
    with pytest.raises(UserError, match="conv models need"):
        build_models(_cfg("dcgan"), shape)


def test_discriminator_checks_its_input_shape():
    _, D = build_models(_cfg("mlp"), (1, 28, 28))
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 1, 28, 28\)"):
        D(torch.zeros(2, 3, 28, 28))


def test_unknown_model_is_a_user_error():
    with pytest.raises(UserError, match="unknown model 'vit'"):
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
