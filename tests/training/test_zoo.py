"""The model zoo: every model x loss trains a few steps on the CPU; every preset runs end to
end; minibatch std-dev, ResNet and ACGAN shapes."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from gankit.config import PRESETS, ModelConfig, preset
from gankit.config.kinds import kind_of
from gankit.core.losses import LOSSES, get_loss
from gankit.core.models import MODELS, build_models
from gankit.core.models.layers import MinibatchStdDev
from gankit.core.penalties import Regularisers
from gankit.core.steps import d_step, discriminate, g_step, judge, judge_aux

SHAPE = (1, 28, 28)
CLASSES = 10

# (id, model config, conditional?) — small widths: these only have to train, not be good.
MODELS_UNDER_TEST = [
    ("mlp", ModelConfig(name="mlp", g_hidden=(16,), d_hidden=(16,)), False),
    ("mlp-mbstd", ModelConfig(name="mlp", g_hidden=(16,), d_hidden=(16,), mbstd=True), False),
    ("dcgan", ModelConfig(name="dcgan", g_channels=4, d_channels=4, init="dcgan"), False),
    ("dcgan-batchnorm", ModelConfig(name="dcgan", g_channels=4, d_channels=4, d_norm="batch"),
     False),
    ("dcgan-spectral-mbstd", ModelConfig(name="dcgan", g_channels=4, d_channels=4,
                                         d_norm="spectral", mbstd=True), False),
    ("dcgan-projection", ModelConfig(name="dcgan", g_channels=4, d_channels=4,
                                     conditional=True), True),
    ("acgan", ModelConfig(name="acgan", g_channels=4, d_channels=4, conditional=True), True),
    ("resnet", ModelConfig(name="resnet", g_channels=4, d_channels=4, d_norm="spectral",
                           init="glorot"), False),
    ("resnet-projection-mbstd", ModelConfig(name="resnet", g_channels=4, d_channels=4,
                                            d_norm="spectral", conditional=True, mbstd=True),
     True),
    ("resnet-acgan", ModelConfig(name="resnet", g_channels=4, d_channels=4, conditional=True,
                                 aux_classifier=True), True),
]


# Each loss's objectives written out here, independently of gankit.core.losses, on D's
# logits: (D's, G's). One step of either network must lower its own.
OBJECTIVES = {
    "bce": (lambda r, f: F.softplus(-r).mean() + F.softplus(f).mean(),
            lambda f: F.softplus(-f).mean()),
    "ns": (lambda r, f: F.softplus(-r).mean() + F.softplus(f).mean(),
           lambda f: F.softplus(-f).mean()),
    "minimax": (lambda r, f: F.softplus(-r).mean() + F.softplus(f).mean(),
                lambda f: -F.softplus(f).mean()),  # log(1 - D(G(z))), saturating
    "hinge": (lambda r, f: F.relu(1 - r).mean() + F.relu(1 + f).mean(), lambda f: -f.mean()),
    "wasserstein": (lambda r, f: f.mean() - r.mean(), lambda f: -f.mean()),
    "lsgan": (lambda r, f: 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f ** 2).mean(),
              lambda f: 0.5 * ((f - 1) ** 2).mean()),
}


def _g_objective(loss_name, D, fake, labels):
    """G's objective on ``fake``; an auxiliary-classifier D adds the cross-entropy of the
    classes G was asked for, as G's step does."""
    logits, classes = judge_aux(D, fake, labels)
    value = OBJECTIVES[loss_name][1](logits)
    return value if classes is None else value + F.cross_entropy(classes, labels)


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
@pytest.mark.parametrize("name, model_cfg, conditional", MODELS_UNDER_TEST,
                         ids=[m[0] for m in MODELS_UNDER_TEST])
def test_every_model_and_loss_trains_two_steps(name, model_cfg, conditional, loss_name):
    """Two steps of each network: the first, without penalties, lowers D's objective on its
    batch and then G's on its samples (a loss of the wrong sign raises them); the second
    adds the penalty (WGAN-GP) or R1. Both networks change and every statistic is finite."""
    torch.manual_seed(0)
    model_cfg = replace(model_cfg, latent_dim=8)
    G, D = build_models(model_cfg, SHAPE, CLASSES if conditional else 0)
    # small steps, so that one step moves each objective the way its gradient points
    opt_G = torch.optim.Adam(G.parameters(), lr=1e-4)
    opt_D = torch.optim.Adam(D.parameters(), lr=1e-4)
    loss = get_loss(loss_name)
    d_objective = OBJECTIVES[loss_name][0]
    gp = 10.0 if loss_name == "wasserstein" and model_cfg.d_norm != "batch" else 0.0
    labels = torch.tensor([0, 3, 7, 9]) if conditional else None
    with torch.no_grad():  # spectral norm's power iteration settles first (it runs per call)
        for _ in range(30):
            judge(D, torch.rand(4, *SHAPE) * 2 - 1, labels)
    g_before = [p.detach().clone() for p in G.parameters()]
    d_before = [p.detach().clone() for p in D.parameters()]
    for step in range(2):
        real = torch.rand(4, *SHAPE) * 2 - 1
        z = torch.randn(4, 8)
        fake = G(z) if labels is None else G(z, labels)
        assert fake.shape == (4, *SHAPE)
        reg = Regularisers(gp_weight=gp, r1_gamma=1.0) if step else Regularisers()
        with torch.no_grad():
            d_was = d_objective(*discriminate(D, real, fake, labels, labels))
        stats = d_step(D, opt_D, loss, real, fake, real_labels=labels, fake_labels=labels,
                       reg=reg)
        with torch.no_grad():
            d_now = d_objective(*discriminate(D, real, fake, labels, labels))
            g_was = _g_objective(loss_name, D, fake, labels)
        stats.update(g_step(D, opt_G, loss, fake, fake_labels=labels))
        assert all(torch.isfinite(v) for v in stats.values()), stats
        if model_cfg.aux_classifier or model_cfg.name == "acgan":
            assert "aux" in stats
        if step == 0:
            with torch.no_grad():
                g_now = _g_objective(loss_name, D, G(z) if labels is None else G(z, labels),
                                     labels)
            assert d_now < d_was, f"D's step raised its objective: {d_was} -> {d_now}"
            assert g_now < g_was, f"G's step raised its objective: {g_was} -> {g_now}"
    assert any(not torch.equal(p, q) for p, q in zip(G.parameters(), g_before))
    assert any(not torch.equal(p, q) for p, q in zip(D.parameters(), d_before))
    logits = judge(D, torch.zeros(4, *SHAPE), labels)
    assert logits.shape == (4,)


def test_minibatch_stddev_by_hand():
    layer = MinibatchStdDev(group_size=2)
    x = torch.tensor([[1.0, 2.0], [3.0, 2.0], [0.0, 0.0], [0.0, 0.0]])
    y = layer(x)
    assert y.shape == (4, 3)
    # group 1: stds (1, 0) -> mean 0.5; group 2: all equal -> ~0 (sqrt of 1e-8)
    torch.testing.assert_close(y[:, 2], torch.tensor([0.5, 0.5, 1e-4, 1e-4]), atol=1e-4,
                               rtol=1e-4)
    images = torch.randn(6, 3, 4, 4)
    out = MinibatchStdDev()(images)  # 6 is not a multiple of 4: groups of 3
    assert out.shape == (6, 4, 4, 4) and torch.equal(out[:, :3], images)
    assert torch.equal(out[0, 3], out[2, 3]) and not torch.equal(out[0, 3], out[3, 3])


def test_mbstd_d_runs_real_and_fake_separately():
    """With minibatch std-dev, D's update runs two forward passes, one all real and one all
    fake, so that real and fake never share a std-dev group."""
    from gankit.core.losses import get_loss
    from gankit.core.steps import d_step, mixes_batch

    torch.manual_seed(0)
    _, D = build_models(ModelConfig(name="dcgan", g_channels=4, d_channels=4, mbstd=True),
                        SHAPE)
    assert mixes_batch(D)
    real = torch.full((6, *SHAPE), 0.5)
    fake = torch.full((6, *SHAPE), -0.5)
    batches = []
    handle = D.register_forward_pre_hook(lambda module, args: batches.append(args[0].clone()))
    try:
        d_step(D, torch.optim.Adam(D.parameters()), get_loss("bce"), real, fake)
    finally:
        handle.remove()
    assert len(batches) == 2
    assert [b.shape[0] for b in batches] == [6, 6]
    assert {float(b.mean()) for b in batches} == {0.5, -0.5}  # each pass all real or all fake


@pytest.mark.parametrize("size", [28, 32, 64])
def test_resnet_sizes(size):
    cfg = ModelConfig(name="resnet", g_channels=4, d_channels=4, latent_dim=8,
                      d_norm="spectral")
    G, D = build_models(cfg, (3, size, size))
    images = G(torch.randn(2, 8))
    assert images.shape == (2, 3, size, size)
    assert D(images).shape == (2,)


def test_acgan_d_returns_adversarial_and_class_logits():
    G, D = build_models(ModelConfig(name="acgan", g_channels=4, d_channels=4), SHAPE, CLASSES)
    out = D(torch.zeros(3, *SHAPE), torch.tensor([1, 2, 3]))
    assert out.shape == (3, 1 + CLASSES)
    assert D.projection is None and D.aux_classes == CLASSES


def test_models_are_listed(capsys):
    from gankit.cli import main

    assert main(["list", "models"]) == 0
    listed = capsys.readouterr().out
    for name in ("mlp", "dcgan", "resnet", "acgan"):
        assert name in MODELS and f"\n{name} " in "\n" + listed


ZOO_PRESETS = ["wgan-gp", "sngan-hinge", "lsgan", "cgan-projection", "acgan",
               "seed-mlp-stable", "seed-tutorial-stable"]


def test_zoo_presets_exist():
    assert set(ZOO_PRESETS) <= set(PRESETS)


def _assert_generator_trained(run_dir):
    """G's and D's weights at the end differ from those at step 0, and are finite."""
    saved = sorted((run_dir / "checkpoints").glob("step_*.pt"))
    first, last = (torch.load(path, map_location="cpu", weights_only=False)
                   for path in (saved[0], saved[-1]))
    assert first["step"] == 0 and last["step"] == 20
    for name in ("G" if "G" in last else "G_AB", "D" if "D" in last else "D_B"):
        changed = [k for k, v in last[name].items()
                   if v.is_floating_point() and not torch.equal(v, first[name][k])]
        assert changed, f"{name} did not change in 20 steps"
        assert all(torch.isfinite(v).all() for v in last[name].values()
                   if v.is_floating_point())


@pytest.mark.parametrize("preset_name", sorted(p for p in PRESETS if p != "toy-pacgan"))
def test_every_preset_runs_twenty_steps(preset_name, tmp_path, png_folder):
    """End to end through the CLI: train --steps 20 (tiny batch), then sample."""
    from gankit.cli import main

    import numpy as np
    from PIL import Image

    out = tmp_path / preset_name
    # emoji64's and the CUT presets' own sets come from the npm registry: folders here (64 px
    # colour images; two unpaired domains of 32 px colour images)
    data = []
    if preset_name == "emoji64":
        data = ["--data", str(png_folder(n=16, size=64, rgb=True, classes=("a", "b")))]
    elif preset_name in ("cut", "fastcut"):
        rng = np.random.default_rng(0)
        for domain in ("trainA", "trainB"):
            (tmp_path / "domains" / domain).mkdir(parents=True)
            for i in range(10):
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
                    tmp_path / "domains" / domain / f"{i}.png")
        data = ["--data", str(tmp_path / "domains")]
    assert main(["train", "--preset", preset_name, "--steps", "20", "--batch-size", "8",
                 "--out", str(out), "--no-progress", "--set", "train.tensorboard=false",
                 "--set", "train.grid_size=8", *data]) == 0
    assert (out / "samples" / "final.png").is_file()
    log = (out / "log.jsonl").read_text().splitlines()
    assert '"step": 20' in log[-1]
    _assert_generator_trained(out)
    if kind_of(preset(preset_name)) == "translation":  # they translate, not sample
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "in.png")
        assert main(["translate", str(out), "--input", str(tmp_path / "in.png"), "--out",
                     str(tmp_path / "t.png")]) == 0
        size = 32 if preset_name in ("cut", "fastcut") else 28
        assert Image.open(tmp_path / "t.png").size == (size, size)
        return
    assert main(["sample", str(out), "-n", "4", "--out", str(tmp_path / "s.png")]) == 0
