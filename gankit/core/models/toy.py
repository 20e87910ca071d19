"""Fully connected G/D for 2-D points (the ring/grid mode-collapse benchmarks).

As in PacGAN's 2-D experiments (Lin et al. 2018, after VEEGAN): G maps a low-dimensional
z through ReLU layers (4 x 128 in the ``toy-pacgan`` preset) to a point, with a *linear*
output (the data are in their own units, up to +-4, so ``model.output`` is not used); D is
an MLP on one point, or on m points concatenated when packed (``model.pack``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gankit.core.models.registry import MODELS, options

# The toy sets lie within +-4.2 (grid25; ring8 within +-2.1). G's output is multiplied by this,
# so that G's default initialisation reaches the outer modes.
POINT_SCALE = 4.0
# D's first layer is initialised so that its units' kinks cross the data: unit k computes
# w_k . (x - c_k) with c_k uniform in the box +-DATA_SPAN and w_k ~ N(0, D_SLOPE² I) (raw
# units). PyTorch's default puts every kink within ~1 of the origin with slopes ~0.5, and D
# then needs many thousands of steps to grow bumps as narrow as the modes (sigma 0.02-0.05);
# without them it stays at 0.5 while G spreads points over the whole square.
DATA_SPAN = 5.0
D_SLOPE = 5.0
# D's logit is its last layer's output times this fixed gain. With the steep first layer its
# hidden units reach tens, and a plain last layer shrinks to weights ~0.004 that Adam (steps
# ~lr, whatever a weight's size) moves by ~10 % a step: D's output turned noisy and, on some
# seeds, D flattened to 0.5 everywhere while G kept lines between modes. With the gain the
# last layer's weights stay ~30x larger (the function class and R1 are unchanged).
D_OUT_SCALE = 0.03


def _mlp(width_in: int, hidden: tuple[int, ...], width_out: int, activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        act = nn.LeakyReLU(0.2) if activation == "leaky_relu" else nn.ReLU()
        layers += [nn.Linear(width_in, h), act]
        width_in = h
    layers.append(nn.Linear(width_in, width_out))
    return nn.Sequential(*layers)


class PointGenerator(nn.Module):
    """z (B, latent_dim) -> points (B, D), ReLU hidden layers, linear output."""

    def __init__(self, latent_dim: int, hidden: tuple[int, ...], point_shape: tuple[int, ...]):
        super().__init__()
        self.latent_dim, self.point_shape = latent_dim, tuple(point_shape)
        self.model = _mlp(latent_dim, hidden, math.prod(point_shape), "relu")

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (self.model(z) * POINT_SCALE).view(z.shape[0], *self.point_shape)


class PointDiscriminator(nn.Module):
    """points (B, D) -> logits (B,), in raw units (first layer: see ``D_SLOPE``)."""

    def __init__(self, hidden: tuple[int, ...], point_shape: tuple[int, ...],
                 activation: str = "relu"):
        super().__init__()
        self.point_shape = tuple(point_shape)
        self.model = _mlp(math.prod(point_shape), hidden, 1, activation)
        first = self.model[0]
        with torch.no_grad():
            first.weight.normal_(0.0, D_SLOPE)
            centres = (torch.rand(first.weight.shape) * 2 - 1) * DATA_SPAN
            first.bias.copy_(-(first.weight * centres).sum(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.point_shape:
            raise ValueError(f"expected points of shape (B, {', '.join(map(str, self.point_shape))})"
                             f", got {tuple(x.shape)}")
        return self.model(x.flatten(1)).squeeze(1) * D_OUT_SCALE


@MODELS.register("toy-mlp", "fully connected G/D for 2-D points (ring8, grid25): ReLU layers "
                 "of model.g_hidden/d_hidden, linear output (PacGAN/VEEGAN setup)",
                 options=options("g_hidden", "d_hidden", "d_activation"))
def build_toy_mlp(cfg, shape, num_classes=0):
    if len(shape) != 1:
        raise ValueError(f"toy-mlp models 2-D points (ring8, grid25), not images of shape "
                         f"{tuple(shape)}; use mlp or dcgan for images")
    return (PointGenerator(cfg.latent_dim, tuple(cfg.g_hidden), shape),
            PointDiscriminator(tuple(cfg.d_hidden), shape, cfg.d_activation))
