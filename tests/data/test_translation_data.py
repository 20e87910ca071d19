"""Translation sets: the built-in digits2mnist and mnist-8px, and the three folder layouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gankit.data import (TRANSLATION_SETS, TranslationData, load_dataset, load_translation,
                         upscale_digits)
from gankit.data.embedded import split_mnist5k
from gankit.data.translation import digits_training_set
from gankit.errors import UserError


@pytest.fixture(scope="module")
def mnist5k():
    from gankit.config import DataConfig

    return load_dataset(DataConfig(name="mnist5k"))


@pytest.fixture(scope="module")
def digits2mnist():
    return load_translation("digits2mnist")


@pytest.fixture(scope="module")
def mnist8px():
    return load_translation("mnist-8px")


def _rows(images: torch.Tensor) -> set[bytes]:
    return {bytes(row.numpy().tobytes()) for row in images}


# --- built-in sets ------------------------------------------------------------------------

def test_registered_with_one_line_descriptions():
    rows = dict(TRANSLATION_SETS.describe())
    assert set(rows) >= {"digits2mnist", "mnist-8px"}
    assert all(text and "\n" not in text for text in rows.values())


def test_digits2mnist_counts_shapes_and_labels(digits2mnist):
    d = digits2mnist
    assert isinstance(d, TranslationData) and not d.paired and d.shape == (1, 28, 28)
    assert (d.a_domain, d.b_domain) == ("digits", "mnist")
    assert [len(d.a), len(d.a_test), len(d.b), len(d.b_test)] == [1497, 300, 4500, 500]
    for part in (d.a, d.b, d.a_test, d.b_test):
        assert part.dtype == torch.uint8 and part.shape[1:] == (1, 28, 28)
    assert d.a_test_labels.dtype == torch.int64 and d.b_test_labels.dtype == torch.int64
    assert torch.bincount(d.a_test_labels, minlength=10).tolist() == [30] * 10  # stratified
    assert d.a.max() == 255 and d.a.min() == 0  # the 0..16 scale reaches full contrast


def test_digits2mnist_holds_out_what_mnist_cnn_never_saw(digits2mnist, mnist5k):
    train_rows, held_rows = split_mnist5k(5000, 500, seed=0)
    assert torch.equal(digits2mnist.b_test, mnist5k.samples[held_rows])
    assert torch.equal(digits2mnist.b_test_labels, mnist5k.labels[held_rows])
    assert torch.equal(digits2mnist.b, mnist5k.samples[train_rows])


def test_digits_are_sklearns_upscaled_and_split_without_overlap(digits2mnist):
    from sklearn.datasets import load_digits

    raw = load_digits()
    u8 = torch.from_numpy(np.round(raw.images * 255 / 16).astype(np.uint8)).unsqueeze(1)
    every = upscale_digits(u8)
    # the training and held-out digits are a partition of sklearn's 1,797, in its order
    index = {bytes(row.numpy().tobytes()): i for i, row in enumerate(every)}
    train_ids = [index[bytes(r.numpy().tobytes())] for r in digits2mnist.a]
    test_ids = [index[bytes(r.numpy().tobytes())] for r in digits2mnist.a_test]
    assert sorted(train_ids + test_ids) == list(range(1797))
    assert not set(train_ids) & set(test_ids)
    assert digits2mnist.a_test_labels.tolist() == raw.target[test_ids].tolist()
    train, held_out = digits_training_set()
    assert torch.equal(train.samples, digits2mnist.a)
    assert train.labels.tolist() == raw.target[train_ids].tolist()
    assert torch.equal(held_out.samples, digits2mnist.a_test)
    assert torch.equal(held_out.labels, digits2mnist.a_test_labels)


def test_mnist_8px_is_paired_super_resolution(mnist8px, mnist5k):
    d = mnist8px
    assert d.paired and d.shape == (1, 28, 28)
    assert [len(d.a), len(d.b), len(d.a_test), len(d.b_test)] == [4500, 4500, 500, 500]
    train_rows, held_rows = split_mnist5k(5000, 500, seed=0)
    assert torch.equal(d.b, mnist5k.samples[train_rows])
    assert torch.equal(d.b_test, mnist5k.samples[held_rows])
    assert torch.equal(d.a_test_labels, mnist5k.labels[held_rows])
    assert torch.equal(d.b_test_labels, d.a_test_labels)
    # a[i] is b[i] area-shrunk to 8x8 and upscaled again
    small = torch.nn.functional.interpolate(d.b_test[:5].float(), size=8, mode="area")
    expected = upscale_digits(small.round().clamp(0, 255).to(torch.uint8))
    assert torch.equal(d.a_test[:5], expected)
    assert not _rows(d.a) & _rows(d.a_test)


def test_built_in_sets_are_deterministic(digits2mnist, mnist8px):
    again = load_translation("digits2mnist")
    for name in ("a", "b", "a_test", "b_test", "a_test_labels", "b_test_labels"):
        assert torch.equal(getattr(again, name), getattr(digits2mnist, name))
    assert torch.equal(load_translation("mnist-8px").a, mnist8px.a)


def test_built_in_sets_resize_and_convert():
    d = load_translation("mnist-8px", image_size=32, channels=3)
    assert d.shape == (3, 32, 32) and d.a_test.shape == (500, 3, 32, 32)
    assert torch.equal(d.b[:, 0], d.b[:, 2])


def test_upscale_digits_of_a_constant_is_the_constant():
    for value in (0, 77, 255):
        out = upscale_digits(torch.full((3, 1, 8, 8), value, dtype=torch.uint8))
        assert out.shape == (3, 1, 28, 28) and out.dtype == torch.uint8
        assert (out == value).all()
    ramp = torch.arange(64, dtype=torch.uint8).mul(4).view(1, 1, 8, 8)
    assert upscale_digits(ramp)[0, 0, 0, 0] == 0 and upscale_digits(ramp)[0, 0, -1, -1] == 252
    with pytest.raises(ValueError):
        upscale_digits(torch.zeros(1, 1, 8, 8))


# --- folders ------------------------------------------------------------------------------

def _write(disk, folder, names, size=(8, 8), rgb=False, seed=0):
    """PNGs of random pixels under ``folder``; returns {name: array}."""
    rng = np.random.default_rng(seed)
    written = {}
    for name in names:
        shape = (*size, 3) if rgb else size
        written[name] = rng.integers(0, 256, size=shape, dtype=np.uint8)
        disk.write_png(folder / name, written[name])
    return written


def _as_chw(array):
    return torch.from_numpy(array[None] if array.ndim == 2 else array.transpose(2, 0, 1))


def test_unpaired_folder_with_test_folders(tmp_path, disk):
    a = _write(disk, tmp_path / "trainA", [f"{i}.png" for i in range(4)])
    _write(disk, tmp_path / "trainB", [f"{i}.png" for i in range(6)], seed=1)
    _write(disk, tmp_path / "testA", ["t.png"], seed=2)
    _write(disk, tmp_path / "testB", ["t.png", "u.png"], seed=3)
    d = load_translation(str(tmp_path))
    assert not d.paired and d.shape == (1, 8, 8) and d.name == tmp_path.name
    assert [len(d.a), len(d.b), len(d.a_test), len(d.b_test)] == [4, 6, 1, 2]
    assert torch.equal(d.a[2], _as_chw(a["2.png"]))
    assert d.a_test_labels is None and d.b_test_labels is None


def test_unpaired_folder_holds_out_a_seeded_tenth(tmp_path, disk):
    _write(disk, tmp_path / "trainA", [f"{i:02d}.png" for i in range(20)])
    _write(disk, tmp_path / "trainB", [f"{i}.png" for i in range(3)], seed=1)
    d = load_translation(str(tmp_path))
    assert [len(d.a), len(d.a_test), len(d.b), len(d.b_test)] == [18, 2, 2, 1]
    assert not _rows(d.a) & _rows(d.a_test) and not _rows(d.b) & _rows(d.b_test)
    again = load_translation(str(tmp_path))
    assert torch.equal(again.a_test, d.a_test) and torch.equal(again.b_test, d.b_test)


def test_class_subfolders_label_an_unpaired_domain(tmp_path, disk):
    """trainA/<class>/ gives labels (held out with their images); B without subfolders has
    none."""
    for label, name in enumerate(("cat", "dog")):
        _write(disk, tmp_path / "trainA" / name, [f"{i:02d}.png" for i in range(10)],
               seed=label)
    _write(disk, tmp_path / "trainB", [f"{i}.png" for i in range(4)], seed=5)
    d = load_translation(str(tmp_path))
    assert d.b_labels is None and d.b_test_labels is None
    assert len(d.a_labels) == 18 and len(d.a_test_labels) == 2
    assert sorted(d.a_labels.tolist() + d.a_test_labels.tolist()) == [0] * 10 + [1] * 10
    whole = torch.cat([d.a, d.a_test])  # each image kept with its own class
    labels = torch.cat([d.a_labels, d.a_test_labels])
    cats = {tuple(_as_chw(a).flatten().tolist()) for a in _write(
        disk, tmp_path / "x", [f"{i:02d}.png" for i in range(10)], seed=0).values()}
    assert all((tuple(img.flatten().tolist()) in cats) == (y == 0)
               for img, y in zip(whole, labels.tolist()))


def test_unpaired_rgb_and_gray_mixed_become_rgb_and_convert(tmp_path, disk):
    _write(disk, tmp_path / "trainA", ["x.png", "y.png"], rgb=True)
    _write(disk, tmp_path / "trainB", ["x.png", "y.png"], seed=1)
    assert load_translation(str(tmp_path)).shape == (3, 8, 8)
    assert load_translation(str(tmp_path), channels=1).shape == (1, 8, 8)


def test_paired_folders_match_by_relative_path(tmp_path, disk):
    names = ["p.png", "q.png", "sub/r.png"]
    a = _write(disk, tmp_path / "A", names, rgb=True)
    b = _write(disk, tmp_path / "B", list(reversed(names)), rgb=True, seed=1)
    _write(disk, tmp_path / "testA", ["t.png"], rgb=True, seed=2)
    _write(disk, tmp_path / "testB", ["t.png"], rgb=True, seed=3)
    d = load_translation(str(tmp_path))
    assert d.paired and d.shape == (3, 8, 8) and len(d.a) == 3 and len(d.a_test) == 1
    for i, name in enumerate(sorted(names)):  # a[i] and b[i] come from the same name
        assert torch.equal(d.a[i], _as_chw(a[name])) and torch.equal(d.b[i], _as_chw(b[name]))


def test_paired_folders_hold_out_the_same_pairs(tmp_path, disk):
    names = [f"{i:02d}.png" for i in range(10)]
    a = _write(disk, tmp_path / "A", names)
    b = _write(disk, tmp_path / "B", names, seed=1)
    d = load_translation(str(tmp_path))
    assert [len(d.a), len(d.b), len(d.a_test), len(d.b_test)] == [9, 9, 1, 1]
    held = next(n for n in names if torch.equal(_as_chw(a[n]), d.a_test[0]))
    assert torch.equal(d.b_test[0], _as_chw(b[held]))
    assert not _rows(d.a) & _rows(d.a_test)


def test_side_by_side_pairs_split_into_halves(tmp_path, disk):
    left, right = np.full((6, 6), 10, np.uint8), np.full((6, 6), 200, np.uint8)
    for i in range(3):
        disk.write_png(tmp_path / "train" / f"{i}.png", np.concatenate([left + i, right], 1))
    disk.write_png(tmp_path / "test" / "t.png", np.concatenate([right, left], 1))
    d = load_translation(str(tmp_path))
    assert d.paired and d.shape == (1, 6, 6) and len(d.a) == 3 and len(d.a_test) == 1
    assert d.a[:, 0, 0, 0].tolist() == [10, 11, 12] and (d.b == 200).all()
    assert (d.a_test == 200).all() and (d.b_test == 10).all()


def test_side_by_side_odd_sizes_with_image_size(tmp_path, disk):
    rng = np.random.default_rng(0)
    disk.write_png(tmp_path / "train" / "a.jpg", rng.integers(0, 256, (13, 26, 3), np.uint8))
    disk.write_png(tmp_path / "train" / "b.png", rng.integers(0, 256, (9, 18, 3), np.uint8))
    with pytest.raises(UserError, match="different sizes.*image-size"):
        load_translation(str(tmp_path))
    d = load_translation(str(tmp_path), image_size=7)
    assert d.shape == (3, 7, 7) and len(d.a) == 1 and len(d.a_test) == 1


def test_unpaired_odd_sizes_with_image_size(tmp_path, disk):
    _write(disk, tmp_path / "trainA", ["x.png", "y.png"], size=(11, 15))
    _write(disk, tmp_path / "trainB", ["x.png", "y.png"], size=(9, 9))
    with pytest.raises(UserError, match="different sizes"):
        load_translation(str(tmp_path))
    assert load_translation(str(tmp_path), image_size=5).shape == (1, 5, 5)


# --- user mistakes: one line each ---------------------------------------------------------

def _one_line_error(path, match, **kwargs):
    with pytest.raises(UserError, match=match) as info:
        load_translation(str(path), **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_unknown_name_and_missing_folder(tmp_path):
    message = _one_line_error(tmp_path / "nowhere", "unknown translation set")
    assert "digits2mnist" in message


def test_folder_without_a_layout(tmp_path, disk):
    _write(disk, tmp_path, ["x.png"])
    _one_line_error(tmp_path, "trainA/ \\+ trainB/")


def test_a_domain_missing_or_empty(tmp_path, disk):
    _write(disk, tmp_path / "trainA", ["x.png", "y.png"])
    _one_line_error(tmp_path, "trainA/ but no trainB/")
    (tmp_path / "trainB").mkdir()
    (tmp_path / "trainB" / "notes.txt").write_text("no images")
    _one_line_error(tmp_path, "no images .* found under .*trainB")


def test_a_domain_too_small_to_hold_out(tmp_path, disk):
    _write(disk, tmp_path / "trainA", ["x.png", "y.png"])
    _write(disk, tmp_path / "trainB", ["x.png"])
    _one_line_error(tmp_path, "trainB holds 1 image")


def test_unmatched_paired_file_is_named(tmp_path, disk):
    _write(disk, tmp_path / "A", ["a.png", "b.png", "c.png"])
    _write(disk, tmp_path / "B", ["a.png", "c.png"])
    message = _one_line_error(tmp_path, "no match")
    assert str(tmp_path / "A" / "b.png") in message


def test_paired_test_folders_must_come_together(tmp_path, disk):
    _write(disk, tmp_path / "A", ["a.png", "b.png"])
    _write(disk, tmp_path / "B", ["a.png", "b.png"])
    _write(disk, tmp_path / "testA", ["t.png"])
    _one_line_error(tmp_path, "testA/ but no testB/")


def test_unreadable_image_is_named(tmp_path, disk):
    _write(disk, tmp_path / "trainA", ["x.png", "y.png"])
    _write(disk, tmp_path / "trainB", ["x.png", "y.png"])
    bad = tmp_path / "trainB" / "z.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    assert str(bad) in _one_line_error(tmp_path, "cannot read image")


def test_side_by_side_image_of_the_wrong_shape(tmp_path, disk):
    _write(disk, tmp_path / "train", ["ok.png"], size=(4, 8))
    _write(disk, tmp_path / "train", ["square.png"], size=(8, 8))
    _one_line_error(tmp_path, "square.png is 8x8: side-by-side pairs are twice as wide")


def test_a_single_pair_cannot_be_split(tmp_path, disk):
    _write(disk, tmp_path / "A", ["a.png"])
    _write(disk, tmp_path / "B", ["a.jpg"])  # names match without the suffix
    _one_line_error(tmp_path, "holds 1 pair: one is held out")
