"""Data sets by name, and the conversion of any of them to the requested size and channels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from gankit.errors import UserError


@dataclass
class ImageData:
    """A whole data set in memory.

    images: uint8 tensor, shape (N, C, H, W), values 0..255; or, when ``kind`` is
    "points" (the 2-D toy sets), float32 points (N, D) in data units, used as they are.
    labels: int64 tensor, shape (N,), or None when the source has no classes.
    """

    name: str
    images: torch.Tensor
    labels: torch.Tensor | None
    num_classes: int
    kind: str = "images"  # "images" or "points"

    def __post_init__(self) -> None:
        if self.kind == "points":
            assert self.images.dtype == torch.float32 and self.images.dim() == 2, self.images.shape
        else:
            assert self.kind == "images", self.kind
            assert self.images.dtype == torch.uint8 and self.images.dim() == 4, self.images.shape
        if self.labels is not None:
            assert self.labels.shape == (self.images.shape[0],), self.labels.shape

    @property
    def shape(self) -> tuple[int, ...]:
        """(C, H, W) of one image; (D,) of one point."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]


# name -> (loader(root, train, download) -> ImageData, one-line description)
DATASETS: dict[str, tuple[Callable[..., ImageData], str]] = {}


def register(name: str, description: str):
    def wrap(fn):
        DATASETS[name] = (fn, description)
        return fn
    return wrap


def _convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    have = images.shape[1]
    if channels in (0, have):
        return images
    if have == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    if have == 3 and channels == 1:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    raise UserError(f"cannot turn {have}-channel images into {channels} channels")


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    if size == 0 or images.shape[-2:] == (size, size):
        return images
    out = []
    for chunk in images.split(2048):  # bounded memory for large sets
        resized = F.interpolate(chunk.float(), size=(size, size), mode="bilinear",
                                antialias=True, align_corners=False)
        out.append(resized.round().clamp(0, 255).to(torch.uint8))
    return torch.cat(out)


def load_dataset(data_cfg, train: bool = True) -> ImageData:
    """Load ``data_cfg.name`` (a registered name or a folder) at the configured size.

    Returns an :class:`ImageData` with images of shape (N, C, image_size, image_size).
    """
    name = data_cfg.name
    if name in DATASETS:
        loader, _ = DATASETS[name]
        data = loader(root=data_cfg.root, train=train, download=data_cfg.download)
        if data.kind == "points":  # 2-D toy sets: nothing to resize or convert
            if data_cfg.image_size or data_cfg.channels:
                raise UserError(f"{name} holds 2-D points, not images: leave "
                                f"data.image_size and data.channels at 0")
            return data
        images = _resize(data.images, data_cfg.image_size)
    else:
        path = Path(name).expanduser()
        if not path.exists():
            raise UserError(f"unknown data set {name!r}: not a folder, and not one of "
                            f"{', '.join(sorted(DATASETS))}")
        from gankit.data.folder import load_folder

        data = load_folder(path, image_size=data_cfg.image_size)
        images = data.images
    images = _convert_channels(images, data_cfg.channels)
    if images.shape[0] == 0:
        raise UserError(f"data set {name!r} holds no images")
    return ImageData(name=data.name, images=images, labels=data.labels,
                     num_classes=data.num_classes)


# Import the sources so that they register themselves.
from gankit.data import embedded, torchvision_sets, toy2d, stacked  # noqa: E402,F401
