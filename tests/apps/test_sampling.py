"""The Python API (train, load, sample) and the sample writers (grid, PNG folder, npz)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit.config import resolve
from gankit.errors import UserError
from gankit.apps.sampling import Run, generate, save_npz, save_png_folder
from gankit.data.pictures import save_grid


def test_train_returns_the_run_dir_with_a_checkpoint(trained_run):
    assert isinstance(trained_run, Path) and trained_run.is_dir()
    assert (trained_run / "checkpoints" / "step_0000005.pt").is_file()
    saved = json.loads((trained_run / "config.json").read_text())
    assert saved["preset"] == "seed-tutorial" and saved["train"]["steps"] == 5


def test_load_gives_networks_and_config(trained_run):
    run = gankit.load(trained_run)
    assert isinstance(run, Run)
    assert run.config == resolve("seed-tutorial", overrides={"train.steps": 5})
    assert run.step == 5 and run.image_shape == (1, 28, 28)
    assert run.num_classes == 0  # the MLP is unconditional, though mnist5k has 10 classes
    assert not run.G.training and not run.D.training  # ready to sample
    assert run.G_ema is None and run.generator is run.G  # seed-tutorial keeps no EMA
    z = torch.randn(2, 100)
    assert run.G(z).shape == (2, 1, 28, 28)
    assert run.D(run.G(z)).shape == (2,)
    # the weights are the trained ones, not a fresh initialisation
    state = torch.load(trained_run / "checkpoints" / "step_0000005.pt", weights_only=True)
    for key, value in run.G.state_dict().items():
        assert torch.equal(value, state["G"][key])
    # a checkpoint file loads too
    again = gankit.load(trained_run / "checkpoints" / "step_0000005.pt")
    assert again.step == 5 and again.run_dir == trained_run


def test_sample_is_uint8_and_seeded(trained_run):
    run = gankit.load(trained_run)
    images = gankit.sample(run, n=7)
    assert images.dtype == torch.uint8 and images.shape == (7, 1, 28, 28)
    assert images.float().std() > 0  # not a constant picture
    assert torch.equal(images, gankit.sample(run, n=7))
    assert torch.equal(images, gankit.sample(str(trained_run), n=7, seed=0))
    assert not torch.equal(images, gankit.sample(run, n=7, seed=1))
    # uint8 is the generator's tanh output mapped to 0..255
    with torch.no_grad():
        z = torch.randn(7, 100, generator=torch.Generator().manual_seed(0))
        expected = ((run.G(z) * 0.5 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
    assert torch.equal(images, expected)


def test_generate_in_batches_matches_one_batch(trained_run):
    G = gankit.load(trained_run).G
    assert torch.allclose(generate(G, 10, 100, seed=3, batch_size=3),
                          generate(G, 10, 100, seed=3, batch_size=500), atol=1e-5)


def test_load_missing_run_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="run directory not found"):
        gankit.load(tmp_path / "absent")


def test_api_train_rejects_bad_overrides(tmp_path):
    with pytest.raises(UserError, match="unknown config key"):
        gankit.train("seed-tutorial", out=tmp_path / "r", steps=2, train__nope=1)
    with pytest.raises(UserError, match="batch size"):
        gankit.train("seed-tutorial", out=tmp_path / "r", steps=2, batch_size=0)
    assert not (tmp_path / "r").exists()


def _images(n=6, channels=1, size=8):
    return torch.arange(n * channels * size * size).remainder(256).to(torch.uint8).view(
        n, channels, size, size)


@pytest.mark.parametrize("channels", [1, 3])
def test_save_npz_layout(tmp_path, channels):
    images = _images(channels=channels)
    path = save_npz(images, tmp_path / "out" / "s.npz")
    with np.load(path) as data:
        assert list(data.keys()) == ["images"]
        array = data["images"]
    assert array.dtype == np.uint8 and array.shape == (6, 8, 8, channels)
    assert np.array_equal(array, images.permute(0, 2, 3, 1).numpy())


@pytest.mark.parametrize("channels", [1, 3])
def test_save_png_folder_round_trip(tmp_path, channels):
    images = _images(n=5, channels=channels)
    folder = save_png_folder(images, tmp_path / "pngs")
    files = sorted(folder.iterdir())
    assert [f.name for f in files] == [f"{i:06d}.png" for i in range(5)]
    for i, path in enumerate(files):
        array = np.asarray(Image.open(path))
        expected = images[i].permute(1, 2, 0).numpy()
        assert np.array_equal(array, expected[..., 0] if channels == 1 else expected)


def test_save_grid_layout(tmp_path):
    images = torch.full((16, 1, 8, 8), 255, dtype=torch.uint8)
    images[0] = 0
    path = save_grid(images, tmp_path / "g" / "grid.png")
    grid = np.asarray(Image.open(path).convert("L"))
    # make_grid: 4 x 4 tiles of 8 px with 2 px padding -> 2 + 4 * 10 = 42
    assert grid.shape == (42, 42)
    assert grid[2:10, 2:10].max() == 0  # the first tile is the black image
    assert grid[2:10, 12:20].min() == 255
    path = save_grid(images[:6], tmp_path / "six.png", nrow=3)
    assert np.asarray(Image.open(path)).shape[:2] == (22, 32)
