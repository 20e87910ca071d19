"""Classifiers of the source domain for translation's semantic consistency: one trained on a
user's labelled folder (``gankit extractor train --folder``) and the shipped mnist-cnn, both
frozen and differentiable with respect to float images in [-1, 1]."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from gankit.cli import main
from gankit.data.embedded import load_mnist5k, split_mnist5k
from gankit.errors import UserError
from gankit.evaluation.metrics.classifiers import source_classifier
from gankit.evaluation.metrics.extractors import get_extractor, sha256_file
from gankit.evaluation.metrics.folder_cnn import (load_folder_cnn, read_labelled_folder,
                                                  train_folder_classifier)

SHAPES = ("circle", "square", "triangle")
COLOURS = {"circle": (220, 40, 40), "square": (40, 160, 40), "triangle": (40, 60, 220)}


def _draw(shape: str, size: int, rng: np.random.Generator, mode: str) -> Image.Image:
    """One shape of ``size`` px, placed at random, on white (RGB, gray) or clear (RGBA)."""
    background = (0, 0, 0, 0) if mode == "RGBA" else "white"
    image = Image.new(mode, (size, size), background)
    draw = ImageDraw.Draw(image)
    r = size * rng.uniform(0.22, 0.32)
    cx, cy = size / 2 + rng.uniform(-0.12, 0.12, 2) * size
    box = (cx - r, cy - r, cx + r, cy + r)
    fill = COLOURS[shape] + ((255,) if mode == "RGBA" else ()) if mode != "L" else 0
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rectangle(box, fill=fill)
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
    return image


def _shapes_folder(root, per_class: int = 20, gray: bool = False):
    """``root/<shape>/*.png`` of various sizes; in colour some are RGBA (a clear background,
    composited on white when read) and one is gray."""
    rng = np.random.default_rng(0)
    for shape in SHAPES:
        (root / shape).mkdir(parents=True)
        for i in range(per_class):
            mode = "L" if gray or i == 7 else ("RGBA" if i % 3 == 0 else "RGB")
            size = int(rng.choice([24, 32, 40, 57]))
            _draw(shape, size, rng, mode).save(root / shape / f"{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = _shapes_folder(tmp_path_factory.mktemp("shapes"))
    out = folder.parent / "shapes.pt"
    lines: list[str] = []
    result = train_folder_classifier(folder, out, epochs=6, seed=0, echo=lines.append)
    return folder, out, result, lines


def test_trains_on_a_labelled_folder(trained):
    folder, out, result, lines = trained
    assert result["classes"] == sorted(SHAPES) and result["channels"] == 3
    assert result["held_out"] == 6 and result["trained_on"] == 54  # 10 %, 2 of each 20
    assert result["accuracy"] >= 0.8, result
    assert result["sha256"] == sha256_file(out) and result["path"] == str(out)
    assert len(lines) == 6 and lines[-1].startswith("epoch 6/6")
    net, fields, digest = load_folder_cnn(out)
    assert fields["classes"] == sorted(SHAPES) and fields["side"] == 32 and not net.training


def test_the_file_is_a_source_classifier(trained):
    folder, out, result, _ = trained
    judge = source_classifier(str(out))
    assert judge.classes == sorted(SHAPES) and judge.num_classes == 3
    assert not judge.training and not any(p.requires_grad for p in judge.parameters())
    images, labels, _ = read_labelled_folder(folder)  # 32 px RGB, as trained
    logits = judge(images.float() / 127.5 - 1)
    assert logits.shape == (60, 3)
    assert float((logits.argmax(1) == labels).float().mean()) >= 0.9
    big = torch.nn.functional.interpolate(images[:4].float() / 127.5 - 1, size=(64, 80))
    assert judge(big).shape == (4, 3)  # any size: the middle square, resized
    torch.nn.Sequential(judge).train()
    assert not judge.training  # a frozen judge stays in eval mode


def test_mnist_cnn_agrees_with_its_extractor_and_passes_gradients():
    data = load_mnist5k()
    _, held = split_mnist5k(5000, 500, seed=0)
    images = data.samples[held]
    judge = source_classifier("mnist-cnn")
    assert judge.classes == [str(d) for d in range(10)] and judge.num_classes == 10
    _, probs = get_extractor("mnist-cnn")(images)
    with torch.no_grad():
        logits = judge(images.float() / 127.5 - 1)
    assert torch.equal(logits.argmax(1), torch.from_numpy(probs.argmax(1)))
    x = (images[:8].float() / 127.5 - 1).expand(-1, 3, -1, -1)
    x = torch.nn.functional.interpolate(x, size=32).requires_grad_(True)  # RGB, 32 px
    torch.nn.functional.cross_entropy(judge(x), data.labels[held][:8]).backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert all(p.grad is None for p in judge.parameters())


def test_unknown_specs_and_foreign_files_are_refused(tmp_path):
    with pytest.raises(UserError, match="unknown source classifier"):
        source_classifier("resnet-50")
    from gankit.evaluation.metrics.extractors import MNIST_CNN_WEIGHTS

    with pytest.raises(UserError, match="not a classifier of a labelled folder"):
        source_classifier(str(MNIST_CNN_WEIGHTS))
    (tmp_path / "junk.pt").write_bytes(b"not a weights file")
    with pytest.raises(UserError, match="cannot load"):
        source_classifier(str(tmp_path / "junk.pt"))


def test_cli_trains_a_gray_folder(tmp_path, capsys):
    folder = _shapes_folder(tmp_path / "gray", per_class=10, gray=True)
    out = tmp_path / "gray.pt"
    assert main(["extractor", "train", "--folder", str(folder), "--out", str(out),
                 "--epochs", "1", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}: 3 classes (circle, square, triangle)" in printed
    assert f"sha256 {sha256_file(out)}" in printed
    judge = source_classifier(str(out))
    assert judge.channels == 1 and judge(torch.zeros(2, 3, 32, 32)).shape == (2, 3)
    again = train_folder_classifier(folder, tmp_path / "again" / "gray.pt", epochs=1,
                                    echo=lambda line: None)  # same seed, same file name
    assert again["sha256"] == sha256_file(out)


@pytest.mark.parametrize("layout, message", [
    ({"a.png": None}, "has images directly in it"),
    ({"cats/a.png": None, "b.png": None}, "has images directly in it"),
    ({"cats/a.png": None, "cats/b.png": None}, "1 class folder"),
    ({"cats/a.png": None, "cats/b.png": None, "dogs/c.png": None, "birds/": None},
     "holds no images"),
    ({"cats/a.png": None, "cats/b.png": None, "dogs/c.png": None}, "holds one image"),
])
def test_cli_refuses_a_folder_without_classes(tmp_path, capsys, layout, message):
    for name in layout:
        (tmp_path / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        if name.endswith("/"):
            (tmp_path / "data" / name).mkdir()
        else:
            Image.new("RGB", (8, 8), "white").save(tmp_path / "data" / name)
    assert main(["extractor", "train", "--folder", str(tmp_path / "data"),
                 "--out", str(tmp_path / "w.pt"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "w.pt").exists()


def test_folder_and_extractor_are_exclusive(tmp_path, capsys):
    assert main(["extractor", "train", "--folder", str(tmp_path), "--extractor", "digits-cnn",
                 "--out", str(tmp_path / "w.pt")]) == 2
    assert "not allowed with argument --folder" in capsys.readouterr().err
    assert main(["extractor", "train", "--folder", str(tmp_path), "--data", "mnist5k",
                 "--out", str(tmp_path / "w.pt")]) == 2
    assert "--data is for mnist-cnn" in capsys.readouterr().err
