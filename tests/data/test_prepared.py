"""Prepared data sets: the format written and opened, its checks, and the decoding pieces
(alpha, resize policies) it shares with image folders."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.data import prepared
from gankit.data.folder import decode_image, fit_image, load_folder, parse_background
from gankit.data.prepared import PreparedWriter, file_sha256, open_prepared
from gankit.errors import UserError


def _write_set(out, images, labels=None, classes=(), keep=None):
    with PreparedWriter(out, len(images), images.shape[1:]) as writer:
        writer.images[:] = images
        return writer.finish(labels, classes, keep=keep, source={"kind": "test"})


def _random(n=6, shape=(3, 5, 4), seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)


# --- the format -------------------------------------------------------------------------------

def test_written_set_is_plain_numpy_with_a_manifest(tmp_path):
    images, labels = _random(), np.array([0, 1, 0, 1, 1, 0])
    manifest = _write_set(tmp_path / "set", images, labels, ("a", "b"))
    folder = tmp_path / "set"
    assert sorted(p.name for p in folder.iterdir()) == ["images.npy", "labels.npy",
                                                       "manifest.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]  # no partial dir left
    # anyone opens it without gankit
    assert np.array_equal(np.load(folder / "images.npy", mmap_mode="r"), images)
    assert np.load(folder / "labels.npy").tolist() == labels.tolist()
    on_disk = json.loads((folder / "manifest.json").read_text())
    assert on_disk == manifest
    assert on_disk["count"] == 6 and on_disk["shape"] == [3, 5, 4] and on_disk["channels"] == 3
    assert on_disk["classes"] == ["a", "b"] and on_disk["format_version"] == 1
    assert on_disk["images_sha256"] == file_sha256(folder / "images.npy")
    assert on_disk["images_bytes"] == (folder / "images.npy").stat().st_size
    assert on_disk["created_by"].startswith("gankit ")


def test_open_maps_the_array_without_copying(tmp_path):
    images = _random()
    _write_set(tmp_path / "set", images)
    opened = open_prepared(tmp_path / "set")
    assert isinstance(opened.images, np.memmap)
    assert opened.labels is None and opened.classes == []
    data = opened.to_image_data()
    assert data.mapped and data.labels is None and data.num_classes == 0
    assert data.samples.dtype == torch.uint8 and data.samples.shape == (6, 3, 5, 4)
    # the tensor views the map itself
    assert data.samples.data_ptr() == opened.images.ctypes.data
    assert np.array_equal(data.samples.numpy(), images)
    # writing to it (copy on write) never reaches the file
    data.samples[0] = 0
    assert np.array_equal(np.load(tmp_path / "set" / "images.npy"), images)


def test_dropped_rows_shorten_the_file_in_place(tmp_path):
    images, labels = _random(5), np.array([0, 1, 2, 1, 0])
    keep = np.array([True, False, True, True, False])
    manifest = _write_set(tmp_path / "set", images, labels, ("x", "y", "z"), keep=keep)
    assert manifest["count"] == 3
    loaded = np.load(tmp_path / "set" / "images.npy")
    assert np.array_equal(loaded, images[keep])
    opened = open_prepared(tmp_path / "set", verify="full")
    assert opened.labels.tolist() == [0, 2, 1]
    header = (tmp_path / "set" / "images.npy").read_bytes()[:128]
    assert len(header.split(b"\n")[0]) % 64 == 63  # the header keeps numpy's alignment


def test_an_error_while_writing_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with PreparedWriter(tmp_path / "set", 4, (1, 2, 2)) as writer:
            writer.images[:2] = 7
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(KeyboardInterrupt):
        with PreparedWriter(tmp_path / "set", 4, (1, 2, 2)):
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_an_existing_output_is_refused_and_kept(tmp_path):
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "mine.txt").write_text("keep")
    with pytest.raises(UserError, match="already exists"):
        _write_set(tmp_path / "set", _random())
    assert (tmp_path / "set" / "mine.txt").read_text() == "keep"


# --- checks on open ---------------------------------------------------------------------------

def _count_hashes(monkeypatch):
    calls = []
    real = prepared.file_sha256

    def counting(path, *args):
        calls.append(path.name)
        return real(path, *args)

    monkeypatch.setattr(prepared, "file_sha256", counting)
    return calls


def test_open_hashes_the_array_only_when_it_changed(tmp_path, monkeypatch):
    _write_set(tmp_path / "set", _random())
    calls = _count_hashes(monkeypatch)
    open_prepared(tmp_path / "set")
    assert "images.npy" not in calls  # size and mtime as recorded: no full read
    open_prepared(tmp_path / "set", verify="full")
    assert calls.count("images.npy") == 1
    # same bytes, new time (a copy, a touch): hashed once, then remembered
    path = tmp_path / "set" / "images.npy"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    calls.clear()
    open_prepared(tmp_path / "set")
    assert calls.count("images.npy") == 1
    calls.clear()
    open_prepared(tmp_path / "set")
    assert "images.npy" not in calls


def test_a_changed_array_is_caught(tmp_path):
    _write_set(tmp_path / "set", _random())
    path = tmp_path / "set" / "images.npy"
    stat = path.stat()
    with open(path, "r+b") as handle:  # one byte of one pixel, same size
        handle.seek(-1, os.SEEK_END)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_END)
        handle.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    with pytest.raises(UserError, match="does not match its manifest") as info:
        open_prepared(tmp_path / "set")
    assert "\n" not in str(info.value)
    # a change that kept the recorded time is still found by the full check
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    open_prepared(tmp_path / "set", verify="quick")
    with pytest.raises(UserError, match="does not match"):
        open_prepared(tmp_path / "set", verify="full")


def test_a_truncated_array_is_caught_without_reading_it(tmp_path, monkeypatch):
    _write_set(tmp_path / "set", _random())
    path = tmp_path / "set" / "images.npy"
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size - 10)
    calls = _count_hashes(monkeypatch)
    with pytest.raises(UserError, match="bytes but its manifest says"):
        open_prepared(tmp_path / "set")
    assert "images.npy" not in calls


@pytest.mark.parametrize("damage,message", [
    (lambda d: (d / "manifest.json").unlink(), "manifest.json is missing"),
    (lambda d: (d / "manifest.json").write_text("{not json"), "cannot read"),
    (lambda d: (d / "manifest.json").write_text('{"format": "other"}'), "not a gankit prepared"),
    (lambda d: (d / "images.npy").unlink(), "images.npy is missing"),
    (lambda d: (d / "labels.npy").unlink(), "labels.npy"),
    (lambda d: np.save(d / "labels.npy", np.array([5, 0, 0, 0, 0, 0])), "labels.npy"),
])
def test_a_damaged_set_is_one_line(tmp_path, damage, message):
    _write_set(tmp_path / "set", _random(), np.zeros(6, np.int64), ("only", "two"))
    damage(tmp_path / "set")
    with pytest.raises(UserError, match=message) as info:
        open_prepared(tmp_path / "set")
    assert "\n" not in str(info.value)


# --- training's loader ------------------------------------------------------------------------

def test_load_dataset_opens_a_prepared_folder_mapped(tmp_path):
    images, labels = _random(8, (1, 6, 6)), np.arange(8) % 2
    _write_set(tmp_path / "set", images, labels, ("even", "odd"))
    data = load_dataset(DataConfig(name=str(tmp_path / "set")))
    assert data.mapped and data.note == ""
    assert data.samples.shape == (8, 1, 6, 6) and data.num_classes == 2
    assert data.class_names == ("even", "odd")
    assert np.array_equal(data.samples.numpy(), images)
    assert data.labels.tolist() == labels.tolist()
    # another size or channel count: converted in memory, no longer the map
    rgb = load_dataset(DataConfig(name=str(tmp_path / "set"), channels=3, image_size=8))
    assert rgb.samples.shape == (8, 3, 8, 8) and not rgb.mapped


def test_a_raw_folder_says_how_to_load_faster(png_folder):
    folder = png_folder(n=3, size=8)
    data = load_dataset(DataConfig(name=str(folder)))
    assert not data.mapped
    assert data.note.startswith("note: decoding the 3 images of ")
    assert f"gankit data prepare {folder} --out DIR" in data.note and "\n" not in data.note


# --- decoding pieces shared with folders --------------------------------------------------------

def test_transparent_pixels_go_onto_the_background(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200  # red under every pixel
    rgba[:2, :, 3] = 255  # top half opaque, bottom half transparent
    rgba[2, 0, 3] = 128  # one half-transparent pixel
    path = tmp_path / "a.png"
    Image.fromarray(rgba, "RGBA").save(path)
    white = fit_image(decode_image(path, "RGB"), 0)
    assert white.shape == (3, 4, 4)
    assert white[:, 0, 0].tolist() == [200, 0, 0]
    assert white[:, 3, 3].tolist() == [255, 255, 255]
    # alpha 128/255 of red over white
    expected = [200 * 128 / 255 + 255 * 127 / 255, 255 * 127 / 255, 255 * 127 / 255]
    assert np.abs(white[:, 2, 0] - np.array(expected)).max() <= 1
    black = fit_image(decode_image(path, "RGB", (0, 0, 0)), 0)
    assert black[:, 3, 3].tolist() == [0, 0, 0]
    teal = fit_image(decode_image(path.read_bytes(), "RGB", parse_background("#008080")), 0)
    assert teal[:, 3, 3].tolist() == [0, 128, 128]
    # a folder of such images reads them the same way (onto white)
    assert np.array_equal(load_folder(tmp_path).samples[0].numpy(), white)


def test_center_crop_and_pad():
    wide = np.zeros((4, 8), np.uint8)
    wide[:, :2] = 50  # a dark band at the left end
    wide[:, 2:6] = 255
    image = Image.fromarray(wide, "L")
    cropped = fit_image(image, 4, "center-crop")
    assert cropped.shape == (1, 4, 4) and (cropped == 255).all()  # the ends are cut
    padded = fit_image(image, 8, "pad", background=(0, 0, 0))
    assert padded.shape == (1, 8, 8)
    assert np.array_equal(padded[0, 2:6], wide)  # whole image, centred
    assert (padded[0, :2] == 0).all() and (padded[0, 6:] == 0).all()
    grey = fit_image(image, 8, "pad", background=(255, 255, 255))
    assert (grey[0, :2] == 255).all()


@pytest.mark.parametrize("text,colour", [("white", (255, 255, 255)), ("black", (0, 0, 0)),
                                         ("#FF8000", (255, 128, 0))])
def test_backgrounds(text, colour):
    assert parse_background(text) == colour


@pytest.mark.parametrize("text", ["blue", "#12345", "#gg0000", ""])
def test_bad_backgrounds_are_user_errors(text):
    with pytest.raises(UserError, match="#rrggbb"):
        parse_background(text)


def test_workers_write_decoded_rows_into_the_memory_map_themselves(png_folder, tmp_path):
    """With several workers and a memory-mapped output, the pixels are written by the worker
    into the file (nothing comes back through the pipe but errors and odd shapes)."""
    from gankit.data.decoding import DecodeSpec, MappedTarget, decode_chunk_into

    folder = png_folder(n=3, size=6, rgb=True)
    paths = sorted(folder.glob("*.png"))
    out = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.uint8,
                                    shape=(4, 3, 6, 6))
    target = MappedTarget.of(out)
    assert target is not None and MappedTarget.of(np.zeros((4, 3, 6, 6), np.uint8)) is None
    odd = png_folder(n=1, size=5, rgb=True)
    jobs = [(2, paths[0], "a"), (0, paths[1], "b"), (3, next(odd.glob("*.png")), "odd"),
            (1, None, "gone")]
    results = decode_chunk_into(DecodeSpec("RGB"), target, jobs)
    assert [(i, a is None, bool(e)) for i, a, e in results] == [
        (2, True, False), (0, True, False), (3, False, False), (1, True, True)]
    assert results[2][1].shape == (3, 5, 5)  # another size: returned for the caller to report
    out.flush()
    written = np.load(tmp_path / "x.npy")
    assert np.array_equal(written[2], np.asarray(Image.open(paths[0])).transpose(2, 0, 1))
    assert np.array_equal(written[0], np.asarray(Image.open(paths[1])).transpose(2, 0, 1))
    assert not written[1].any() and not written[3].any()


def test_the_row_hasher_gives_the_files_sha256_whatever_the_order(tmp_path):
    from gankit.data.prepared import RowHasher

    images = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.uint8,
                                       shape=(9000, 2, 3, 3))
    hasher = RowHasher(images)
    order = np.random.default_rng(0).permutation(9000)
    for part in np.array_split(order, 7):  # rows arrive out of order
        images[part] = (part % 251).astype(np.uint8)[:, None, None, None]
        assert hasher.hexdigest() is None
        hasher.add(part.tolist())
    images.flush()
    assert hasher.hexdigest() == file_sha256(tmp_path / "x.npy")
