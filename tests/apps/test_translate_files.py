"""``gankit translate`` on files: transparency composited onto white (RGBA, LA, palette and
gray images with a transparent colour), outputs at the run's size or the input's own
(``--keep-size``), and colour inputs of a gray run converted with one warning per call.

The run is an identity translator (what goes in comes out), so each output shows exactly
the input the generator was given; it stands in for a trained run, which takes seconds to
train (tests/training/test_translation.py translates files with real ones)."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

import gankit.apps.sampling
from gankit.apps.translate import _read, translate_files
from gankit.cli import main


class IdentityRun:
    """A translation run of ``channels`` x ``size`` x ``size`` images whose generator is the
    identity: uint8 (N, C, H, W) in, the same out."""

    kind = "translation"
    step = 0

    def __init__(self, channels: int, size: int = 16):
        self.shape = (channels, size, size)
        self.config = SimpleNamespace(translation=SimpleNamespace(direction="AtoB"))

    def input_shape(self, direction=None):
        return self.shape

    def translate(self, images_u8, direction=None, ema=True, batch_size=64):
        assert tuple(images_u8.shape[1:]) == self.shape and images_u8.dtype == torch.uint8
        return images_u8.clone()


def _palette_with_transparent_index(colour=(200, 30, 30)) -> Image.Image:
    image = Image.new("P", (5, 4), 1)
    image.putpalette([0, 0, 0, *colour] + [0, 0, 0] * 254)
    image.info["transparency"] = 1  # index 1, every pixel here, is transparent
    return image


def _gray_with_transparent_value() -> Image.Image:
    image = Image.new("L", (5, 4), 0)
    image.info["transparency"] = 0
    return image


@pytest.mark.parametrize("make", [
    lambda: Image.new("RGBA", (5, 4), (0, 0, 0, 0)),
    lambda: Image.new("RGBA", (5, 4), (10, 200, 30, 0)),
    lambda: Image.new("LA", (5, 4), (0, 0)),
    _palette_with_transparent_index,
    _gray_with_transparent_value,
], ids=["rgba-black", "rgba-green", "la", "palette-key", "gray-key"])
@pytest.mark.parametrize("channels", [1, 3])
def test_transparent_pixels_read_as_white(make, channels, tmp_path):
    path = tmp_path / "clear.png"
    make().save(path)  # PNG keeps info["transparency"]: a palette index or a gray value
    pixels, _ = _read(path, channels)
    assert pixels.shape == (channels, 4, 5) and pixels.dtype == torch.uint8
    assert bool((pixels == 255).all())


def test_half_transparent_red_is_blended_with_white_and_opaque_pixels_kept(tmp_path):
    image = Image.new("RGBA", (2, 1), (255, 0, 0, 128))
    image.putpixel((1, 0), (12, 34, 56, 255))
    image.save(tmp_path / "half.png")
    rgb, _ = _read(tmp_path / "half.png", 3)
    assert rgb[:, 0, 0].tolist() == [255, 127, 127]
    assert rgb[:, 0, 1].tolist() == [12, 34, 56]


def _rgba_folder(folder, sizes=((37, 23), (10, 10), (8, 30))):
    """Fully transparent RGBA PNGs of ``sizes`` (width, height), their hidden colour black."""
    folder.mkdir()
    for i, size in enumerate(sizes):
        Image.new("RGBA", size, (0, 0, 0, 0)).save(folder / f"{i}.png")
    return sizes


@pytest.mark.parametrize("keep_size", [False, True])
def test_cli_translates_a_folder_of_transparent_rgba_pngs_as_white_rgb(keep_size, tmp_path,
                                                                      monkeypatch, capfd):
    monkeypatch.setattr(gankit.apps.sampling, "load", lambda *a, **k: IdentityRun(3))
    sizes = _rgba_folder(tmp_path / "in")
    (tmp_path / "run").mkdir()
    argv = ["translate", str(tmp_path / "run"), "--input", str(tmp_path / "in"), "--out",
            str(tmp_path / "out"), "--no-progress"] + (["--keep-size"] if keep_size else [])
    assert main(argv) == 0
    for i, size in enumerate(sizes):
        with Image.open(tmp_path / "out" / f"{i}.png") as out:
            assert out.mode == "RGB" and out.size == (size if keep_size else (16, 16))
            assert (np.asarray(out) == 255).all()
    assert capfd.readouterr().err == ""  # colour run, colour inputs: nothing to warn about


def test_gray_run_given_colour_images_warns_once_on_stderr(tmp_path, monkeypatch, capfd):
    monkeypatch.setattr(gankit.apps.sampling, "load", lambda *a, **k: IdentityRun(1))
    (tmp_path / "in").mkdir()
    (tmp_path / "run").mkdir()
    for i, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        Image.new("RGB", (9, 7), colour).save(tmp_path / "in" / f"{i}.png")
    Image.new("L", (9, 7), 90).save(tmp_path / "in" / "gray.png")
    assert main(["translate", str(tmp_path / "run"), "--input", str(tmp_path / "in"),
                 "--out", str(tmp_path / "out"), "--no-progress", "--keep-size"]) == 0
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gankit: warning: 3 of 4 input image(s)")
    with Image.open(tmp_path / "out" / "0.png") as red:
        assert red.mode == "L" and red.size == (9, 7)
        assert (np.asarray(red) == 76).all()  # ITU-R 601 luminance of pure red


def test_api_warns_once_per_call_and_gray_into_a_colour_run_is_silent(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        Image.new("RGBA", (6, 6), (200, 10, 10, 255)).save(folder / f"{i}.png")
    gray_palette = Image.new("P", (6, 6), 0)
    gray_palette.putpalette([70, 70, 70] * 256)
    gray_palette.save(folder / "3.png")
    lines = []
    translate_files(IdentityRun(1), folder, tmp_path / "a", warn=lines.append)
    assert len(lines) == 1 and lines[0].startswith("3 of 4 ")  # a gray palette loses nothing
    with pytest.warns(UserWarning, match="converted to gray") as caught:
        translate_files(IdentityRun(1), folder, tmp_path / "b")
    assert len(caught) == 1
    (tmp_path / "gray").mkdir()
    Image.new("L", (6, 6), 90).save(tmp_path / "gray" / "g.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        [written] = translate_files(IdentityRun(3, 6), tmp_path / "gray", tmp_path / "c",
                                    warn=lines.append)
    assert len(lines) == 1
    with Image.open(written) as out:
        assert out.mode == "RGB" and (np.asarray(out) == 90).all()
