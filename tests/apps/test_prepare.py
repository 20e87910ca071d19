"""``gankit data prepare`` / ``verify``: every source, the options, parallel decoding, bad
input as one line and exit 2 with nothing left behind, and training on the result."""

from __future__ import annotations

import json
import os
import tarfile
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.apps import prepare as prepare_app
from gankit.apps.prepare import prepare
from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.data.folder import load_folder
from gankit.data.prepared import file_sha256, open_prepared
from gankit.errors import UserError


def _one_line_error(code, err, *needles):
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gankit: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def _nothing_left(parent, name="out"):
    """Neither the output nor a partial directory of it is there."""
    assert not any(p.name == name or p.name.startswith(f".{name}.partial")
                   for p in parent.iterdir()), list(parent.iterdir())


def _zip(folder, path, top=""):
    with zipfile.ZipFile(path, "w") as archive:
        for file in sorted(folder.rglob("*.png"), reverse=True):  # stored in another order
            archive.write(file, top + file.relative_to(folder).as_posix())
        archive.writestr("__MACOSX/._x.png", b"resource fork, not an image")
    return path


def _tar(folder, path):
    with tarfile.open(path, "w:gz") as archive:
        for file in sorted(folder.rglob("*.png"), reverse=True):
            archive.add(file, "./" + file.relative_to(folder).as_posix())
    return path


def _arrays(out):
    opened = open_prepared(out)
    return np.array(opened.images), opened.labels, opened.classes


# --- sources ----------------------------------------------------------------------------------

def test_a_folder_round_trip_equals_the_folder_loader(png_folder, tmp_path):
    folder = png_folder(n=9, size=10, rgb=True, classes=("cat", "dog", "eel"))
    manifest = prepare(folder, tmp_path / "out", workers=1, progress=False, echo=lambda s: None)
    direct = load_folder(folder)
    images, labels, classes = _arrays(tmp_path / "out")
    assert np.array_equal(images, direct.samples.numpy())
    assert labels.tolist() == direct.labels.tolist() and classes == ["cat", "dog", "eel"]
    assert manifest["count"] == 9 and manifest["shape"] == [3, 10, 10]
    assert manifest["source"] == {"kind": "folder", "path": str(folder.resolve())}
    assert manifest["resize"] == "center-crop" and manifest["background"] == "#ffffff"
    assert manifest["skipped"] == []
    # training's loader reads the prepared set as it read the folder
    data = load_dataset(DataConfig(name=str(tmp_path / "out")))
    assert data.mapped and torch.equal(data.samples, direct.samples)


def test_zip_and_tar_give_the_folders_set(png_folder, tmp_path):
    folder = png_folder(n=6, size=8, classes=("a", "b"))
    prepare(folder, tmp_path / "from_folder", workers=1, progress=False, echo=print)
    want = _arrays(tmp_path / "from_folder")
    sources = {"zip": _zip(folder, tmp_path / "set.zip"),
               "wrapped": _zip(folder, tmp_path / "wrapped.zip", top="photos/"),
               "tgz": _tar(folder, tmp_path / "set.tgz")}
    for name, archive in sources.items():
        manifest = prepare(archive, tmp_path / name, workers=1, progress=False, echo=print)
        got = _arrays(tmp_path / name)
        assert np.array_equal(got[0], want[0]), name
        assert got[1].tolist() == want[1].tolist() and got[2] == ["a", "b"], name
        assert manifest["source"]["kind"] == ("tar" if name == "tgz" else "zip")


def test_parallel_decoding_gives_the_same_bytes(png_folder, tmp_path):
    folder = png_folder(n=70, size=(9, 12), rgb=True)  # more than two chunks
    one = prepare(folder, tmp_path / "one", image_size=8, workers=1, progress=False,
                  echo=print)
    two = prepare(folder, tmp_path / "two", image_size=8, workers=2, progress=False,
                  echo=print)
    assert one["images_sha256"] == two["images_sha256"] and one["count"] == 70
    # the sha256 taken while the rows were written is the written file's
    assert two["images_sha256"] == file_sha256(tmp_path / "two" / "images.npy")
    assert np.array_equal(_arrays(tmp_path / "one")[0], _arrays(tmp_path / "two")[0])


def test_a_registered_set_is_written_as_training_loads_it(tmp_path):
    prepare("mnist5k", tmp_path / "digits", image_size=14, progress=False, echo=print)
    direct = load_dataset(DataConfig(name="mnist5k", image_size=14))
    images, labels, classes = _arrays(tmp_path / "digits")
    assert images.shape == (5000, 1, 14, 14)
    assert np.array_equal(images, direct.samples.numpy())
    assert labels.tolist() == direct.labels.tolist() and classes == [str(i) for i in range(10)]


# --- options -----------------------------------------------------------------------------------

def test_image_size_resize_policy_and_channels(tmp_path, disk):
    folder = tmp_path / "mixed"
    disk.write_png(folder / "wide.png", np.full((4, 8), 90, np.uint8))
    disk.write_png(folder / "tall.png", np.full((8, 4), 90, np.uint8))
    prepare(folder, tmp_path / "crop", image_size=4, workers=1, progress=False, echo=print)
    crop = _arrays(tmp_path / "crop")[0]
    assert crop.shape == (2, 1, 4, 4) and (crop == 90).all()  # gray: one channel
    prepare(folder, tmp_path / "pad", image_size=4, resize="pad", background="black",
            channels=3, workers=1, progress=False, echo=print)
    pad = _arrays(tmp_path / "pad")[0]
    assert pad.shape == (2, 3, 4, 4)
    assert (pad[0, :, :, 1:3] == 90).all() and (pad[0, :, :, 0] == 0).all()  # tall: side bars
    assert (pad[1, :, 1:3] == 90).all() and (pad[1, :, 0] == 0).all()  # wide: top and bottom
    manifest = json.loads((tmp_path / "pad" / "manifest.json").read_text())
    assert manifest["resize"] == "pad" and manifest["background"] == "#000000"


def test_skip_bad_lists_the_unreadable_files(png_folder, tmp_path, capsys):
    folder = png_folder(n=5, size=6, classes=("a", "b"))
    (folder / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    manifest = prepare(folder, tmp_path / "out", skip_bad=True, workers=2, progress=False)
    assert manifest["count"] == 5
    assert [s["name"] for s in manifest["skipped"]] == ["a/broken.png"]
    assert "cannot read image" in manifest["skipped"][0]["reason"]
    images, labels, _ = _arrays(tmp_path / "out")
    direct = [p for p in sorted(folder.rglob("*.png")) if p.name != "broken.png"]
    expected = np.stack([np.asarray(Image.open(p))[None] for p in direct])
    assert np.array_equal(images, expected)
    assert labels.tolist() == [0 if p.parent.name == "a" else 1 for p in direct]
    assert "skipped 1 unreadable files" in capsys.readouterr().out


def test_ctrl_c_while_decoding_leaves_nothing(png_folder, tmp_path, monkeypatch):
    folder = png_folder(n=4, size=6)

    def interrupted(out, *args, **kwargs):
        out[:2] = 1
        raise KeyboardInterrupt

    monkeypatch.setattr(prepare_app, "decode_into", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare(folder, tmp_path / "out", workers=1, progress=False)
    _nothing_left(tmp_path)


def test_a_points_set_cannot_be_prepared(tmp_path):
    with pytest.raises(UserError, match="2-D points"):
        prepare("ring8", tmp_path / "out", progress=False)
    _nothing_left(tmp_path)


# --- through the command line: bad input is one line, exit 2, nothing written ---------------------

def test_corrupt_image_in_a_zip(cli, png_folder, tmp_path):
    folder = png_folder(n=3, size=6)
    archive = _zip(folder, tmp_path / "set.zip")
    with zipfile.ZipFile(archive, "a") as handle:
        handle.writestr("zz/corrupt.png", b"\x89PNG\r\n\x1a\n garbage")
    for workers in (1, 2):
        code, _, err = cli("data", "prepare", archive, "--out", tmp_path / "out", "--workers",
                           workers, "--no-progress")
        _one_line_error(code, err, "cannot read image zz/corrupt.png", "--skip-bad")
        _nothing_left(tmp_path)
    code, out, err = cli("data", "prepare", archive, "--out", tmp_path / "out", "--skip-bad",
                         "--no-progress")
    assert code == 0, err
    assert "prepared 3 images" in out and "skipped 1 unreadable files" in out


def test_mixed_sizes_without_image_size(cli, tmp_path, disk):
    folder = tmp_path / "photos"
    disk.write_png(folder / "a.png", np.zeros((8, 8), np.uint8))
    disk.write_png(folder / "b.png", np.zeros((8, 8), np.uint8))
    disk.write_png(folder / "c.png", np.zeros((6, 10), np.uint8))
    code, _, err = cli("data", "prepare", folder, "--out", tmp_path / "out", "--no-progress")
    _one_line_error(code, err, "a.png is 8x8", "c.png is 10x6", "--image-size")
    _nothing_left(tmp_path)
    code, _, err = cli("data", "prepare", folder, "--out", tmp_path / "out", "--image-size", 8,
                       "--no-progress")
    assert code == 0, err


def test_an_array_that_no_longer_matches_its_manifest(cli, png_folder, tmp_path):
    folder = png_folder(n=4, size=6)
    code, _, err = cli("data", "prepare", folder, "--out", tmp_path / "set", "--no-progress")
    assert code == 0, err
    code, out, _ = cli("data", "verify", tmp_path / "set")
    assert code == 0 and "matches the sha256" in out
    path = tmp_path / "set" / "images.npy"
    stat = path.stat()
    with open(path, "r+b") as handle:
        handle.seek(-3, os.SEEK_END)
        handle.write(b"\x00\x01\x02")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with its old time
    code, _, err = cli("data", "verify", tmp_path / "set")
    _one_line_error(code, err, "does not match its manifest", "prepare the set again")
    # training refuses it too (the time changed: checked on open)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10 ** 9))
    code, _, err = cli("train", "--preset", "seed-tutorial", "--data", tmp_path / "set",
                       "--steps", 1, "--out", tmp_path / "run", "--no-progress")
    _one_line_error(code, err, "does not match its manifest")


@pytest.mark.parametrize("args,needle", [
    (["nowhere"], "not a folder, a .zip or tar archive, or a data set name"),
    (["SRC", "--background", "pink"], "#rrggbb"),
    (["SRC", "--resize", "stretch"], "invalid choice"),
    (["SET"], "already a prepared data set"),
])
def test_other_bad_input(cli, png_folder, tmp_path, args, needle):
    folder = png_folder(n=2, size=4)
    prepare(folder, tmp_path / "set", progress=False, echo=print)
    args = [{"SRC": folder, "SET": tmp_path / "set"}.get(a, a) for a in args]
    code, _, err = cli("data", "prepare", *args, "--out", tmp_path / "out")
    _one_line_error(code, err, needle)
    _nothing_left(tmp_path)


def test_missing_emoji_cache_offline(cli, tmp_path, monkeypatch):
    from gankit.data import emoji

    def offline(spec, folder):
        raise UserError("npm error code ENOTFOUND")

    monkeypatch.setattr(emoji, "npm_pack", offline)
    code, _, err = cli("data", "prepare", "emoji-google", "--out", tmp_path / "out", "--root",
                       tmp_path / "data")
    _one_line_error(code, err, "npm pack emoji-datasource-google@16.0.0",
                    str(tmp_path / "data" / "emoji"))
    _nothing_left(tmp_path)


# --- training on a prepared set ------------------------------------------------------------------

def test_train_on_a_prepared_set_streamed_with_mirror(cli, png_folder, tmp_path):
    folder = png_folder(n=24, size=28)
    assert cli("data", "prepare", folder, "--out", tmp_path / "set", "--no-progress")[0] == 0
    code, out, err = cli("train", "--preset", "seed-tutorial", "--data", tmp_path / "set",
                         "--steps", 2, "--batch-size", 8, "--mirror", "--out", tmp_path / "run",
                         "--set", "data.memory_budget_gb=0.000001", "--no-progress")
    assert code == 0, err
    assert "over the memory budget" in out and "trained 2 steps" in out
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["data"]["mirror"] is True and saved["data"]["name"] == str(tmp_path / "set")
