"""Training images, held in memory as one uint8 tensor.

``load_dataset(cfg.data)`` returns an :class:`ImageData` whatever the source: the embedded
``mnist5k`` digits, torchvision's MNIST-family and CIFAR-10 files, or any folder of images.
"""

from gankit.data.registry import DATASETS, ImageData, load_dataset
from gankit.data.batches import EpochBatches, to_model_range, to_uint8

__all__ = ["DATASETS", "ImageData", "load_dataset", "EpochBatches", "to_model_range",
           "to_uint8"]
