"""The emoji sets, from a tiny tarball in the npm package's layout that the tests build;
the network is never touched (``npm_pack`` is replaced)."""

from __future__ import annotations

import io
import json
import shutil
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.config import DataConfig
from gankit.data import DATASETS, emoji, load_dataset
from gankit.errors import UserError

PACKAGE = "emoji-datasource-google"
TARBALL = f"{PACKAGE}-{emoji.VERSION}.tgz"
# (name, category, sort_order, colour, skin variants)
EMOJI = [("1f600.png", "Smileys & Emotion", 2, (250, 200, 0), []),
         ("1f44b.png", "People & Body", 1, (200, 120, 60), ["1f44b-1f3fb.png"]),
         ("1f3fb.png", "Component", 3, (255, 220, 180), []),
         ("1f34e.png", "Food & Drink", 0, (220, 0, 0), [])]


def _png(colour) -> bytes:
    """64x64 RGBA: a coloured disc-ish square in the middle, transparent around it."""
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[16:48, 16:48] = (*colour, 255)
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


@pytest.fixture
def fixture_tarball(tmp_path):
    """A tarball laid out as the npm package: package/emoji.json, package/img/google/64/."""
    meta = []
    for name, category, order, _, variants in EMOJI:
        entry = {"image": name, "category": category, "sort_order": order,
                 "has_img_google": True, "has_img_twitter": False}
        if variants:
            entry["skin_variations"] = {"1F3FB": {"image": variants[0], "has_img_google": True}}
        meta.append(entry)
    path = tmp_path / "fixture" / TARBALL
    path.parent.mkdir()
    with tarfile.open(path, "w:gz") as archive:
        _add(archive, "package/package.json", b'{"name": "emoji-datasource-google"}')
        _add(archive, "package/emoji.json", json.dumps(meta).encode())
        for name, _, _, colour, variants in EMOJI:
            _add(archive, f"package/img/google/64/{name}", _png(colour))
            for variant in variants:
                _add(archive, f"package/img/google/64/{variant}", _png((255, 220, 180)))
    return path


@pytest.fixture
def registry(fixture_tarball, monkeypatch):
    """Pin the fixture's integrity and fetch it by copying; returns the npm calls made."""
    calls = []
    monkeypatch.setitem(emoji.PACKAGES, "emoji-google",
                        (PACKAGE, "google", emoji.integrity_of(fixture_tarball)))

    def fake_pack(spec, folder):
        calls.append((spec, folder))
        shutil.copy(fixture_tarball, folder / TARBALL)

    monkeypatch.setattr(emoji, "npm_pack", fake_pack)
    return calls


def test_emoji_sets_are_registered():
    assert {"emoji-google", "emoji-twitter"} <= set(DATASETS)
    for name in ("emoji-google", "emoji-twitter"):
        assert emoji.PACKAGES[name][2].startswith("sha512-")


def test_fetched_checked_decoded_and_cached(tmp_path, registry):
    root = tmp_path / "data"
    data = load_dataset(DataConfig(name="emoji-google", root=str(root)))
    assert registry == [(f"{PACKAGE}@16.0.0", root / "emoji")]
    # 5 images drawn, the Component swatch left out; order: sort_order, variants after
    assert data.samples.shape == (4, 3, 64, 64) and data.samples.dtype == torch.uint8
    assert data.class_names == ("Food & Drink", "People & Body", "Smileys & Emotion")
    assert data.labels.tolist() == [0, 1, 1, 2] and data.num_classes == 3
    assert data.name == "emoji-google" and data.mapped
    assert data.samples[:, :, 0, 0].tolist() == [[255, 255, 255]] * 4  # onto white
    assert data.samples[0, :, 32, 32].tolist() == [220, 0, 0]  # the apple keeps its colour
    assert data.samples[3, :, 32, 32].tolist() == [250, 200, 0]
    cache = root / "emoji" / f"{PACKAGE}-16.0.0"
    manifest = json.loads((cache / "manifest.json").read_text())
    assert manifest["count"] == 4 and manifest["source"]["package"] == f"{PACKAGE}@16.0.0"
    # later runs open the cache and never fetch again
    again = load_dataset(DataConfig(name="emoji-google", root=str(root), download=False))
    assert len(registry) == 1 and torch.equal(again.samples, data.samples)


def test_each_row_knows_its_emoji_and_prepared_copies_their_set(tmp_path, registry):
    """emoji-cnn's held-out split groups a skin-tone variant with its emoji; gankit eval
    knows a set prepared from an emoji set (or the cache itself) by its manifest."""
    from gankit.apps.prepare import prepare

    root = str(tmp_path / "data")
    assert emoji.emoji_groups("emoji-google", root) == [
        "1f34e.png", "1f44b.png", "1f44b.png", "1f600.png"]  # the rows of load_emoji
    assert emoji.emoji_set_of("emoji-google") == "emoji-google"
    emoji.load_emoji("emoji-google", root)  # builds the cache
    assert emoji.emoji_set_of(str(tmp_path / "data" / "emoji" / f"{PACKAGE}-16.0.0")) == \
        "emoji-google"
    prepare("emoji-google", tmp_path / "copy", root=root, progress=False, echo=lambda m: None)
    assert emoji.emoji_set_of(str(tmp_path / "copy")) == "emoji-google"
    assert emoji.emoji_set_of("mnist5k") is None
    assert emoji.emoji_set_of(str(tmp_path / "nowhere")) is None


def test_a_tarball_put_there_by_hand_is_used_offline(tmp_path, fixture_tarball, registry):
    folder = tmp_path / "data" / "emoji"
    folder.mkdir(parents=True)
    shutil.copy(fixture_tarball, folder / TARBALL)
    data = emoji.load_emoji("emoji-google", root=str(tmp_path / "data"), download=False)
    assert len(data.samples) == 4 and registry == []


def test_a_tarball_that_is_not_the_pinned_one_is_refused(tmp_path, registry, monkeypatch):
    monkeypatch.setitem(emoji.PACKAGES, "emoji-google", (PACKAGE, "google", "sha512-AAAA"))
    root = tmp_path / "data"
    with pytest.raises(UserError, match="is not the pinned emoji-datasource-google@16.0.0"):
        emoji.load_emoji("emoji-google", root=str(root))
    assert not (root / "emoji" / f"{PACKAGE}-16.0.0").exists()  # nothing cached


def test_offline_without_the_file_says_what_to_run(tmp_path, registry):
    folder = tmp_path / "data" / "emoji"
    with pytest.raises(UserError) as info:
        emoji.load_emoji("emoji-google", root=str(tmp_path / "data"), download=False)
    message = str(info.value)
    assert f"run `npm pack {PACKAGE}@16.0.0` in {folder}" in message
    assert f"put {TARBALL} there" in message and "\n" not in message
    assert registry == []


def test_without_npm_one_line_says_what_to_run(tmp_path, monkeypatch, fixture_tarball):
    monkeypatch.setitem(emoji.PACKAGES, "emoji-google",
                        (PACKAGE, "google", emoji.integrity_of(fixture_tarball)))
    monkeypatch.setattr(emoji.shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="npm is not installed") as info:
        emoji.load_emoji("emoji-google", root=str(tmp_path / "data"))
    assert f"npm pack {PACKAGE}@16.0.0" in str(info.value)


def test_a_failing_npm_is_one_line(tmp_path, monkeypatch):
    def offline(spec, folder):
        raise UserError("npm error code ENOTFOUND")

    monkeypatch.setattr(emoji, "npm_pack", offline)
    with pytest.raises(UserError, match="could not fetch emoji-datasource-google@16.0.0 "
                                        r"\(npm error code ENOTFOUND\); run `npm pack"):
        emoji.load_emoji("emoji-google", root=str(tmp_path / "data"))
    assert not (tmp_path / "data" / "emoji" / TARBALL).exists()


def test_entries_follow_sort_order_with_variants_after_their_emoji():
    meta = [{"image": "b.png", "category": "X", "sort_order": 2, "has_img_google": True},
            {"image": "a.png", "category": "Y", "sort_order": 1, "has_img_google": False,
             "skin_variations": {"2": {"image": "a2.png", "has_img_google": True},
                                 "1": {"image": "a1.png", "has_img_google": True}}},
            {"image": "c.png", "category": "Component", "sort_order": 0,
             "has_img_google": True}]
    assert emoji.emoji_entries(meta, "google") == [("Y", "a1.png"), ("Y", "a2.png"),
                                                   ("X", "b.png")]
    assert emoji.emoji_entries(meta, "twitter") == []
