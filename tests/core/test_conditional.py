"""Class-conditional DCGAN: one-hot G, projection D, labels through steps, loop and sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import gankit
from gankit.cli import main
from gankit.config import resolve
from gankit.core.losses import get_loss
from gankit.core.models import build_models
from gankit.apps.sampling import class_labels
from gankit.core.steps import d_step, g_step


def _conditional_pair(classes: int = 10):
    cfg = resolve("default")
    assert cfg.model.conditional  # the default preset is class-conditional
    return build_models(cfg.model, (1, 28, 28), classes)


def test_conditional_shapes_and_default_labels():
    G, D = _conditional_pair()
    z = torch.randn(12, 100)
    labels = torch.arange(12) % 10
    images = G(z, labels)
    assert images.shape == (12, 1, 28, 28)
    G.eval()
    with torch.no_grad():
        # without labels a conditional G cycles through the classes 0, 1, ..., 9, 0, 1
        assert torch.equal(G(z), G(z, labels))
        assert not torch.equal(G(z, torch.zeros(12, dtype=torch.long)), G(z, labels))
    assert D(images.detach(), labels).shape == (12,)
    with pytest.raises(ValueError, match="pass labels"):
        D(images.detach())


def test_projection_starts_as_the_unconditional_discriminator_then_learns():
    G, D = _conditional_pair()
    x = torch.randn(8, 1, 28, 28)
    a, b = torch.zeros(8, dtype=torch.long), torch.full((8,), 3)
    assert torch.equal(D(x, a), D(x, b))  # zero-initialised class embedding
    opt_D = torch.optim.Adam(D.parameters(), 1e-2)
    fake = G(torch.randn(8, 100), b)
    stats = d_step(D, opt_D, get_loss("ns"), x, fake, real_labels=a, fake_labels=b)
    assert set(stats) == {"loss_d", "d_real", "d_fake"}
    assert D.projection.embed.weight.abs().sum() > 0
    assert not torch.equal(D(x, a), D(x, b))
    opt_G = torch.optim.Adam(G.parameters(), 1e-2)
    before = G.project[0].weight.detach().clone()
    g_step(D, opt_G, get_loss("ns"), G(torch.randn(8, 100), b), fake_labels=b)
    assert not torch.equal(before, G.project[0].weight)


def test_class_labels_blocks_and_errors():
    assert torch.equal(class_labels(6, [4, 7], 10), torch.tensor([4, 4, 4, 7, 7, 7]))
    assert torch.equal(class_labels(5, None, 3), torch.tensor([0, 1, 2, 0, 1]))
    assert class_labels(5, None, 0) is None
    from gankit.errors import UserError

    with pytest.raises(UserError, match="out of range"):
        class_labels(4, [10], 10)
    with pytest.raises(UserError, match="not class-conditional"):
        class_labels(4, [1], 0)


def test_labels_in_a_data_sets_proportions():
    from gankit.core.models.conditioning import balanced_labels, proportional_labels

    for n in (9, 10, 23, 5000):  # balanced classes: all classes in turn, as before
        assert torch.equal(proportional_labels(n, [500] * 10), balanced_labels(n, 10, "cpu"))
    emoji = [85, 159, 270, 131, 264, 2261, 169, 224, 218]  # emoji-google's categories
    labels = proportional_labels(1000, emoji)
    counts = torch.bincount(labels, minlength=9)
    assert counts.sum() == 1000
    assert (counts - torch.tensor(emoji) * 1000 / sum(emoji)).abs().max() < 1
    assert labels[:9].tolist() == list(range(9))  # interleaved, not in blocks
    assert torch.equal(proportional_labels(7, [1, 0, 3]), torch.tensor([0, 2, 0, 2, 2, 2, 2]))
    assert torch.equal(class_labels(5, None, 3, counts=torch.tensor([1, 1, 2])),
                       torch.tensor([0, 1, 2, 2, 2]))


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("cond")
    rng = np.random.default_rng(0)
    for name, level in (("dark", 40), ("bright", 200)):
        (root / "data" / name).mkdir(parents=True)
        for i in range(8):
            pixels = np.clip(rng.normal(level, 10, (28, 28)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / "data" / name / f"{i}.png")
    return gankit.train("default", out=root / "run", steps=3, data=str(root / "data"),
                        batch_size=8)


def test_a_labelled_folder_trains_a_conditional_run(conditional_run):
    run = gankit.load(conditional_run)
    assert run.num_classes == 2 and run.G.num_classes == 2 and run.G_ema.num_classes == 2
    images = gankit.sample(run, n=6, classes=[1])
    assert images.shape == (6, 1, 28, 28) and images.dtype == torch.uint8
    same = gankit.sample(run, n=6, classes=[1])
    assert torch.equal(images, same)
    assert not torch.equal(images, gankit.sample(run, n=6, classes=[0]))


def test_sample_cli_class_and_classes(conditional_run, tmp_path, capsys):
    from PIL import Image

    assert main(["sample", str(conditional_run), "-n", "10", "--classes", "0,1",
                 "--out", str(tmp_path / "rows.png")]) == 0
    with Image.open(tmp_path / "rows.png") as grid:  # 2 rows of 5 tiles of 28 px + 2 px padding
        assert grid.size == (5 * 30 + 2, 2 * 30 + 2)
    assert main(["sample", str(conditional_run), "-n", "3", "--class", "1", "--format", "npz",
                 "--out", str(tmp_path / "one.npz")]) == 0
    assert np.load(tmp_path / "one.npz")["images"].shape == (3, 28, 28, 1)
    capsys.readouterr()
    assert main(["sample", str(conditional_run), "--class", "5"]) == 2
    assert "out of range" in capsys.readouterr().err


def test_class_on_an_unconditional_run_is_one_line_and_exit_2(trained_run, capsys):
    assert main(["sample", str(trained_run), "--class", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not class-conditional" in err[0]


def test_unlabelled_folder_trains_unconditionally(tmp_path, png_folder, capsys):
    run_dir = gankit.train("default", out=tmp_path / "run", steps=2, batch_size=4,
                           data=str(png_folder(n=8)))
    assert "no class labels; training unconditionally" in capsys.readouterr().out
    assert gankit.load(run_dir).G.num_classes == 0
