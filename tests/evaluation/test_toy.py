"""2-D toy sets, Stacked MNIST, the toy-mlp models and point runs end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gankit.cli import main
from gankit.config import DataConfig, resolve
from gankit.data import DATASETS, is_points_shape, load_dataset
from gankit.data.stacked import stack_digits
from gankit.data.toy2d import toy_spec
from gankit.errors import UserError
from gankit.evaluation.points import point_scores


@pytest.mark.parametrize("name,modes,radius", [("ring8", 8, 2.0), ("grid25", 25, 4 * 2 ** 0.5)])
def test_toy_sets_are_points_on_their_modes(name, modes, radius):
    data = load_dataset(DataConfig(name=name))
    assert data.kind == "points" and data.samples.dtype == torch.float32
    assert data.samples.shape[1:] == (2,) and data.shape == (2,)
    assert data.images is data.samples  # the former name, kept as a read-only alias
    assert is_points_shape(data.shape) and not is_points_shape((1, 28, 28))
    assert data.num_classes == modes and set(data.labels.tolist()) == set(range(modes))
    spec = toy_spec(name)
    offsets = data.samples.double() - torch.from_numpy(spec.centers)[data.labels]
    assert abs(float(offsets.std()) - spec.sigma) < 0.05 * spec.sigma
    assert abs(float(np.linalg.norm(spec.centers, axis=1).max()) - radius) < 1e-9
    scores = point_scores(data.samples[:2500].numpy(), name)
    assert scores["modes"] == modes and scores["high_quality"] > 0.98
    assert scores["reverse_kl"] < 0.02
    # fixed seeds: the same points every time; the test split differs
    assert torch.equal(load_dataset(DataConfig(name=name)).samples[:10], data.samples[:10])
    assert not torch.equal(load_dataset(DataConfig(name=name), train=False).samples[:10],
                           data.samples[:10])


def test_collapsed_points_score_badly():
    centers = toy_spec("ring8").centers
    one_mode = np.repeat(centers[:1], 2500, 0) + 0.01
    scores = point_scores(one_mode, "ring8")
    assert scores["modes"] == 1 and scores["reverse_kl"] == pytest.approx(np.log(8), abs=1e-6)


def test_toy_sets_refuse_image_options():
    with pytest.raises(UserError, match="points"):
        load_dataset(DataConfig(name="ring8", image_size=32))


def test_stack_digits_labels():
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 1, 2, 2).clone()
    labels = torch.arange(10)
    stacked, codes = stack_digits(images, labels, 50, seed=0)
    assert stacked.shape == (50, 3, 2, 2) and stacked.dtype == torch.uint8
    # image k's channels hold digits d1, d2, d3 and its label is 100 d1 + 10 d2 + d3
    digits = stacked[:, :, 0, 0].long()
    assert torch.equal(codes, digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2])


def test_stacked_mnist_set():
    data = load_dataset(DataConfig(name="stacked-mnist"))
    assert data.samples.shape == (25_000, 3, 28, 28) and data.samples.dtype == torch.uint8
    assert data.num_classes == 1000 and int(data.labels.max()) < 1000
    assert len(torch.unique(data.labels)) > 990  # nearly every one of the 1,000 modes
    assert "stacked-mnist" in DATASETS


def test_list_datasets_shows_them(capsys):
    assert main(["list", "datasets"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("ring8", "grid25", "stacked-mnist"))
    assert main(["list", "models"]) == 0 and "toy-mlp" in capsys.readouterr().out
    assert main(["list", "presets"]) == 0 and "toy-pacgan" in capsys.readouterr().out


def test_points_and_models_must_match():
    with pytest.raises(UserError, match="toy-mlp"):
        resolve("dcgan", overrides={"data.name": "ring8"})
    with pytest.raises(UserError, match="2-D points"):
        resolve("toy-pacgan", overrides={"data.name": "mnist5k"})
    assert resolve("toy-pacgan", overrides={"data.name": "ring8"}).model.pack == 2


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    from gankit.api import train

    out = tmp_path_factory.mktemp("toy") / "run"
    train("toy-pacgan", out=out, data="ring8", steps=12, batch_size=32,
          model__g_hidden="32,32", model__d_hidden="32,32", train__sample_every=6,
          train__eval_every=6, train__grid_size=200, train__threads=1)
    return out


def test_toy_run_writes_scatter_plots_and_metrics(toy_run):
    from PIL import Image

    for name in ("final.png", "step_0000006.png", "step_0000012.png"):
        assert Image.open(toy_run / "samples" / name).size[0] > 100
    metrics = json.loads((toy_run / "toy_metrics.json").read_text())
    assert metrics["step"] == 12 and metrics["num_modes"] == 8
    assert set(metrics) >= {"modes", "high_quality", "reverse_kl"}
    logged = [json.loads(line) for line in (toy_run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged if "modes" in r][:2] == [6, 12]
    assert any("loss_d" in r for r in logged)


def test_sample_points_npz_and_scatter(toy_run, tmp_path, capsys):
    from gankit.api import sample

    points = sample(toy_run, n=100)
    assert points.shape == (100, 2) and points.dtype == torch.float32
    assert not points.requires_grad
    assert torch.equal(points, sample(toy_run, n=100))  # seeded
    out = tmp_path / "s.npz"
    assert main(["sample", str(toy_run), "-n", "300", "--format", "npz", "--out", str(out)]) == 0
    with np.load(out) as npz:
        assert list(npz.keys()) == ["points"]
        assert npz["points"].shape == (300, 2) and npz["points"].dtype == np.float32
    assert main(["sample", str(toy_run), "-n", "300", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 1000
    assert main(["sample", str(toy_run), "--format", "png", "--out", str(tmp_path / "p")]) == 2
    assert "points" in capsys.readouterr().err


def test_resume_a_toy_run(toy_run, tmp_path):
    import shutil

    from gankit.api import train

    run = tmp_path / "run"
    shutil.copytree(toy_run, run)
    train("toy-pacgan", out=run, resume=True, data="ring8", steps=14, batch_size=32,
          model__g_hidden="32,32", model__d_hidden="32,32", train__sample_every=6,
          train__eval_every=6, train__grid_size=200, train__threads=1)
    assert json.loads((run / "toy_metrics.json").read_text())["step"] == 14


def test_point_discriminator_logit_has_the_fixed_gain():
    from gankit.core.models.toy import D_OUT_SCALE, PointDiscriminator

    D = PointDiscriminator((16, 16), (4,), "leaky_relu")
    x = torch.randn(8, 4)
    raw = D.model(x).squeeze(1)
    torch.testing.assert_close(D(x), raw * D_OUT_SCALE)
    assert 0 < D_OUT_SCALE < 1
    assert resolve("toy-pacgan").optim.lr_decay == 0.3  # the preset settles G at the end


@pytest.mark.slow
def test_toy_pacgan_learns_the_ring(tmp_path):
    """A learning test: a short, seeded toy-pacgan run (the preset's nets and losses, fewer
    and smaller batches) covers most of ring8's modes with mostly high-quality samples. A G
    that collapses, or a D or loss that stops teaching, fails it (measured with seed 0: 8/8
    modes, 76 % high quality; after 10 steps: 0 modes, 0 %)."""
    from gankit.api import train

    out = tmp_path / "run"
    train("toy-pacgan", out=out, data="ring8", steps=1500, batch_size=256, seed=0,
          train__eval_every=1500, train__threads=1)
    metrics = json.loads((out / "toy_metrics.json").read_text())
    assert metrics["step"] == 1500
    assert metrics["modes"] >= 7, metrics
    assert metrics["high_quality"] >= 0.6, metrics
