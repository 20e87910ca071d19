"""Data: the embedded digits, torchvision's on-disk formats, image folders, batching."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from gankit.config import DataConfig
from gankit.data import DATASETS, EpochBatches, load_dataset, to_model_range, to_uint8
from gankit.errors import UserError


# --- the embedded mnist5k ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def mnist5k():
    return load_dataset(DataConfig(name="mnist5k"))


def test_mnist5k_is_5000_real_digits_500_per_class(mnist5k):
    assert mnist5k.samples.shape == (5000, 1, 28, 28)
    assert mnist5k.samples.dtype == torch.uint8
    assert mnist5k.labels.dtype == torch.int64
    assert torch.bincount(mnist5k.labels, minlength=10).tolist() == [500] * 10
    assert mnist5k.num_classes == 10
    assert mnist5k.shape == (1, 28, 28)
    # real digits: mostly black background, full contrast, ink in the middle
    images = mnist5k.samples.float()
    assert images.max() == 255 and images.min() == 0
    assert (mnist5k.samples == 0).float().mean() > 0.7
    assert images[:, :, 10:18, 10:18].mean() > 4 * images[:, :, :3, :].mean()


def test_mnist5k_resized_and_rgb():
    data = load_dataset(DataConfig(name="mnist5k", image_size=32, channels=3))
    assert data.samples.shape == (5000, 3, 32, 32) and data.samples.dtype == torch.uint8
    assert torch.equal(data.samples[:, 0], data.samples[:, 1])
    assert torch.equal(data.samples[:, 1], data.samples[:, 2])


# --- MNIST-family IDX files ---------------------------------------------------------------------

@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST"),
                                         ("kmnist", "KMNIST")])
def test_idx_files_are_read_offline(tmp_path, disk, name, folder):
    written = disk.write_mnist_raw(tmp_path, folder=folder, n_train=20, n_test=10)
    train = load_dataset(DataConfig(name=name, root=str(tmp_path), download=False))
    assert train.samples.shape == (20, 1, 28, 28) and train.samples.dtype == torch.uint8
    assert np.array_equal(train.samples[:, 0].numpy(), written["train_images"])
    assert train.labels.tolist() == written["train_labels"].tolist()
    assert train.num_classes == 10
    test = load_dataset(DataConfig(name=name, root=str(tmp_path), download=False), train=False)
    assert test.samples.shape == (10, 1, 28, 28)
    assert np.array_equal(test.samples[:, 0].numpy(), written["t10k_images"])


def test_missing_mnist_offline_names_the_folder(tmp_path):
    with pytest.raises(UserError) as info:
        load_dataset(DataConfig(name="mnist", root=str(tmp_path), download=False))
    message = str(info.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    assert "train-images-idx3-ubyte" in message
    assert "\n" not in message


def test_corrupt_idx_file_is_a_user_error(tmp_path, disk):
    disk.write_mnist_raw(tmp_path)
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03" + b"\x00\x00\x00\x14")  # header cut short
    with pytest.raises(UserError, match="MNIST"):
        load_dataset(DataConfig(name="mnist", root=str(tmp_path), download=False))


# --- CIFAR-10 python batches ----------------------------------------------------------------------

@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_batches_are_read(tmp_path, disk, protocol):
    written = disk.write_cifar_batches(tmp_path, per_batch=4, protocol=protocol)
    train = load_dataset(DataConfig(name="cifar10", root=str(tmp_path), download=False))
    assert train.samples.shape == (20, 3, 32, 32) and train.samples.dtype == torch.uint8
    assert np.array_equal(train.samples.reshape(20, 3072).numpy(), written["train_images"])
    assert train.labels.tolist() == written["train_labels"].tolist()
    test = load_dataset(DataConfig(name="cifar10", root=str(tmp_path), download=False),
                        train=False)
    assert test.samples.shape == (4, 3, 32, 32)
    assert test.labels.tolist() == written["test_labels"].tolist()
    gray = load_dataset(DataConfig(name="cifar10", root=str(tmp_path), download=False,
                                   channels=1, image_size=16))
    assert gray.samples.shape == (20, 1, 16, 16)


def test_missing_cifar_offline_names_the_folder(tmp_path):
    with pytest.raises(UserError) as info:
        load_dataset(DataConfig(name="cifar10", root=str(tmp_path), download=False))
    assert str(tmp_path / "cifar-10-batches-py") in str(info.value)
    assert "data_batch_1" in str(info.value)


class _Payload:
    """Unpickling this runs ``os.system`` -- which gankit must never do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_cifar_pickle_is_refused_and_does_not_run(tmp_path, disk):
    disk.write_cifar_batches(tmp_path, per_batch=2)
    marker = tmp_path / "pwned"
    evil = {"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1], "x": _Payload(marker)}
    path = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(pickle.dumps(evil))
    # the payload really would run under a plain unpickler (so the test can fail)
    assert b"system" in path.read_bytes()
    with pytest.raises(UserError) as info:
        load_dataset(DataConfig(name="cifar10", root=str(tmp_path), download=False))
    assert "data_batch_3" in str(info.value)
    assert not marker.exists()


def test_cifar_batch_with_wrong_label_count(tmp_path, disk):
    disk.write_cifar_batches(tmp_path, per_batch=2)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    path.write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}))
    with pytest.raises(UserError, match="2 images but 1 labels"):
        load_dataset(DataConfig(name="cifar10", root=str(tmp_path), download=False))


# --- image folders --------------------------------------------------------------------------------

def test_flat_folder_is_read_recursively_without_classes(tmp_path, disk):
    folder = tmp_path / "flat"
    arrays = {}
    for i, rel in enumerate(["a.png", "deep/er/b.png", "c.png"]):
        arrays[rel] = np.full((12, 12), 10 * (i + 1), np.uint8)
        disk.write_png(folder / rel, arrays[rel])
    (folder / "notes.txt").write_text("not an image")
    data = load_dataset(DataConfig(name=str(folder)))
    assert data.samples.shape == (3, 1, 12, 12) and data.samples.dtype == torch.uint8
    # a mix of files at the top and in sub-folders: no classes
    assert data.labels is None and data.num_classes == 0
    assert sorted(int(v) for v in data.samples[:, 0, 0, 0]) == [10, 20, 30]


def test_sub_folders_are_classes(png_folder):
    folder = png_folder(n=9, size=8, classes=("cat", "dog", "eel"))
    data = load_dataset(DataConfig(name=str(folder)))
    assert data.samples.shape == (9, 1, 8, 8)
    assert data.num_classes == 3
    assert torch.bincount(data.labels).tolist() == [3, 3, 3]
    assert data.name == folder.name


def test_image_size_resizes_and_centre_crops(tmp_path, disk):
    folder = tmp_path / "wide"
    # 40x20 (w x h): left half black, middle white, right half black -> centre crop is white
    array = np.zeros((20, 40), np.uint8)
    array[:, 10:30] = 255
    disk.write_png(folder / "a.png", array)
    disk.write_png(folder / "b.png", np.full((30, 30), 128, np.uint8))
    data = load_dataset(DataConfig(name=str(folder), image_size=10))
    assert data.samples.shape == (2, 1, 10, 10)
    first = data.samples[0, 0].int()
    assert first[:, 2:8].min() >= 250  # the white middle survives the crop
    assert abs(int(data.samples[1].float().mean()) - 128) <= 1


def test_mixed_sizes_without_image_size_is_a_user_error(tmp_path, disk):
    folder = tmp_path / "mixed"
    disk.write_png(folder / "a.png", np.zeros((8, 8), np.uint8))
    disk.write_png(folder / "b.png", np.zeros((9, 9), np.uint8))
    with pytest.raises(UserError, match="different sizes.*image-size"):
        load_dataset(DataConfig(name=str(folder)))
    data = load_dataset(DataConfig(name=str(folder), image_size=8))
    assert data.samples.shape == (2, 1, 8, 8)


def test_empty_folder_is_a_user_error(tmp_path):
    folder = tmp_path / "empty"
    (folder / "sub").mkdir(parents=True)
    (folder / "readme.txt").write_text("no images here")
    with pytest.raises(UserError, match="no images"):
        load_dataset(DataConfig(name=str(folder)))


def test_unreadable_image_names_the_file(tmp_path, disk):
    folder = tmp_path / "broken"
    disk.write_png(folder / "good.png", np.zeros((8, 8), np.uint8))
    bad = folder / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    with pytest.raises(UserError) as info:
        load_dataset(DataConfig(name=str(folder)))
    assert str(bad) in str(info.value)


def test_missing_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="unknown data set"):
        load_dataset(DataConfig(name=str(tmp_path / "nowhere")))


def test_gray_folder_to_three_channels(png_folder):
    folder = png_folder(n=4, size=8, rgb=False)
    gray = load_dataset(DataConfig(name=str(folder)))
    rgb = load_dataset(DataConfig(name=str(folder), channels=3))
    assert gray.samples.shape == (4, 1, 8, 8)
    assert rgb.samples.shape == (4, 3, 8, 8)
    for c in range(3):
        assert torch.equal(rgb.samples[:, c], gray.samples[:, 0])


def test_colour_folder_to_one_channel_uses_luma(tmp_path, disk):
    folder = tmp_path / "colour"
    pixel = np.zeros((4, 4, 3), np.uint8)
    pixel[..., 0], pixel[..., 1], pixel[..., 2] = 200, 100, 50
    disk.write_png(folder / "a.png", pixel)
    rgb = load_dataset(DataConfig(name=str(folder)))
    assert rgb.samples.shape == (1, 3, 4, 4)
    assert rgb.samples[0, :, 0, 0].tolist() == [200, 100, 50]
    gray = load_dataset(DataConfig(name=str(folder), channels=1))
    assert gray.samples.shape == (1, 1, 4, 4)
    expected = round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)
    assert abs(int(gray.samples[0, 0, 0, 0]) - expected) <= 1


def test_registry_lists_the_sets():
    assert {"mnist5k", "mnist", "fashion-mnist", "kmnist", "cifar10"} <= set(DATASETS)


# --- batches and value ranges ---------------------------------------------------------------------

def _ids_dataset(n=50):
    """Image i is filled with the value i, so a batch tells which images it holds."""
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 4, 4).contiguous()
    labels = torch.arange(n, dtype=torch.int64) % 10
    return images, labels


def _ids(batch):
    return (batch[:, 0, 0, 0] * 255).round().long().tolist()


@pytest.mark.parametrize("drop_last,expected_batches,expected_count", [(False, 7, 50),
                                                                        (True, 6, 48)])
def test_every_image_once_per_epoch(drop_last, expected_batches, expected_count):
    images, labels = _ids_dataset(50)
    batches = EpochBatches(images, labels, batch_size=8, drop_last=drop_last, seed=3,
                           value_range="unit")
    assert len(batches) == expected_batches
    for epoch in range(2):
        seen = []
        sizes = []
        for real, lab in batches.epoch(epoch):
            assert real.dtype == torch.float32 and real.shape[1:] == (1, 4, 4)
            ids = _ids(real)
            assert lab.tolist() == [i % 10 for i in ids]  # labels travel with their images
            seen += ids
            sizes.append(len(ids))
        assert len(seen) == len(set(seen)) == expected_count
        if not drop_last:
            assert sorted(seen) == list(range(50))
            assert sizes == [8] * 6 + [2]
        else:
            assert sizes == [8] * 6


def test_order_changes_between_epochs_and_repeats_for_same_seed_and_epoch():
    images, _ = _ids_dataset(50)

    def order(seed, epoch):
        batches = EpochBatches(images, None, 10, False, seed, "unit")
        return [i for real, _ in batches.epoch(epoch) for i in _ids(real)]

    assert order(0, 0) == order(0, 0)
    assert order(0, 1) == order(0, 1)
    assert order(0, 0) != order(0, 1)
    assert order(0, 0) != order(1, 0)
    assert order(0, 0) != list(range(50))  # shuffled at all


def test_epoch_start_skips_batches_as_a_resumed_run_needs():
    images, _ = _ids_dataset(50)
    batches = EpochBatches(images, None, 10, False, 0, "unit")
    full = [_ids(real) for real, _ in batches.epoch(2)]
    rest = [_ids(real) for real, _ in batches.epoch(2, start=3)]
    assert rest == full[3:]


def test_small_data_set_still_gives_a_batch():
    images, _ = _ids_dataset(5)
    batches = EpochBatches(images, None, 8, True, 0, "unit")
    got = [_ids(real) for real, _ in batches.epoch(0)]
    assert len(got) == 1 and sorted(got[0]) == [0, 1, 2, 3, 4]


def test_to_model_range_matches_totensor_normalize():
    x = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    tanh = to_model_range(x, "tanh")
    unit = to_model_range(x, "unit")
    assert tanh.dtype == unit.dtype == torch.float32
    assert torch.allclose(tanh, (x.float() / 255 - 0.5) / 0.5, atol=0, rtol=0)
    assert tanh.min() == -1 and tanh.max() == 1
    assert unit.min() == 0 and unit.max() == 1
    assert torch.allclose(unit, x.float() / 255)
    # and back
    assert torch.equal(to_uint8(tanh, "tanh"), x)
    assert torch.equal(to_uint8(unit, "unit"), x)
    assert to_uint8(torch.tensor([[[[-3.0, 3.0]]]]), "tanh").tolist() == [[[[0, 255]]]]


@pytest.mark.parametrize("value_range,low,high", [("tanh", -1.0, 1.0), ("unit", 0.0, 1.0)])
def test_batches_are_in_the_model_range(mnist5k, value_range, low, high):
    batches = EpochBatches(mnist5k.samples[:300], None, 128, False, 0, value_range)
    values = torch.cat([real for real, _ in batches.epoch(0)])
    assert values.shape == (300, 1, 28, 28)
    assert values.min() == low and values.max() == high
