"""DCGAN (Radford et al. 2015) for square images whose side halves down to 7 or 4 px.

28 px: G 7 -> 14 -> 28, D 28 -> 14 -> 7 (two conv layers each side);
32 px: 4 -> 8 -> 16 -> 32; 64 px: 4 -> ... -> 64.
G uses BatchNorm; D by default does not, so real and fake can share one forward pass
(``model.d_norm=batch`` gives Radford et al.'s D, fed real and fake separately).
"""

from __future__ import annotations

import torch
from torch import nn

from gankit.core.models.conditioning import Projection, discriminator_output, with_class
from gankit.core.models.layers import MinibatchStdDev
from gankit.core.models.registry import MODELS, check_images, options, output_activation


def spectral(layer: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018): the layer's largest singular value is 1."""
    return nn.utils.parametrizations.spectral_norm(layer)


def square_side(image_shape: tuple[int, int, int]) -> int:
    """The side of square (C, S, S) images; conv models refuse other shapes."""
    _, h, w = image_shape
    if h != w:
        raise ValueError(f"conv models need square images, not {h}x{w}")
    return h


def generator_geometry(image_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """(channels, number of 2x upsamplings, base side) of a conv G for (C, S, S) images."""
    side = square_side(image_shape)
    n_up = halvings(side)
    return image_shape[0], n_up, side // 2 ** n_up


def halvings(size: int) -> int:
    """How many stride-2 layers take ``size`` down to a 7 or 4 px base."""
    count = 0
    while size > 7 and size % 2 == 0:
        size //= 2
        count += 1
    if size not in (4, 7) or count == 0:
        raise ValueError(f"conv models need an image side of 7 or 4 times a power of two "
                        f"(28, 32, 64, ...), not {size * 2 ** count}")
    return count


class DCGANGenerator(nn.Module):
    """z (B, latent_dim) [and class labels (B,)] -> images (B, C, H, W)."""

    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int], channels: int = 64,
                 output: str = "tanh", num_classes: int = 0):
        super().__init__()
        c, n_up, self.base = generator_geometry(image_shape)
        self.latent_dim, self.image_shape, self.num_classes = latent_dim, image_shape, num_classes
        widths = [channels * 2 ** (n_up - 1 - i) for i in range(n_up)]  # e.g. [128, 64]
        self.project = nn.Sequential(
            nn.Linear(latent_dim + num_classes, widths[0] * self.base ** 2, bias=False),
            nn.Unflatten(1, (widths[0], self.base, self.base)),
            nn.BatchNorm2d(widths[0]), nn.ReLU(),
        )
        layers: list[nn.Module] = []
        for w_in, w_out in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(w_out), nn.ReLU()]
        layers += [nn.ConvTranspose2d(widths[-1], c, 4, 2, 1), output_activation(output)]
        self.upsample = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.upsample(self.project(with_class(z, labels, self.num_classes)))


class DCGANDiscriminator(nn.Module):
    """images (B, C, H, W) [and class labels (B,)] -> logits (B,)."""

    def __init__(self, image_shape: tuple[int, int, int], channels: int = 64, norm: str = "none",
                 num_classes: int = 0, mbstd: bool = False, aux_classes: int = 0):
        super().__init__()
        c, h, _ = image_shape
        self.image_shape = image_shape
        n_down = halvings(h)
        base = h // 2 ** n_down
        layers: list[nn.Module] = []
        width_in = c
        for i in range(n_down):
            width_out = channels * 2 ** i
            conv = nn.Conv2d(width_in, width_out, 4, 2, 1, bias=not (norm == "batch" and i))
            layers += [spectral(conv) if norm == "spectral" else conv]
            if norm == "batch" and i:
                layers.append(nn.BatchNorm2d(width_out))
            layers.append(nn.LeakyReLU(0.2))
            width_in = width_out
        if mbstd:  # one more feature map before the head (Karras et al. 2018)
            layers.append(MinibatchStdDev())
            width_in += 1
        self.features = nn.Sequential(*layers)
        head = nn.Linear(width_in * base * base, 1)
        self.head = spectral(head) if norm == "spectral" else head
        self.num_classes = num_classes
        self.projection = Projection(num_classes, head.in_features) if num_classes else None
        # ACGAN (Odena et al. 2017): class logits from the same features; D then returns
        # (B, 1 + K), the adversarial logit first (see gankit.core.steps.judge_aux).
        self.aux_classes = aux_classes
        aux = nn.Linear(head.in_features, aux_classes) if aux_classes else None
        self.aux = spectral(aux) if aux is not None and norm == "spectral" else aux

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        check_images(x, self.image_shape)
        h = self.features(x).flatten(1)
        return discriminator_output(h, self.head, self.projection, self.aux, labels)


# What the conv models (dcgan, acgan, resnet) read besides latent_dim, init and pack.
CONV_OPTIONS = options("g_channels", "d_channels", "d_norm", "output", "conditional", "mbstd",
                       "aux_classifier")


@MODELS.register("dcgan", "DCGAN conv G (BatchNorm) and D (LeakyReLU) for 28/32/64 px images; "
                 "class-conditional (one-hot G, projection D) with model.conditional=true",
                 options=CONV_OPTIONS)
def build_dcgan(cfg, image_shape, num_classes=0):
    classes = num_classes if cfg.conditional else 0
    aux = classes if cfg.aux_classifier else 0  # ACGAN: no projection
    return (DCGANGenerator(cfg.latent_dim, image_shape, cfg.g_channels, cfg.output, classes),
            DCGANDiscriminator(image_shape, cfg.d_channels, cfg.d_norm, 0 if aux else classes,
                               mbstd=cfg.mbstd, aux_classes=aux))


@MODELS.register("acgan", "ACGAN (Odena et al. 2017): the conditional DCGAN G and a D with an "
                 "auxiliary classifier (no projection); same as dcgan with "
                 "model.aux_classifier=true", options=CONV_OPTIONS)
def build_acgan(cfg, image_shape, num_classes=0):
    from dataclasses import replace

    return build_dcgan(replace(cfg, conditional=True, aux_classifier=True), image_shape,
                       num_classes)
