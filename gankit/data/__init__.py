"""Training data, held in memory as one tensor: uint8 images, or float points (2-D toy sets).

``load_dataset(cfg.data)`` returns an :class:`ImageData` whatever the source: the embedded
``mnist5k`` digits, torchvision's MNIST-family and CIFAR-10 files, the emoji sets
(:mod:`gankit.data.emoji`), any folder of images, a prepared data set (memory-mapped;
:mod:`gankit.data.prepared`, written by ``gankit data prepare`` from folders and archives,
:mod:`gankit.data.sources`, :mod:`gankit.data.decoding`), or the 2-D toy sets. A prepared
set larger than the memory budget is read batch by batch (:mod:`gankit.data.streaming`).
``load_translation(name)`` returns the two domains of an image-to-image translation set
(:mod:`gankit.data.translation`). Sample pictures (grids, scatter plots) are written by
:mod:`gankit.data.pictures`.
"""

from gankit.data.registry import DATASETS, ImageData, is_points_shape, load_dataset
from gankit.data.batches import EpochBatches, to_model_range, to_uint8
from gankit.data.translation import (TRANSLATION_SETS, TranslationData, load_translation,
                                     upscale_digits)

__all__ = ["DATASETS", "ImageData", "is_points_shape", "load_dataset", "EpochBatches",
           "to_model_range", "to_uint8", "TranslationData", "TRANSLATION_SETS",
           "load_translation", "upscale_digits"]
