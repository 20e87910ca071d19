"""The shipped emoji-cnn classifier: pinned by sha256, small, 128 features and 9 category
probabilities for 64 px colour images, the extractor of the emoji sets (and of sets prepared
from them); its held-out split never cuts an emoji.

Nothing here touches the network or the real emoji sets: their checks (held-out accuracy,
the committed command rebuilding the pinned file) are ``bench/emoji_extractor.py``.
"""

from __future__ import annotations


import numpy as np
import pytest
import torch

from gankit.cli import main
from gankit.data.prepared import PreparedWriter
from gankit.errors import UserError
from gankit.evaluation.metrics import emoji_cnn
from gankit.evaluation.metrics.emoji_cnn import (EMOJI_CNN_SHA256, EMOJI_CNN_WEIGHTS,
                                                 load_emoji_cnn, predict, split_by_emoji,
                                                 train_emoji_cnn)
from gankit.evaluation.metrics.extractors import default_extractor, get_extractor, sha256_file



def test_shipped_weights_are_small_and_pinned():
    assert EMOJI_CNN_WEIGHTS.stat().st_size < 1_000_000
    assert sha256_file(EMOJI_CNN_WEIGHTS) == EMOJI_CNN_SHA256
    net, digest = load_emoji_cnn()
    assert digest == EMOJI_CNN_SHA256 and not net.training


def test_features_and_probabilities_of_any_images():
    extractor = get_extractor("emoji-cnn")
    assert extractor.name == "emoji-cnn" and extractor.sha256 == EMOJI_CNN_SHA256
    images = torch.randint(0, 256, (6, 3, 64, 64), dtype=torch.uint8)
    features, probs = extractor(images)
    assert features.shape == (6, 128) and features.dtype == np.float64
    assert probs.shape == (6, 9) and np.allclose(probs.sum(1), 1)
    gray_small = torch.randint(0, 256, (2, 1, 32, 32), dtype=torch.uint8)  # resized, repeated
    assert extractor(gray_small)[0].shape == (2, 128)
    with pytest.raises(UserError, match="uint8"):
        extractor(images.float())


def test_tampered_or_missing_weights_are_refused(tmp_path, monkeypatch):
    bad = tmp_path / "emoji_cnn.pt"
    data = bytearray(EMOJI_CNN_WEIGHTS.read_bytes())
    data[2000] ^= 1  # one flipped bit
    bad.write_bytes(bytes(data))
    monkeypatch.setattr(emoji_cnn, "EMOJI_CNN_WEIGHTS", bad)
    with pytest.raises(UserError, match="sha256"):
        get_extractor("emoji-cnn")
    with pytest.raises(UserError, match="sha256"):
        load_emoji_cnn(bad, expected_sha256=EMOJI_CNN_SHA256)
    monkeypatch.setattr(emoji_cnn, "EMOJI_CNN_WEIGHTS", tmp_path / "missing.pt")
    with pytest.raises(UserError, match="--extractor emoji-cnn"):
        get_extractor("emoji-cnn")


def _prepared(path: Path, source: dict) -> Path:
    with PreparedWriter(path, 2, (3, 64, 64)) as writer:
        writer.images[:] = 255
        writer.finish(np.array([0, 1]), ("a", "b"), source=source)
    return path


def test_data_sets_choose_their_extractor(tmp_path):
    for name in ("emoji-google", "emoji-twitter"):
        assert default_extractor((3, 64, 64), name) == "emoji-cnn"
    from_registered = _prepared(tmp_path / "a", {"kind": "registered", "name": "emoji-twitter"})
    the_cache = _prepared(tmp_path / "b", {"kind": "npm",
                                           "package": "emoji-datasource-google@16.0.0"})
    other = _prepared(tmp_path / "c", {"kind": "folder", "path": "photos"})
    assert default_extractor((3, 64, 64), str(from_registered)) == "emoji-cnn"
    assert default_extractor((3, 32, 32), str(the_cache)) == "emoji-cnn"
    # everything else as before: Inception for colour, mnist-cnn for small gray images
    assert default_extractor((3, 64, 64), str(other)) == "inception"
    assert default_extractor((3, 32, 32), "cifar10") == "inception"
    assert default_extractor((1, 28, 28), "mnist5k") == "mnist-cnn"
    assert default_extractor((3, 64, 64), str(tmp_path / "no-such-folder")) == "inception"


def test_eval_every_on_an_emoji_set_uses_emoji_cnn(tmp_path):
    from gankit.evaluation.monitor import QualityMonitor

    real = torch.randint(0, 256, (12, 3, 64, 64), dtype=torch.uint8)
    source = _prepared(tmp_path / "set", {"kind": "registered", "name": "emoji-google"})
    monitor = QualityMonitor(real, latent_dim=4, value_range="tanh", every=1, metrics=(),
                             n=12, data_name=str(source))
    assert monitor.extractor.name == "emoji-cnn"


def test_the_split_holds_out_whole_emoji_of_every_category():
    # 40 emoji in 4 categories, some with 5 skin tones, in two vendors' copies
    groups, labels = [], []
    for vendor in range(2):
        for emoji in range(40):
            tones = 5 if emoji % 3 == 0 else 1
            groups += [f"e{emoji}"] * tones
            labels += [emoji % 4] * tones
    labels = torch.tensor(labels)
    train, held = split_by_emoji(groups, labels, fraction=0.2, seed=0)
    assert len(train) + len(held) == len(groups)
    held_names = {groups[i] for i in held.tolist()}
    assert not held_names & {groups[i] for i in train.tolist()}  # no emoji on both sides
    assert len(held_names) == 8 and set(labels[held].tolist()) == {0, 1, 2, 3}
    assert torch.equal(held, split_by_emoji(groups, labels, fraction=0.2, seed=0)[1])


def _tiny_data(n: int = 24):
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, 64, 64), dtype=torch.uint8, generator=generator)
    labels = torch.arange(n) % 3
    return images, labels, [f"e{i % (n // 2)}" for i in range(n)]


def _learnable_data(n: int = 96):
    """n 64 px "emoji" in 3 categories that their colour tells apart (a red, green or blue
    disc of random size and place on white, with pixel noise), n/2 emoji in two "vendors'"
    copies: what a classifier that learns anything at all reads off."""
    generator = torch.Generator().manual_seed(0)
    half = n // 2
    labels = (torch.arange(n) % half) % 3
    colours = torch.tensor([[230, 40, 40], [40, 200, 60], [40, 70, 230]])
    ys, xs = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    radius = torch.randint(16, 26, (n, 1, 1), generator=generator)
    centre = torch.randint(22, 42, (n, 2, 1, 1), generator=generator)
    disc = ((ys - centre[:, 0]) ** 2 + (xs - centre[:, 1]) ** 2 <= radius ** 2)[:, None]
    images = torch.where(disc, colours[labels][:, :, None, None], torch.tensor(255))
    images = images + torch.randint(-20, 21, images.shape, generator=generator)
    return images.clamp(0, 255).to(torch.uint8), labels, [f"e{i % half}" for i in range(n)]


def test_training_learns_the_categories_of_held_out_emoji(tmp_path):
    """Six epochs on 84 images read the category of the 12 held-out ones (all of them here,
    with any of four seeds; an untrained network reads about a third): measured here on
    the saved file, and what the trainer reports."""
    images, labels, groups = _learnable_data()
    result = train_emoji_cnn(tmp_path / "w.pt", epochs=6, data=(images, labels, groups),
                             echo=lambda m: None)
    net, digest = load_emoji_cnn(tmp_path / "w.pt", expected_sha256=result["sha256"])
    assert result["held_out"] + result["trained_on"] == 96 and result["held_out"] > 0
    assert net.head.out_features == 3 and digest == sha256_file(tmp_path / "w.pt")
    _, held = split_by_emoji(groups, labels)
    assert len(held) == result["held_out"]
    accuracy = float((predict(net, images[held]) == labels[held]).float().mean())
    assert accuracy >= 0.75, accuracy
    assert result["accuracy"] == pytest.approx(accuracy, abs=1e-6)


def test_cli_trains_emoji_cnn(tmp_path, capsys, monkeypatch):
    seen = {}

    def tiny(root, download=True):
        seen["root"] = root
        return _tiny_data()

    monkeypatch.setattr(emoji_cnn, "emoji_training_data", tiny)
    out = tmp_path / "w.pt"
    assert main(["extractor", "train", "--extractor", "emoji-cnn", "--root", str(tmp_path),
                 "--epochs", "1", "--out", str(out)]) == 0
    assert seen["root"] == str(tmp_path)
    assert f"sha256 {sha256_file(out)}" in capsys.readouterr().out
    assert main(["extractor", "train", "--extractor", "emoji-cnn", "--data", "mnist5k",
                 "--out", str(out)]) == 2
    assert "--data is for mnist-cnn" in capsys.readouterr().err
