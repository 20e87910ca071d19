"""emoji-styles: Google's and Twitter's emoji paired by code point, from two tiny tarballs in
the npm packages' layout that the tests build (the network is never touched)."""

from __future__ import annotations

import io
import json
import shutil
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit.cli import main
from gankit.data import emoji, load_translation
from gankit.data.emoji_styles import code_point_of, rows_of
from gankit.errors import UserError

CATEGORIES = ("Smileys & Emotion", "People & Body", "Food & Drink")
# 8 emoji per category, the second of each with one skin-tone variant
EMOJI = [(f"1f{0x600 + 16 * c + i:03x}.png", category, [f"1f{0x600 + 16 * c + i:03x}-1f3fb.png"]
          if i == 1 else []) for c, category in enumerate(CATEGORIES) for i in range(8)]


def _png(colour, vendor: str) -> bytes:
    """64x64 RGBA, transparent around: Google draws a disc, Twitter a square."""
    rgba = np.zeros((64, 64, 4), np.uint8)
    yy, xx = np.mgrid[:64, :64]
    shape = ((yy - 32) ** 2 + (xx - 32) ** 2 < 20 ** 2) if vendor == "google" else \
        ((abs(yy - 32) < 14) & (abs(xx - 32) < 14))
    rgba[shape] = (*colour, 255)
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def _tarball(folder, package: str, vendor: str):
    meta = [{"image": name, "category": category, "sort_order": order,
             f"has_img_{vendor}": True,
             **({"skin_variations": {"1F3FB": {"image": variants[0], f"has_img_{vendor}": True}}}
                if variants else {})}
            for order, (name, category, variants) in enumerate(EMOJI)]
    path = folder / f"{package}-{emoji.VERSION}.tgz"
    with tarfile.open(path, "w:gz") as archive:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        add("package/emoji.json", json.dumps(meta).encode())
        for order, (name, _, variants) in enumerate(EMOJI):
            for file in [name, *variants]:
                colour = ((37 * order) % 256, (91 * order) % 256, 200 if variants else 60)
                add(f"package/img/{vendor}/64/{file}", _png(colour, vendor))
    return path


@pytest.fixture
def emoji_packages(tmp_path_factory, monkeypatch):
    """Both vendors' fixture tarballs pinned and fetched by copying; returns data.root."""
    folder = tmp_path_factory.mktemp("emoji-fixture")
    tarballs = {}
    for name, (package, vendor, _) in list(emoji.PACKAGES.items()):
        tarballs[package] = _tarball(folder, package, vendor)
        monkeypatch.setitem(emoji.PACKAGES, name,
                            (package, vendor, emoji.integrity_of(tarballs[package])))

    def fake_pack(spec, where):
        shutil.copy(tarballs[spec.split("@")[0]], where)

    monkeypatch.setattr(emoji, "npm_pack", fake_pack)
    return str(tmp_path_factory.mktemp("data"))


def test_pairs_are_matched_by_code_point_and_held_out_by_emoji(emoji_packages):
    data = load_translation("emoji-styles", root=emoji_packages)
    assert data.paired and (data.a_domain, data.b_domain) == ("google", "twitter")
    assert data.a.shape[1:] == (3, 32, 32)  # 32 px unless asked otherwise
    assert len(data.a) + len(data.a_test) == len(EMOJI) + 3  # 24 emoji + 3 skin tones
    # 15 % of each category's 8 emoji (1) held out, with its skin tones: both styles
    held = [name.split("-")[0] for name in data.a_test_names]
    assert len(set(held)) == 3 and not set(held) & {n.split("-")[0] for n in data.a_names}
    assert data.a_test_labels.tolist() == [
        next(sorted(CATEGORIES).index(c) for n, c, _ in EMOJI if n.startswith(h)) for h in held]
    assert data.a_labels is None and data.b_labels is None  # categories: evaluation only
    # row i of A and of B are one emoji: the same colour drawn as a disc and as a square,
    # on white (the transparent corners)
    google, twitter = data.a_test, data.b_test
    assert (google[..., 0, 0] == 255).all() and (twitter[..., 0, 0] == 255).all()
    assert (google[..., 16, 16].int() - twitter[..., 16, 16].int()).abs().max() <= 1
    assert (twitter[..., 25, 16] == 255).all()  # outside the square, inside the disc
    assert (google[..., 25, 16] < 250).any(1).all()


def test_64_px_on_request(emoji_packages):
    data = load_translation("emoji-styles", image_size=64, root=emoji_packages)
    assert data.a.shape[1:] == (3, 64, 64)


@pytest.mark.parametrize("typed", ["1f600", "1F600", "U+1F600", "1f600.png", "\U0001F600"])
def test_code_points_are_read_as_typed(typed):
    assert code_point_of(typed) == "1f600"
    assert rows_of([typed], ["1f44b.png", "1f600.png"]) == [1]


def test_a_code_point_the_set_lacks_is_one_line():
    with pytest.raises(UserError, match="emoji-styles has no emoji '1f9ff'"):
        rows_of(["1f9ff"], ["1f600.png"])


def test_listed_among_the_translation_sets(capsys):
    assert main(["list", "translations"]) == 0
    assert "emoji-styles" in capsys.readouterr().out


TINY_CUT = {"translation__g_channels": 8, "translation__d_channels": 8,
            "translation__resnet_blocks": 1, "translation__nce_patches": 16,
            "translation__nce_head": 16, "train__tensorboard": False,
            "train__sample_every": 0, "train__log_every": 2}


def test_cut_translates_emoji_by_code_point(emoji_packages, tmp_path, capsys):
    run = gankit.train("cut", out=tmp_path / "run", steps=4, batch_size=4,
                       data__root=emoji_packages, **TINY_CUT)
    out = tmp_path / "out"
    assert main(["translate", str(run), "--emoji", "1f600,\U0001F601", "--out", str(out)]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["1f600.png", "1f601.png"]
    with Image.open(out / "1f600.png") as image:
        assert image.mode == "RGB" and image.size == (32, 32)
    capsys.readouterr()
    assert main(["translate", str(run), "--emoji", "1f9ff", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no emoji '1f9ff'" in err
