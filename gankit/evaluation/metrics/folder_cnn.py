"""``folder-cnn``: a small classifier of a user's labelled folder (``DIR/<class name>/*.png``),
trained by ``gankit extractor train --folder DIR`` for the semantic consistency of
translation (a classifier of the source domain; :mod:`gankit.evaluation.metrics.classifiers`).

The classes are the folder's sub-folders, sorted by name (as ``ImageFolder`` does). Images
of any size are read as the folder data set reads them (alpha composited on white, the
shorter side resized and the middle cut out) at ``image_size`` (32 px by default), in gray
when every image is gray and in RGB otherwise. A seeded 10 % of each class (at least one
image; a class needs two) is held out of training; the accuracy on it is reported
and saved. One CPU thread and a fixed seed make the weights file the same on every run. The
file records the class names, the channels and the side, so that it can be used without
the folder.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from gankit.errors import UserError
from gankit.data.emoji import split_by_emoji
from gankit.evaluation.metrics.emoji_cnn import EmojiCNN, fit_classifier
from gankit.evaluation.metrics.pinned import build_pinned, read_pinned, save_weights, sha256_file

FOLDER_CNN_SIDE = 32
FOLDER_CNN_EPOCHS = 20
HELD_OUT_FRACTION = 0.10
KIND = "folder-cnn"  # saved in the file: tells a folder classifier from gankit's pinned ones


class FolderCNN(EmojiCNN):
    """Four 3x3 conv layers with BatchNorm (32 channels, then 64, 96, 96 with stride 2) ->
    global average -> 128 features -> K classes.

    Input: float (N, C, S, S) in [-1, 1], C the saved channels (1 or 3); the global average
    takes any S (trained at the saved side). About 160k parameters.
    """

    def __init__(self, num_classes: int, channels: int = 3):
        # emoji-cnn's network with its stride moved to the end: 32 px inputs keep detail
        super().__init__(num_classes, channels, strides=(1, 2, 2, 2))


def read_labelled_folder(folder: str | Path, image_size: int = FOLDER_CNN_SIDE
                         ) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(images uint8 (N, C, S, S), labels int64 (N,), class names) of ``folder``'s class
    sub-folders; a folder that is not one (images directly in it, fewer than two classes,
    a class folder with fewer than two images) is a UserError of one line."""
    import numpy as np

    from gankit.data.folder import (classes_of, colour_mode, decode_image, fit_image,
                                    image_files)

    folder = Path(folder)
    parts = image_files(folder)  # a missing folder or one without images: its UserError
    classes, labels = classes_of(parts)
    if labels is None:
        loose = next(p[0] for p in parts if len(p) == 1)
        raise UserError(f"{folder} has images directly in it ({loose}); a labelled folder "
                        f"holds one sub-folder of images per class, named after the class")
    empty = sorted(d.name for d in folder.iterdir()
                   if d.is_dir() and not d.name.startswith(".") and d.name not in classes)
    if empty:
        raise UserError(f"class folder {folder / empty[0]} holds no images")
    if len(classes) < 2:
        raise UserError(f"{folder} has {len(classes)} class folder ({classes[0]}); a "
                        f"classifier needs at least two (one sub-folder per class)")
    counts = np.bincount(labels, minlength=len(classes))
    if counts.min() < 2:  # one is held out to measure the classifier, one is trained on
        raise UserError(f"class folder {folder / classes[int(counts.argmin())]} holds one "
                        f"image; a class needs at least two")
    paths = [folder.joinpath(*p) for p in parts]
    mode = colour_mode(paths)
    images = np.stack([fit_image(decode_image(p, mode), image_size) for p in paths])
    return torch.from_numpy(images), torch.from_numpy(labels), classes


def _augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random shifts (±1/8 of the side), rotations (±8°) and scalings (±10 %) of (N, C, S, S);
    no flips (they may change a class: arrows, letters). The border pixels fill what comes
    into view (a white background stays white)."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(8)
    scale = 1 + (torch.rand(n, generator=generator) * 2 - 1) * 0.1
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * 0.25  # 1/8 side in [-1, 1]
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="border")


def _as_input(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, S, S) -> float (N, C, S, S) in [-1, 1], the generators' range."""
    return images_u8.float() / 127.5 - 1


@torch.no_grad()
def predict(net: FolderCNN, images_u8: torch.Tensor) -> torch.Tensor:
    """Predicted classes (N,) of uint8 images (N, C, S, S) at the net's channels and side."""
    net.eval()
    return torch.cat([net(_as_input(chunk))[1].argmax(1) for chunk in images_u8.split(500)])


def train_folder_classifier(folder: str | Path, out: str | Path, *,
                            epochs: int = FOLDER_CNN_EPOCHS, seed: int = 0,
                            image_size: int = FOLDER_CNN_SIDE, echo=print) -> dict:
    """Train :class:`FolderCNN` on the class sub-folders of ``folder`` and save it to ``out``.

    Returns ``{"path", "accuracy", "balanced_accuracy", "sha256", "classes", "channels",
    "side", "held_out", "trained_on"}``: the accuracy on the held-out images, and its mean
    over the classes."""
    from gankit.training.checkpoint import writable_file
    from gankit.training.driver import fixed_threads  # the speed machinery owns the count

    out = writable_file(out)  # checked before training, not after
    images, labels, classes = read_labelled_folder(folder, image_size)
    # emoji-cnn's split with one group per image: a seeded 10 % of each class, at least one
    train_rows, test_rows = split_by_emoji([str(i) for i in range(len(labels))], labels,
                                           fraction=HELD_OUT_FRACTION, seed=seed)
    test = (images[test_rows], labels[test_rows])
    with fixed_threads(1):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        net = FolderCNN(len(classes), images.shape[1])
        # batches of 64, fewer for a small folder (down to 16), so an epoch is several steps
        batch = min(64, max(16, len(train_rows) // 8))
        accuracy = fit_classifier(net, (images[train_rows], labels[train_rows]), test,
                                  prepare=lambda x, g: _augment(_as_input(x), g),
                                  predict_fn=predict, epochs=epochs, generator=generator,
                                  echo=echo, batch=batch)
        predicted = predict(net, test[0])
        per_class = [float((predicted[test[1] == k] == k).float().mean())
                     for k in range(len(classes))]  # every class has a held-out image
        save_weights(net, out, kind=KIND, num_classes=len(classes), classes=list(classes),
                     channels=int(images.shape[1]), side=image_size, held_out=len(test_rows),
                     seed=seed, epochs=epochs, accuracy=accuracy)
    return {"path": str(out), "accuracy": accuracy,
            "balanced_accuracy": sum(per_class) / len(per_class), "sha256": sha256_file(out),
            "classes": list(classes), "channels": int(images.shape[1]), "side": image_size,
            "held_out": len(test_rows), "trained_on": len(train_rows)}


def load_folder_cnn(path: str | Path) -> tuple[FolderCNN, dict, str]:
    """(the classifier in eval mode, the saved fields without the weights, sha256) of a file
    written by :func:`train_folder_classifier`; any other file is a UserError."""
    saved, digest = read_pinned(path, None, f"gankit extractor train --folder DIR --out {path}")
    fields = {k: v for k, v in saved.items() if k != "state_dict"}
    if fields.get("kind") != KIND or not {"classes", "channels", "side"} <= fields.keys():
        raise UserError(f"{path} is not a classifier of a labelled folder (make one with "
                        f"`gankit extractor train --folder DIR --out {path}`)")
    channels = int(fields["channels"])
    net = build_pinned(lambda k: FolderCNN(k, channels), saved, path)
    return net, fields, digest
