"""Stacked MNIST: three random digits in the three channels of one image, 1,000 modes.

Built from the embedded ``mnist5k`` digits (Metz et al. 2017, unrolled GANs; Lin et al.
2018, PacGAN). Image i stacks digits (d1, d2, d3) in channels (R, G, B); its label is
``100 * d1 + 10 * d2 + d3``. A fixed seed makes the same set every time; ``train=False``
stacks a different draw of the same digits.
"""

from __future__ import annotations

import torch

from gankit.data.registry import ImageData, register

NUM_IMAGES = 25_000


def stack_digits(images: torch.Tensor, labels: torch.Tensor, n: int, seed: int
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack 3 random digits per image.

    images: uint8 (M, 1, 28, 28); labels: int64 (M,). Returns uint8 (n, 3, 28, 28) and
    labels (n,) in 0..999.
    """
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randint(len(images), (n, 3), generator=generator)
    stacked = images[rows.flatten(), 0].view(n, 3, *images.shape[-2:])
    digits = labels[rows]
    return stacked.contiguous(), digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]


@register("stacked-mnist", "3 random mnist5k digits in 3 channels, 28x28 RGB, 25,000 images, "
          "1,000 modes (label 100*d1 + 10*d2 + d3); no files")
def load_stacked_mnist(root: str = "", train: bool = True, download: bool = False) -> ImageData:
    """25,000 images (N, 3, 28, 28) uint8 and labels (N,) in 0..999."""
    from gankit.data.embedded import load_mnist5k

    digits = load_mnist5k()
    images, labels = stack_digits(digits.samples, digits.labels, NUM_IMAGES,
                                  seed=0 if train else 1)
    return ImageData(name="stacked-mnist", samples=images, labels=labels, num_classes=1000)
