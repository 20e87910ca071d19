"""SeFa's latent directions (Shen & Zhou 2021) and edits along them: the layer they come
from, the sign rule, what they do to G's output, and edits that start exactly at the
projection's reconstruction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit.apps.directions import first_layer, fix_signs, output_change, sefa
from gankit.apps.project import read_latents
from gankit.config import resolve
from gankit.core.models.registry import build_models
from gankit.data import to_uint8
from gankit.errors import UserError


@pytest.mark.parametrize("preset, layer, classes", [("seed-mlp", "model.0", 0),
                                                   ("default", "project.0", 10)])
def test_the_weights_are_those_z_enters_first_without_the_class_columns(preset, layer, classes):
    cfg = resolve(preset)
    G, _ = build_models(cfg.model, (1, 28, 28), classes)
    name, weight = first_layer(G, cfg.model.latent_dim, classes)
    first = G.get_submodule(layer).weight
    assert name == layer and first.shape[1] == 100 + classes
    assert torch.equal(weight, first.detach()[:, :100])  # z's columns; the one-hot's after
    vectors, eigenvalues = sefa(weight)
    assert vectors.shape == (100, 100) and (eigenvalues[:-1] >= eigenvalues[1:]).all()
    gram = weight.double().T @ weight.double()
    assert torch.allclose(gram @ vectors[0].double(), eigenvalues[0] * vectors[0].double(),
                          rtol=1e-4, atol=1e-6)  # an eigenvector of W^T W
    assert torch.allclose(vectors @ vectors.T, torch.eye(100), atol=1e-5)


def test_the_sign_rule_makes_the_directions_the_same_every_time(trained_run, tmp_path, cli):
    vectors = torch.randn(6, 10, generator=torch.Generator().manual_seed(0))
    fixed = fix_signs(vectors)
    assert torch.equal(fix_signs(-vectors), fixed)  # whatever sign LAPACK returns
    rows = torch.arange(6)
    assert (fixed[rows, fixed.abs().argmax(1)] > 0).all()
    first, again = gankit.directions(trained_run), gankit.directions(gankit.load(trained_run))
    assert torch.equal(first.directions, again.directions) and first.layer == "model.0"
    assert (first.directions[torch.arange(100), first.directions.abs().argmax(1)] > 0).all()
    code, text, _ = cli("directions", trained_run, "--out", tmp_path / "d.npz")
    assert code == 0 and "100 SeFa directions of model.0" in text
    with np.load(tmp_path / "d.npz") as saved:
        assert np.array_equal(saved["directions"], first.directions.numpy())
        assert np.array_equal(saved["eigenvalues"], first.eigenvalues.numpy())
        assert str(saved["sign_rule"]) == "largest-magnitude component positive"


def test_the_top_five_directions_change_G_more_than_five_random_ones(trained_run):
    """SeFa's premise: over 64 fixed z, moving along each of the top 5 directions changes
    G's output (mean absolute pixel change) more than any of 5 seeded random directions of
    the same norm."""
    run = gankit.load(trained_run)
    top = gankit.directions(run).directions[:5]
    random = torch.randn(5, 100, generator=torch.Generator().manual_seed(1))
    random = random / random.norm(dim=1, keepdim=True)  # unit, as SeFa's directions
    assert torch.allclose(top.norm(dim=1), torch.ones(5))
    moved = [output_change(run.generator, v, latent_dim=100, latents=64) for v in (top, random)]
    assert moved[0].min() > moved[1].max(), moved


def test_edit_with_amount_zero_is_the_projection_exactly(trained_run, tmp_path, cli):
    run = gankit.load(trained_run)
    with torch.no_grad():
        targets = gankit.sample(run, n=3, seed=11)
    for i, image in enumerate(targets):
        Image.fromarray(image[0].numpy()).save(tmp_path / f"{i}.png")
    found = gankit.project(run, targets, restarts=1, steps=15)
    strip = gankit.edit(run, found.z, component=0, amounts="-3:3:7")
    assert strip.shape == (3, 7, 1, 28, 28) and strip.dtype == torch.uint8
    assert torch.equal(strip[:, 3], found.reconstructions)
    assert not torch.equal(strip[:, 0], strip[:, 3]) and not torch.equal(strip[:, 6], strip[:, 3])
    # the same through the files: gankit project's PNGs and npz, gankit edit's strip
    assert cli("project", trained_run, "--input", tmp_path, "--out", tmp_path / "p",
               "--restarts", "1", "--search-steps", "15")[0] == 0
    code, text, err = cli("edit", trained_run, "--latents", tmp_path / "p" / "latents.npz",
                          "--component", "0", "--amount", "-3:3:7", "--out", tmp_path / "e.png")
    assert code == 0 and "3 x 7 edit strip" in text
    grid = np.asarray(Image.open(tmp_path / "e.png").convert("L"))
    for i in range(3):
        middle = grid[2 + 30 * i:30 + 30 * i, 2 + 30 * 3:30 + 30 * 3]
        assert np.array_equal(middle, np.asarray(Image.open(tmp_path / "p" / f"{i}.png")))


def test_a_class_edit_keeps_z_and_starts_at_the_projection(conditional_run, tmp_path, cli):
    run = gankit.load(conditional_run)
    targets = gankit.sample(run, n=2, seed=2)
    for i, image in enumerate(targets):
        Image.fromarray(image[0].numpy()).save(tmp_path / f"{i}.png")
    assert cli("project", conditional_run, "--input", tmp_path, "--out", tmp_path / "p",
               "--restarts", "1", "--search-steps", "8")[0] == 0
    saved = read_latents(tmp_path / "p" / "latents.npz", 100)
    assert saved["labels"] is not None and len(saved["labels"]) == 2
    strip = gankit.edit(run, tmp_path / "p" / "latents.npz", classes=[0, 7])
    assert strip.shape == (2, 3, 1, 28, 28)
    for i in range(2):
        assert np.array_equal(strip[i, 0, 0].numpy(),
                              np.asarray(Image.open(tmp_path / "p" / f"{i}.png")))
    with torch.no_grad():  # columns: the same z with class 0, then class 7
        seven = run.generator(saved["z"], torch.tensor([7, 7]))
    assert torch.equal(strip[:, 2], to_uint8(seven, "tanh"))
    code, text, _ = cli("edit", conditional_run, "--latents", tmp_path / "p" / "latents.npz",
                        "--class", "3", "--out", tmp_path / "c.png")
    assert code == 0 and "2 x 2 edit strip" in text


@pytest.mark.parametrize("extra, message", [
    (["--component", "100"], "--component 100 is out of range: this run has 100 directions"),
    (["--component", "0", "--amount", "1:2"], "expected start:stop:count"),
    (["--component", "0", "--amount", "-3:3:0"], "expected start:stop:count"),
    (["--class", "3"], "--class needs a class-conditional run"),
    (["--component", "-1"], "must be >= 0"),
    (["--component", "0", "--class", "1"], "not allowed with argument"),
    (["--component", "0", "--latents", "{tmp}/missing.npz"], "latents file not found"),
    (["--component", "0", "--latents", "{tmp}/wide.npz"], "have 7 dimensions"),
    (["--component", "0", "--latents", "{tmp}/notes.txt"], "cannot read latents"),
    (["--component", "0", "--sefa", "{tmp}/wide.npz"], "cannot read directions"),
])
def test_edit_mistakes_are_one_line_and_exit_2(cli, trained_run, tmp_path, extra, message):
    np.savez(tmp_path / "z.npz", z=np.zeros((2, 100), np.float32))
    np.savez(tmp_path / "wide.npz", z=np.zeros((2, 7), np.float32))
    (tmp_path / "notes.txt").write_text("hello")
    args = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    if "--latents" not in args:
        args += ["--latents", str(tmp_path / "z.npz")]
    code, text, err = cli("edit", trained_run, *args, "--out", tmp_path / "e.png")
    assert code == 2 and text == "" and message in err
    assert err.startswith("gankit: error: ") and err.count("\n") == 1


def test_directions_of_a_missing_run_or_one_without_a_linear_first_layer(cli, tmp_path,
                                                                         toy_run):
    code, _, err = cli("directions", tmp_path / "nope")
    assert code == 2 and "run directory not found" in err and err.count("\n") == 1
    with pytest.raises(UserError, match="first layer is a Linear layer"):
        gankit.directions(toy_run())
