"""Two-domain data sets for image-to-image translation: paired (pix2pix) and unpaired
(CycleGAN, CUT).

``load_translation(name_or_path)`` returns a :class:`TranslationData`: uint8 training images
of domains A and B and held-out images of both that training never sees (with class
labels where the source has them, for evaluation only). Built in and deterministic (the
digit sets offline, emoji-styles from the npm packages gankit caches once):

* ``digits2mnist`` (unpaired): scikit-learn's 1,797 8x8 digits, upscaled to 28x28
  (:func:`upscale_digits`), to the embedded mnist5k digits;
* ``mnist-8px`` (paired): mnist5k digits area-downsampled to 8x8 and upscaled again, to the
  digits themselves (GAN super-resolution);
* ``emoji-styles`` (paired by code point, colour; :mod:`gankit.data.emoji_styles`): Google's
  emoji to Twitter's, 32 px unless asked otherwise, held out by emoji-cnn's split.

The digit sets hold out the 500 mnist5k digits that the pinned mnist-cnn extractor never saw
(:func:`~gankit.data.embedded.split_mnist5k`). A folder is read in one of three layouts:
``trainA/`` + ``trainB/`` (unpaired; optional ``testA/``, ``testB/``), ``A/`` + ``B/`` with
files matched by relative path (paired; optional ``testA/`` + ``testB/``), or ``train/``
with each image's left half A and right half B (paired; optional ``test/``). Without test
folders a seeded 10 % (at least one image) is held out. Unpaired domains whose images all
sit in class subfolders (``trainA/<class>/``) have labels, used by semantic consistency
(``translation.semantic_weight``) and by evaluation only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from gankit.data.embedded import load_mnist5k, split_mnist5k
from gankit.data.folder import colour_mode, decode_image, fit_image, image_paths, stack_images
from gankit.data.registry import ImageData, _convert_channels, _resize
from gankit.errors import UserError
from gankit.registry import Registry

DIGITS_HELD_OUT_PER_CLASS = 30  # 300 of scikit-learn's 1,797 digits, 30 of each class
HOLD_OUT_FRACTION = 0.1  # of a folder's images when it has no test folders
SEED = 0


@dataclass
class TranslationData:
    """Two domains of uint8 images (N, C, H, W) sharing one (C, H, W).

    paired: ``b[i]`` is ``a[i]``'s target (and ``b_test[i]`` is ``a_test[i]``'s); unpaired
    domains are independent. The ``*_test`` images are never trained on; the labels are
    int64 class labels of the held-out images, for evaluation only.
    """

    name: str
    paired: bool
    a: torch.Tensor
    b: torch.Tensor
    a_test: torch.Tensor
    b_test: torch.Tensor
    a_test_labels: torch.Tensor | None = None
    b_test_labels: torch.Tensor | None = None
    a_domain: str = "A"
    b_domain: str = "B"
    # the training images' int64 class labels (N,), used only by semantic consistency
    # (translation.semantic_weight); None where the set has none for training
    a_labels: torch.Tensor | None = None
    b_labels: torch.Tensor | None = None
    preferred_size: int = 0  # px the set is used at when data.image_size is 0 (0: its own)
    # paired by name: the name of each training and held-out pair (e.g. emoji code points)
    a_names: list[str] | None = None
    a_test_names: list[str] | None = None

    def __post_init__(self) -> None:
        parts = (self.a, self.b, self.a_test, self.b_test)
        for part in parts:
            assert part.dtype == torch.uint8 and part.dim() == 4, (part.dtype, part.shape)
        assert len({tuple(p.shape[1:]) for p in parts}) == 1, [p.shape for p in parts]
        if self.paired:
            assert len(self.a) == len(self.b) and len(self.a_test) == len(self.b_test)
        for labels, images in ((self.a_test_labels, self.a_test), (self.b_test_labels, self.b_test),
                               (self.a_labels, self.a), (self.b_labels, self.b)):
            if labels is not None:
                assert labels.dtype == torch.int64 and labels.shape == (len(images),)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image of either domain."""
        return tuple(self.a.shape[1:])  # type: ignore[return-value]


# name -> loader(root) -> TranslationData at the set's own size
TRANSLATION_SETS: Registry[Callable[..., TranslationData]] = Registry("translation set")


def load_translation(name_or_path: str, image_size: int = 0, channels: int = 0,
                     root: str = "data") -> TranslationData:
    """A registered translation set, or a folder in one of the three layouts.

    ``image_size`` resizes (and, for folders, centre-crops) every image to S x S (0: as it
    is); ``channels`` 1 or 3 converts (0: as the data is).
    """
    if name_or_path in TRANSLATION_SETS:
        data = TRANSLATION_SETS[name_or_path](root=root)
        size = image_size or data.preferred_size
        parts = [_resize(p, size) for p in (data.a, data.b, data.a_test, data.b_test)]
    else:
        path = Path(name_or_path).expanduser()
        if not path.exists():
            raise UserError(f"unknown translation set {name_or_path!r}: not a folder, and not "
                            f"one of {', '.join(sorted(TRANSLATION_SETS))}")
        data = load_translation_folder(path, image_size)
        parts = [data.a, data.b, data.a_test, data.b_test]
    a, b, a_test, b_test = (_convert_channels(p, channels) for p in parts)
    return dataclasses.replace(data, a=a, b=b, a_test=a_test, b_test=b_test)


# --- the built-in sets --------------------------------------------------------------------

def upscale_digits(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 1, 8, 8) -> uint8 (N, 1, 28, 28): bilinear, the digit filling the frame."""
    if images_u8.dtype != torch.uint8 or images_u8.dim() != 4:
        raise ValueError(f"upscale_digits takes uint8 (N, C, H, W), got {images_u8.dtype} "
                         f"{tuple(images_u8.shape)}")
    big = F.interpolate(images_u8.float(), size=28, mode="bilinear", align_corners=False)
    return big.round().clamp(0, 255).to(torch.uint8)


def _digits_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn's digits at 28x28: (train, train labels, held-out, held-out labels).

    The held-out part is 30 digits of each class, chosen by a seeded permutation per class;
    both parts keep the data set's order.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.from_numpy(digits.images).mul(255 / 16).round().to(torch.uint8)
    images = upscale_digits(images.unsqueeze(1))
    labels = torch.from_numpy(digits.target).to(torch.int64)
    generator = torch.Generator().manual_seed(SEED)
    held = torch.zeros(len(labels), dtype=torch.bool)
    for digit in range(10):
        rows = torch.nonzero(labels == digit).flatten()
        chosen = rows[torch.randperm(len(rows), generator=generator)]
        held[chosen[:DIGITS_HELD_OUT_PER_CLASS]] = True
    return images[~held], labels[~held], images[held], labels[held]


def digits_training_set() -> tuple[ImageData, ImageData]:
    """digits2mnist's domain A with its labels: (the 1,497 training digits, the 300 held-out
    ones), for training the digits-cnn extractor (labels are not part of a translation set's
    training data)."""
    train, train_labels, test, test_labels = _digits_split()
    return (ImageData("digits", train, train_labels, 10),
            ImageData("digits-held-out", test, test_labels, 10))


def _mnist5k_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """mnist5k's (4,500 training digits, their labels, 500 held-out digits, their labels)."""
    data = load_mnist5k()
    train_rows, test_rows = split_mnist5k(5000, 500, seed=0)
    return (data.samples[train_rows], data.labels[train_rows], data.samples[test_rows],
            data.labels[test_rows])


@TRANSLATION_SETS.register("digits2mnist", "unpaired: scikit-learn's 8x8 digits upscaled to "
                           "28x28 (1,497 + 300 held out) <-> mnist5k (4,500 + 500); offline")
def load_digits2mnist(root: str = "") -> TranslationData:
    a, a_labels, a_test, a_test_labels = _digits_split()
    b, b_labels, b_test, b_test_labels = _mnist5k_split()
    return TranslationData("digits2mnist", False, a, b, a_test, b_test, a_test_labels,
                           b_test_labels, a_domain="digits", b_domain="mnist",
                           a_labels=a_labels, b_labels=b_labels)


def downscale_digits(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, 28, 28) -> uint8 (N, C, 8, 8) by area averaging."""
    small = F.interpolate(images_u8.float(), size=8, mode="area")
    return small.round().clamp(0, 255).to(torch.uint8)


@TRANSLATION_SETS.register("mnist-8px", "paired super-resolution: mnist5k digits shrunk to "
                           "8x8 and upscaled -> the digits (4,500 + 500 held out); offline")
def load_mnist_8px(root: str = "") -> TranslationData:
    b, _, b_test, labels = _mnist5k_split()
    a, a_test = upscale_digits(downscale_digits(b)), upscale_digits(downscale_digits(b_test))
    return TranslationData("mnist-8px", True, a, b, a_test, b_test, labels, labels.clone(),
                           a_domain="mnist-8px", b_domain="mnist")


# --- folders ------------------------------------------------------------------------------

def load_translation_folder(root: Path, image_size: int = 0) -> TranslationData:
    """Read ``root`` in the layout its sub-folders show (see the module's docstring)."""
    if not root.is_dir():
        raise UserError(f"translation data {root} is not a folder")
    has = {name: (root / name).is_dir() for name in ("trainA", "trainB", "A", "B", "train")}
    if has["trainA"] or has["trainB"]:
        _require_both(root, "trainA", "trainB")
        return _unpaired_folder(root, image_size)
    if has["A"] or has["B"]:
        _require_both(root, "A", "B")
        return _paired_folders(root, image_size)
    if has["train"]:
        return _side_by_side_folder(root, image_size)
    raise UserError(f"{root} holds none of the translation layouts: trainA/ + trainB/ "
                    f"(unpaired), A/ + B/ (paired, matching file names) or train/ (pairs side "
                    f"by side, A left, B right)")


def _require_both(root: Path, first: str, second: str) -> None:
    for have, lack in ((first, second), (second, first)):
        if (root / have).is_dir() and not (root / lack).is_dir():
            raise UserError(f"{root} has {have}/ but no {lack}/: both are needed")


def _name_of(root: Path) -> str:
    return root.name or root.resolve().name or str(root)


def _read(groups: dict[str, list[Path]], root: Path, image_size: int) -> dict[str, torch.Tensor]:
    """Each group of files as uint8 (N, C, S, S), one colour mode and one size for all."""
    mode = colour_mode([p for paths in groups.values() for p in paths])
    arrays = [fit_image(decode_image(p, mode), image_size)
              for paths in groups.values() for p in paths]
    stacked = stack_images(arrays, root).split([len(paths) for paths in groups.values()])
    return dict(zip(groups, stacked))


def _hold_out(n: int, where: Path, what: str = "image") -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded (train rows, held-out rows) of n images (or pairs): 10 %, at least one, in file
    order."""
    held = max(1, round(n * HOLD_OUT_FRACTION))
    if n - held < 1:
        raise UserError(f"{where} holds {n} {what}: one is held out for testing, so at least "
                        f"2 are needed (or give the test folder)")
    train, test = split_mnist5k(n, held, SEED)
    return train.sort().values, test.sort().values


def _class_labels(groups: dict[str, list[Path]], root: Path, side: str
                  ) -> dict[str, torch.Tensor] | None:
    """Labels of domain ``side``'s images when every one of them (train and test) sits in a
    class subfolder (``trainA/<class>/x.png``): int64 (N,) per group, classes by sorted
    name; None when any image lies elsewhere."""
    mine = {name: paths for name, paths in groups.items() if name.endswith(side)}
    classes: dict[str, list[str]] = {}
    for name, paths in mine.items():
        parts = [p.relative_to(root / name).parts for p in paths]
        if not parts or any(len(part) != 2 for part in parts):
            return None
        classes[name] = [part[0] for part in parts]
    index = {c: i for i, c in enumerate(sorted({c for names in classes.values() for c in names}))}
    return {name: torch.tensor([index[c] for c in names], dtype=torch.int64)
            for name, names in classes.items()}


def _unpaired_folder(root: Path, image_size: int) -> TranslationData:
    """trainA/ + trainB/ (+ testA/, testB/); class subfolders give labels (semantic
    consistency trains on them, evaluation reads the held-out ones)."""
    groups = {name: image_paths(root / name) for name in ("trainA", "trainB", "testA", "testB")
              if name.startswith("train") or (root / name).is_dir()}
    images = _read(groups, root, image_size)
    labels = {side: _class_labels(groups, root, side) for side in "AB"}
    for side in "AB":
        if f"test{side}" not in images:
            train, test = _hold_out(len(images[f"train{side}"]), root / f"train{side}")
            whole = images[f"train{side}"]
            images[f"train{side}"], images[f"test{side}"] = whole[train], whole[test]
            if labels[side] is not None:
                every = labels[side][f"train{side}"]
                labels[side] = {f"train{side}": every[train], f"test{side}": every[test]}
    named = {f"{part}{side}": (labels[side] or {}).get(f"{part}{side}")
             for side in "AB" for part in ("train", "test")}
    return TranslationData(_name_of(root), False, images["trainA"], images["trainB"],
                           images["testA"], images["testB"], named["testA"], named["testB"],
                           a_labels=named["trainA"], b_labels=named["trainB"])


def _matched(folder_a: Path, folder_b: Path) -> tuple[list[Path], list[Path]]:
    """The images of two folders paired by relative path (without the suffix: ``A/x.jpg``
    matches ``B/x.png``); any file without a match is a UserError naming the first."""
    keyed = []
    for folder in (folder_a, folder_b):
        keys: dict[str, Path] = {}
        for path in image_paths(folder):
            key = path.relative_to(folder).with_suffix("").as_posix()
            if key in keys:
                raise UserError(f"{path} and {keys[key]} share a name; paired files are "
                                f"matched by name, which must be unique")
            keys[key] = path
        keyed.append(keys)
    keys_a, keys_b = keyed
    for keys, other, other_folder in ((keys_a, keys_b, folder_b), (keys_b, keys_a, folder_a)):
        lonely = sorted(set(keys) - set(other))
        if lonely:
            raise UserError(f"{keys[lonely[0]]} has no match in {other_folder} ({len(lonely)} "
                            f"unmatched); paired files must have the same relative path (any suffix)")
    order = sorted(keys_a)
    return [keys_a[k] for k in order], [keys_b[k] for k in order]


def _paired(root: Path, parts: dict[str, torch.Tensor]) -> TranslationData:
    """Paired data from "A", "B" (training pairs) and optional "testA", "testB"."""
    if "testA" not in parts:
        train, test = _hold_out(len(parts["A"]), root, "pair")
        a, b = parts["A"], parts["B"]
        parts = {"A": a[train], "B": b[train], "testA": a[test], "testB": b[test]}
    return TranslationData(_name_of(root), True, parts["A"], parts["B"], parts["testA"],
                           parts["testB"])


def _paired_folders(root: Path, image_size: int) -> TranslationData:
    groups = dict(zip(("A", "B"), _matched(root / "A", root / "B")))
    if (root / "testA").is_dir() or (root / "testB").is_dir():
        _require_both(root, "testA", "testB")
        groups.update(zip(("testA", "testB"), _matched(root / "testA", root / "testB")))
    return _paired(root, _read(groups, root, image_size))


def _halves(path: Path, mode: str, image_size: int):
    image = decode_image(path, mode)
    if image.width != 2 * image.height:
        raise UserError(f"{path} is {image.width}x{image.height}: side-by-side pairs are twice "
                        f"as wide as high (A on the left, B on the right)")
    half = image.height
    return (fit_image(image.crop((0, 0, half, half)), image_size),
            fit_image(image.crop((half, 0, 2 * half, half)), image_size))


def _side_by_side_folder(root: Path, image_size: int) -> TranslationData:
    groups = {"": image_paths(root / "train")}
    if (root / "test").is_dir():
        groups["test"] = image_paths(root / "test")
    mode = colour_mode([p for paths in groups.values() for p in paths])
    halves = [half for paths in groups.values() for p in paths
              for half in _halves(p, mode, image_size)]
    stacked = stack_images(halves, root).split([2 * len(paths) for paths in groups.values()])
    parts = {}
    for prefix, both in zip(groups, stacked):
        parts[f"{prefix}A"], parts[f"{prefix}B"] = both[0::2].clone(), both[1::2].clone()
    return _paired(root, parts)


@TRANSLATION_SETS.register("emoji-styles", "paired by code point, colour: 3,781 emoji as "
                           "Google draws them <-> as Twitter does, 32 px (data.image_size=64: "
                           "64 px); emoji-cnn's held-out emoji; npm emoji-datasource, cached")
def load_emoji_styles(root: str = "data") -> TranslationData:
    from gankit.data.emoji_styles import load_emoji_styles as load

    return load(root)
