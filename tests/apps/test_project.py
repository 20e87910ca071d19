"""Projection (GAN inversion): the search finds a generated image's latent (and class), a
folder is projected image by image as one image alone is, the files round-trip, and every
mistake is one line with exit code 2."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit.apps.project import project, read_latents
from gankit.data import to_uint8


def _generated(run, n: int, seed: int, labels=None) -> torch.Tensor:
    """uint8 images G(z*) of n seeded latents (and ``labels``): targets G can make."""
    z = torch.randn(n, run.config.model.latent_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        images = run.generator(z) if labels is None else run.generator(z, labels)
    return to_uint8(images, run.config.data.value_range)


def _mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image MSE of uint8 images, in [0, 1] pixel units."""
    return ((a.float() - b.float()) / 255).pow(2).flatten(1).mean(1)


def test_projection_beats_a_random_sample_and_its_error_falls_over_the_steps(trained_run):
    run = gankit.load(trained_run)
    target = _generated(run, 3, seed=7)
    found = project(run, target, restarts=2, steps=120, prior_weight=0.0, trace_every=30)
    assert found.z.shape == (3, 100) and found.labels is None
    random = gankit.sample(run, n=3, seed=99)
    assert (found.fit_mse < _mse(random, target)).all()
    assert torch.allclose(found.fit_mse, _mse(found.reconstructions, target), atol=2e-4)
    # the path: the start, every 30 steps, the end; the last frame is the reconstruction
    assert found.trace_steps == [0, 30, 60, 90, 120]
    assert found.trace.shape == (3, 5, 1, 28, 28)
    assert torch.equal(found.trace[:, -1], found.reconstructions)
    errors = torch.stack([_mse(found.trace[:, t], target) for t in range(5)], 1)
    assert (errors[:, -1] < errors[:, 0] / 2).all()


def test_conditional_projection_finds_the_class(toy_run):
    run = toy_run(num_classes=5)
    labels = torch.tensor([3, 0, 4, 1])
    target = _generated(run, 4, seed=1, labels=labels)
    found = project(run, target, restarts=1, steps=80, prior_weight=0.0, lr=0.1)
    assert torch.equal(found.labels, labels)
    assert float(found.fit_mse.max()) < 1e-4


def test_the_traced_path_is_the_winners_own_through_both_stages(toy_run):
    """With a class search the winner's path runs through the explore stage (all candidates)
    and the refine stage (the kept ones): it starts at one of the seeded starts, ends at the
    winning z, and no step jumps further than Adam moves (a few learning rates)."""
    from gankit.apps.latent_search import SearchSettings, search_latents

    run = toy_run(num_classes=5)
    x = _generated(run, 3, seed=2, labels=torch.tensor([4, 1, 2])).float() / 127.5 - 1
    settings = SearchSettings(restarts=2, steps=40, lr=0.05, seed=6, independent=True,
                              trace_every=1, prior_weight=0.0)
    found = search_latents(run.G, x, torch.ones(3, 1, 8, 8), latent_dim=4, settings=settings)
    assert found.trace.shape == (3, 41, 4) and found.trace_steps == list(range(41))
    assert torch.equal(found.trace[:, -1], found.z)
    starts = torch.randn(10, 4, generator=torch.Generator().manual_seed(6))  # 5 classes x 2
    assert all((starts == path[0]).all(1).any() for path in found.trace)
    jumps = (found.trace[:, 1:] - found.trace[:, :-1]).abs().amax(dim=(1, 2))
    assert (jumps < 4 * settings.lr).all(), jumps


def test_a_folder_is_projected_as_each_image_alone(trained_run, tmp_path):
    run = gankit.load(trained_run)
    images = _generated(run, 3, seed=3)
    for i, image in enumerate(images):
        (tmp_path / "in" / f"d{i}").mkdir(parents=True)
        Image.fromarray(image[0].numpy()).save(tmp_path / "in" / f"d{i}" / "x.png")
    options = dict(restarts=2, steps=25, seed=4)
    folder = project(run, tmp_path / "in", **options)
    assert folder.names == ["d0/x.png", "d1/x.png", "d2/x.png"]
    for i in range(3):
        alone = project(run, tmp_path / "in" / f"d{i}" / "x.png", **options)
        assert alone.names == ["x.png"]
        assert torch.equal(alone.z[0], folder.z[i])
        assert torch.equal(alone.reconstructions[0], folder.reconstructions[i])


def test_cli_writes_reconstructions_latents_and_the_search_path(cli, trained_run, tmp_path):
    run = gankit.load(trained_run)
    for i, image in enumerate(_generated(run, 2, seed=5)):
        path = tmp_path / "in" / ("sub" if i else "") / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[0].numpy()).save(path)
    out = tmp_path / "out"
    code, text, err = cli("project", trained_run, "--input", tmp_path / "in", "--out", out,
                          "--search-steps", "20", "--restarts", "1", "--trace", "10")
    assert code == 0 and err == ""
    assert "projected 2 image(s) with the step-5 generator" in text and "PSNR" in text
    saved = read_latents(out / "latents.npz", latent_dim=100)
    assert saved["names"] == ["0.png", "sub/1.png"] and saved["labels"] is None
    with np.load(out / "latents.npz") as raw:
        assert set(raw.files) == {"z", "labels", "fit_mse", "psnr", "names"}
        assert raw["z"].dtype == np.float32 and raw["labels"].tolist() == [-1, -1]
        fit, psnr = raw["fit_mse"], raw["psnr"]
    assert np.allclose(psnr, 10 * np.log10(1 / fit), atol=1e-3)
    # the PNGs are G(z) of the saved latents, exactly
    with torch.no_grad():
        again = to_uint8(run.generator(saved["z"]), "tanh")
    for name, image in zip(("0.png", "sub/1.png"), again):
        assert np.array_equal(np.asarray(Image.open(out / name)), image[0].numpy())
        strip = Image.open(out / "trace" / name)  # start, 10, 20: three frames in a row
        assert strip.size == (3 * 30 + 2, 30 + 2)


@pytest.mark.parametrize("extra, message", [
    (["--input", "{tmp}/nope"], "--input not found"),
    (["--input", "{tmp}/empty"], "no images"),
    (["--image", "{tmp}/small.png"], "run makes 28x28"),
    (["--image", "{tmp}/notes.txt"], "cannot read image"),
    (["--input", "{tmp}/broken"], "cannot read image"),
    (["--image", "{tmp}/d.png", "--search-steps", "0"], "must be > 0"),
    (["--image", "{tmp}/d.png", "--input", "{tmp}/empty"], "not allowed with argument"),
    ([], "one of the arguments --image --input is required"),
])
def test_mistakes_are_one_line_and_exit_2(cli, trained_run, tmp_path, extra, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "bad.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("hello")
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "small.png")
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "d.png")
    args = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    code, text, err = cli("project", trained_run, *args, "--out", tmp_path / "o")
    assert code == 2 and text == "" and message in err
    assert err.startswith("gankit: error: ") and err.count("\n") == 1


def test_a_run_without_a_generator_is_one_line(cli, tmp_path):
    (tmp_path / "not-a-run").mkdir()
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "d.png")
    code, _, err = cli("project", tmp_path / "not-a-run", "--image", tmp_path / "d.png")
    assert code == 2 and "no checkpoint in" in err and err.count("\n") == 1
    code, _, err = cli("project", tmp_path / "missing", "--image", tmp_path / "d.png")
    assert code == 2 and "run directory not found" in err
