"""Data sets by name, and the conversion of any of them to the requested size and channels."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from gankit.errors import UserError
from gankit.registry import Registry


def is_points_shape(shape) -> bool:
    """Whether one sample's shape is that of a point (D,) rather than an image (C, H, W)."""
    return len(tuple(shape)) == 1


@dataclass
class ImageData:
    """A whole data set in memory.

    samples: uint8 tensor, shape (N, C, H, W), values 0..255; or, when ``kind`` is
    "points" (the 2-D toy sets), float32 points (N, D) in data units, used as they are.
    labels: int64 tensor, shape (N,), or None when the source has no classes.
    mapped: ``samples`` view a memory-mapped file (a prepared set), not memory of their own.
    note: one line the loader wants the user to see (e.g. how to load faster).
    class_names: the classes' names, label order, when the source names them.
    """

    name: str
    samples: torch.Tensor
    labels: torch.Tensor | None
    num_classes: int
    kind: str = "images"  # "images" or "points"
    mapped: bool = False
    note: str = ""
    class_names: tuple[str, ...] = ()  # when the source names its classes

    def __post_init__(self) -> None:
        if self.kind == "points":
            assert self.samples.dtype == torch.float32 and self.samples.dim() == 2, \
                self.samples.shape
        else:
            assert self.kind == "images", self.kind
            assert self.samples.dtype == torch.uint8 and self.samples.dim() == 4, \
                self.samples.shape
        if self.labels is not None:
            assert self.labels.shape == (self.samples.shape[0],), self.labels.shape

    @property
    def images(self) -> torch.Tensor:
        """``samples`` under its former name (images, or points for the 2-D toy sets)."""
        return self.samples

    @property
    def shape(self) -> tuple[int, ...]:
        """(C, H, W) of one image; (D,) of one point."""
        return tuple(self.samples.shape[1:])  # type: ignore[return-value]


# name -> (loader(root, train, download) -> ImageData, one-line description)
# name -> loader(root, train, download) -> ImageData
DATASETS: Registry = Registry("data set")
register = DATASETS.register


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


def _load_path(path: Path, image_size: int) -> ImageData:
    """A prepared data set (a folder with a manifest), or a folder of images: decoded here,
    with a note on how long that took and how to skip it next time."""
    from gankit.data.prepared import is_prepared, open_prepared

    if is_prepared(path):
        return open_prepared(path).to_image_data()
    from gankit.data.folder import load_folder

    started = time.perf_counter()
    data = load_folder(path, image_size=image_size)
    seconds = time.perf_counter() - started
    size = f" --image-size {image_size}" if image_size else ""
    data.note = (f"note: decoding the {len(data.samples):,} images of {path} took "
                 f"{seconds:.1f} s; prepared once (gankit data prepare {path}{size} --out DIR) "
                 f"the same set opens in well under a second (memory-mapped): --data DIR")
    return data


def load_dataset(data_cfg, train: bool = True) -> ImageData:
    """Load ``data_cfg.name`` (a registered name, a prepared data set or a folder of
    images) at the configured size.

    Returns an :class:`ImageData` with images of shape (N, C, image_size, image_size), or
    the points (N, D) of a 2-D toy set as they are. A prepared set at its own size and
    channels stays memory-mapped (``mapped``): nothing is read until batches are taken.
    """
    name = data_cfg.name
    if name in DATASETS:
        loader = DATASETS[name]
        data = loader(root=data_cfg.root, train=train, download=data_cfg.download)
        if is_points_shape(data.shape):  # 2-D toy sets: nothing to resize or convert
            if data_cfg.image_size or data_cfg.channels:
                raise UserError(f"{name} holds 2-D points, not images: leave "
                                f"data.image_size and data.channels at 0")
            return data
        images = _resize(data.samples, data_cfg.image_size)
    else:
        path = Path(name).expanduser()
        if not path.exists():
            raise UserError(f"unknown data set {name!r}: not a folder, and not one of "
                            f"{', '.join(sorted(DATASETS))}")
        data = _load_path(path, data_cfg.image_size)
        images = _resize(data.samples, data_cfg.image_size) if data.mapped else data.samples
    images = _convert_channels(images, data_cfg.channels)
    if images.shape[0] == 0:
        raise UserError(f"data set {name!r} holds no images")
    return ImageData(name=data.name, samples=images, labels=data.labels,
                     num_classes=data.num_classes,
                     mapped=data.mapped and images is data.samples, note=data.note,
                     class_names=data.class_names)


# Import the sources so that they register themselves.
from gankit.data import embedded, torchvision_sets, toy2d, stacked, emoji  # noqa: E402,F401
