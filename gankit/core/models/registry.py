"""The model registry and weight initialisation shared by all architectures."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from gankit.errors import UserError

# name -> (builder(model_cfg, image_shape, num_classes) -> (G, D), description)
MODELS: dict[str, tuple[Callable, str]] = {}


def register(name: str, description: str):
    def wrap(builder):
        MODELS[name] = (builder, description)
        return builder
    return wrap


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
    """Build (G, D) for images of ``image_shape`` = (C, H, W), initialised per the config."""
    if model_cfg.name not in MODELS:
        raise UserError(f"unknown model {model_cfg.name!r}; choose one of: "
                        f"{', '.join(sorted(MODELS))}")
    builder, _ = MODELS[model_cfg.name]
    generator, discriminator = builder(model_cfg, tuple(image_shape), num_classes)
    pack = getattr(model_cfg, "pack", 1)
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
