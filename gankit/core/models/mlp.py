"""The tutorial's fully connected networks (§4, §5, §6), layer for layer.

Layer names match the tutorial's ``self.model = nn.Sequential(...)``, so a state dict saved
from the tutorial's script loads into these modules unchanged. The layers are
:class:`~gankit.core.models.linear.Linear`: ``nn.Linear`` whose products the speed machinery may
send to oneDNN on the CPU (faster, same function; :mod:`gankit.speed.products`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gankit.core.models.layers import MinibatchStdDev
from gankit.core.models.linear import Linear
from gankit.core.models.registry import MODELS, check_images, options, output_activation


class MLPGenerator(nn.Module):
    """z (B, latent_dim) -> images (B, C, H, W) through Linear/ReLU layers and tanh|sigmoid."""

    def __init__(self, latent_dim: int, hidden: tuple[int, ...], image_shape: tuple[int, int, int],
                 output: str = "tanh"):
        super().__init__()
        self.latent_dim, self.image_shape = latent_dim, image_shape
        layers: list[nn.Module] = []
        width = latent_dim
        for h in hidden:
            layers += [Linear(width, h), nn.ReLU()]
            width = h
        layers += [Linear(width, math.prod(image_shape)), output_activation(output)]
        self.model = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z).view(z.shape[0], *self.image_shape)


class MLPDiscriminator(nn.Module):
    """images (B, C, H, W) -> logits (B,); the tutorial's final Sigmoid is in the loss.

    ``dropout``: after each hidden activation, as in Goodfellow et al. 2014's MLP D (it keeps
    D from memorising a small set); ``norm="spectral"``: every layer spectrally normalised
    (Miyato et al. 2018). Either makes the run take the general step, not the hand-written one.
    """

    def __init__(self, hidden: tuple[int, ...], image_shape: tuple[int, int, int],
                 activation: str = "leaky_relu", mbstd: bool = False, dropout: float = 0.0,
                 norm: str = "none"):
        super().__init__()
        self.image_shape = image_shape
        wrap = (nn.utils.parametrizations.spectral_norm if norm == "spectral"
                else (lambda layer: layer))
        layers: list[nn.Module] = []
        width = math.prod(image_shape)
        for h in hidden:
            act = nn.LeakyReLU(0.2) if activation == "leaky_relu" else nn.ReLU()
            layers += [wrap(Linear(width, h)), act]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        if mbstd:  # model.mbstd: one more feature before the output (Karras et al. 2018)
            layers.append(MinibatchStdDev())
            width += 1
        layers.append(wrap(Linear(width, 1)))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, self.image_shape)
        return self.model(x.flatten(1)).squeeze(1)


def check_mlp(cfg) -> None:
    """The fully connected D has no class head to put an ACGAN classifier on, and its
    normalisation is none or spectral (batch statistics would mix real and fake rows)."""
    if cfg.aux_classifier:
        raise ValueError("model.aux_classifier needs a conv model (dcgan, resnet, acgan)")
    if cfg.d_norm not in ("none", "spectral"):
        raise ValueError(f"model.d_norm of the mlp model must be none or spectral, not "
                         f"{cfg.d_norm!r}")


@MODELS.register("mlp", "fully connected G/D of the tutorial (widths from model.g_hidden/d_hidden)",
                 options=options("g_hidden", "d_hidden", "d_activation", "output", "mbstd",
                                 "d_dropout", "d_norm"),
                 check=check_mlp)
def build_mlp(cfg, image_shape, num_classes=0):
    return (MLPGenerator(cfg.latent_dim, tuple(cfg.g_hidden), image_shape, cfg.output),
            MLPDiscriminator(tuple(cfg.d_hidden), image_shape, cfg.d_activation, cfg.mbstd,
                             cfg.d_dropout, cfg.d_norm))
