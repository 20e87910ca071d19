"""The model registry and weight initialisation shared by all architectures."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from gankit.registry import Registry

# name -> builder(model_cfg, image_shape, num_classes) -> (G, D)
MODELS: Registry[Callable] = Registry("model")

# The model options that only some architectures read, for their entries' ``options``.
OPTION_HELP = {
    "g_hidden": "hidden widths of G",
    "d_hidden": "hidden widths of D",
    "d_activation": "D's activation: leaky_relu (slope 0.2) or relu",
    "g_channels": "channels of G's last hidden layer",
    "d_channels": "channels of D's first layer",
    "d_norm": "D's normalisation: none, batch or spectral",
    "output": "G's last activation: tanh for [-1, 1] data, sigmoid for [0, 1]",
    "conditional": "condition G and D on the data's class labels",
    "mbstd": "minibatch standard-deviation feature before D's head",
    "d_dropout": "dropout after each of D's hidden layers (0: none)",
    "aux_classifier": "ACGAN class head in D instead of the projection",
}


def options(*names: str) -> dict[str, str]:
    """The ``options`` schema of an entry that reads the model options ``names``."""
    return {name: OPTION_HELP[name] for name in names}


def initialise(module: nn.Module, scheme: str) -> None:
    """Re-initialise weights in place.

    "default" keeps PyTorch's; "glorot" is Keras' Dense default (Glorot-uniform, zero bias);
    "dcgan" is Radford et al. 2015: N(0, 0.02) weights, BatchNorm scale N(1, 0.02).
    """
    if scheme == "default":
        return
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            # A spectral-normalised layer computes .weight; initialise what it normalises.
            parametrized = getattr(layer, "parametrizations", None)
            weight = parametrized.weight.original if parametrized is not None else layer.weight
            if scheme == "glorot":
                nn.init.xavier_uniform_(weight)
            else:
                nn.init.normal_(weight, 0.0, 0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)) and scheme == "dcgan":
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)


def build_models(model_cfg, image_shape: tuple[int, int, int], num_classes: int = 0
                 ) -> tuple[nn.Module, nn.Module]:
    """Build (G, D) for images of ``image_shape`` = (C, H, W), initialised per the config.

    An unknown model name, options the model rejects (its entry's check) and image shapes
    it cannot make raise ``ValueError``.
    """
    entry = MODELS.get(model_cfg.name)
    entry.validate(model_cfg)
    builder = entry.factory
    generator, discriminator = builder(model_cfg, tuple(image_shape), num_classes)
    pack = model_cfg.pack
    if pack > 1:  # PacGAN: D is built for m samples stacked on the first axis, then wrapped
        from gankit.core.models.packing import Packed, packed_shape

        discriminator = Packed(builder(model_cfg, packed_shape(tuple(image_shape), pack),
                                       num_classes)[1], pack)
    initialise(generator, model_cfg.init)
    initialise(discriminator, model_cfg.init)
    return generator, discriminator


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def output_activation(name: str) -> nn.Module:
    return nn.Tanh() if name == "tanh" else nn.Sigmoid()


def check_images(x: torch.Tensor, shape: tuple[int, int, int]) -> None:
    if x.dim() != 4 or tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(f"expected images of shape (B, {shape[0]}, {shape[1]}, {shape[2]}), "
                         f"got {tuple(x.shape)}")
