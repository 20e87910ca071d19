"""ResNet G and D in the style of SNGAN (Miyato et al. 2018, appendix B.4; Gulrajani et al.
2017) for 28/32/64 px images.

G: z -> Linear -> base x base -> one up-block per halving (BN, ReLU, nearest x2, conv3x3,
BN, ReLU, conv3x3, plus a 1x1 shortcut) -> BN, ReLU, conv3x3, tanh|sigmoid.
D: an "optimised" first down-block, more down-blocks until the side is <= 8, two plain
blocks, ReLU, global sum pooling, linear. ``model.d_norm=spectral`` (what the sngan-hinge
preset sets) spectral-normalises every D layer. Widths are ``model.g_channels`` and
``model.d_channels``; SNGAN's CIFAR-10 nets use 256 and 128.
Conditional (``model.conditional``): one-hot class appended to z in G, projection in D,
as in :mod:`gankit.core.models.dcgan`; ``model.aux_classifier`` gives an ACGAN head instead.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gankit.core.models.conditioning import Projection, discriminator_output, with_class
from gankit.core.models.dcgan import CONV_OPTIONS, generator_geometry, halvings, spectral
from gankit.core.models.layers import MinibatchStdDev
from gankit.core.models.registry import MODELS, check_images, output_activation


class GBlock(nn.Module):
    """(B, c_in, s, s) -> (B, c_out, 2s, 2s)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.residual = nn.Sequential(
            nn.BatchNorm2d(c_in), nn.ReLU(), nn.Upsample(scale_factor=2),
            nn.Conv2d(c_in, c_out, 3, 1, 1), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, 1, 1))
        self.shortcut = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(F.interpolate(x, scale_factor=2))


class DBlock(nn.Module):
    """(B, c_in, s, s) -> (B, c_out, s/2 or s, ...); ``first`` is SNGAN's optimised block
    (no ReLU before the first conv, shortcut pools before its 1x1 conv)."""

    def __init__(self, c_in: int, c_out: int, down: bool, first: bool, sn: bool):
        super().__init__()
        wrap = spectral if sn else (lambda layer: layer)
        self.down, self.first = down, first
        self.conv1 = wrap(nn.Conv2d(c_in, c_out, 3, 1, 1))
        self.conv2 = wrap(nn.Conv2d(c_out, c_out, 3, 1, 1))
        self.shortcut = wrap(nn.Conv2d(c_in, c_out, 1)) if (c_in != c_out or down) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        if self.down:
            h = F.avg_pool2d(h, 2)
        s = x
        if self.shortcut is not None:
            if self.first:
                s = self.shortcut(F.avg_pool2d(s, 2) if self.down else s)
            else:
                s = self.shortcut(s)
                s = F.avg_pool2d(s, 2) if self.down else s
        return h + s


class ResNetGenerator(nn.Module):
    """z (B, latent_dim) [and class labels (B,)] -> images (B, C, H, W)."""

    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int], channels: int = 64,
                 output: str = "tanh", num_classes: int = 0):
        super().__init__()
        c, n_up, self.base = generator_geometry(image_shape)
        self.latent_dim, self.image_shape, self.num_classes = latent_dim, image_shape, num_classes
        self.project = nn.Sequential(
            nn.Linear(latent_dim + num_classes, channels * self.base ** 2),
            nn.Unflatten(1, (channels, self.base, self.base)))
        self.blocks = nn.Sequential(*[GBlock(channels, channels) for _ in range(n_up)])
        self.out = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(),
                                 nn.Conv2d(channels, c, 3, 1, 1), output_activation(output))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(self.blocks(self.project(with_class(z, labels, self.num_classes))))


class ResNetDiscriminator(nn.Module):
    """images (B, C, H, W) [and class labels (B,)] -> logits (B,), or (B, 1 + K) with an
    auxiliary classifier."""

    def __init__(self, image_shape: tuple[int, int, int], channels: int = 64, norm: str = "none",
                 num_classes: int = 0, mbstd: bool = False, aux_classes: int = 0):
        super().__init__()
        check_norm(norm)
        c, side, _ = image_shape
        halvings(side)  # same sizes as the other conv models
        self.image_shape = image_shape
        sn = norm == "spectral"
        blocks: list[nn.Module] = [DBlock(c, channels, down=True, first=True, sn=sn)]
        side //= 2
        while side > 8 and side % 2 == 0:
            blocks.append(DBlock(channels, channels, down=True, first=False, sn=sn))
            side //= 2
        width = channels
        if mbstd:
            blocks.append(MinibatchStdDev())
            width += 1
        blocks += [DBlock(width, channels, down=False, first=False, sn=sn),
                   DBlock(channels, channels, down=False, first=False, sn=sn)]
        self.blocks = nn.Sequential(*blocks)
        wrap = spectral if sn else (lambda layer: layer)
        self.head = wrap(nn.Linear(channels, 1))
        self.num_classes = num_classes
        self.projection = Projection(num_classes, channels) if num_classes else None
        self.aux_classes = aux_classes
        self.aux = wrap(nn.Linear(channels, aux_classes)) if aux_classes else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        check_images(x, self.image_shape)
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))  # global sum pooling, (B, channels)
        return discriminator_output(h, self.head, self.projection, self.aux, labels)


def check_norm(norm: str) -> None:
    """The residual D has no BatchNorm variant (its blocks are SNGAN's)."""
    if norm == "batch":
        raise ValueError("model resnet supports d_norm none or spectral, not batch")


@MODELS.register("resnet", "SNGAN-style ResNet G/D for 28/32/64 px (widths g_channels/"
                 "d_channels; spectral norm with model.d_norm=spectral); conditional like dcgan",
                 options=CONV_OPTIONS, check=lambda cfg: check_norm(cfg.d_norm))
def build_resnet(cfg, image_shape, num_classes=0):
    classes = num_classes if cfg.conditional else 0
    aux = classes if cfg.aux_classifier else 0
    return (ResNetGenerator(cfg.latent_dim, image_shape, cfg.g_channels, cfg.output, classes),
            ResNetDiscriminator(image_shape, cfg.d_channels, cfg.d_norm, 0 if aux else classes,
                                mbstd=cfg.mbstd, aux_classes=aux))
