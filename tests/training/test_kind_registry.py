"""The training kinds are a registry: a kind written in this file ("flat-colours": a tiny G
learns to paint 4x4 squares of one colour from a palette) is declared and registered into
each layer's table (gankit/config/kinds.py) and then runs through the public commands —
train, resume bit-exactly, sample, eval and report — with no change to gankit; the commands
it does not serve are refused in one line that the registry words."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gankit
from gankit.apps.kinds import APPS, KindApps
from gankit.cli import main
from gankit.config import resolve
from gankit.config.kinds import Kind, forget_kind, kind_of, register_kind, require
from gankit.data import to_uint8
from gankit.data.pictures import save_grid
from gankit.errors import UserError
from gankit.evaluation.kinds import EVALUATION, KindEvaluation
from gankit.training.checkpoint import latest_checkpoint
from gankit.training.kinds import TRAINING, KindTraining, Setup
from gankit.training.state import TrainingState
from gankit.training.trainer import Budget, Callback

KIND = "flat-colours"
PALETTE = torch.tensor([[230, 40, 40], [40, 200, 60], [50, 70, 220], [240, 220, 30]],
                       dtype=torch.uint8)
SIZE, LATENT = 4, 4


# --- the kind: data, networks, step, monitor, loader, sampler, evaluation, report --------------

def palette_images(n: int = 32) -> torch.Tensor:
    """uint8 (n, 3, SIZE, SIZE): flat squares, the palette's colours in turn."""
    return PALETTE[torch.arange(n) % len(PALETTE)][:, :, None, None].expand(
        -1, -1, SIZE, SIZE).contiguous()


class FlatBatches:
    """The images in [-1, 1], ``batch`` at a time, shuffled per epoch from (seed, epoch)."""

    def __init__(self, images_u8: torch.Tensor, batch: int, seed: int):
        self.images = images_u8.float() / 127.5 - 1
        self.batch, self.seed = batch, seed

    def __len__(self) -> int:
        return len(self.images) // self.batch

    def epoch(self, epoch: int, start: int = 0):
        order = torch.randperm(len(self.images),
                               generator=torch.Generator().manual_seed(self.seed + epoch))
        for index in range(start, len(self)):
            yield self.images[order[index * self.batch:(index + 1) * self.batch]]


def networks() -> tuple[nn.Module, nn.Module]:
    G = nn.Sequential(nn.Linear(LATENT, 3 * SIZE * SIZE), nn.Tanh(),
                      nn.Unflatten(1, (3, SIZE, SIZE)))
    D = nn.Sequential(nn.Flatten(), nn.Linear(3 * SIZE * SIZE, 1))
    return G, D


class FlatStep:
    """The non-saturating GAN step, its noise from the global RNG (resume must restore it)."""

    name = "flat"

    def __init__(self, G, D, opt_G, opt_D):
        self.G, self.D, self.opt_G, self.opt_D = G, D, opt_G, opt_D

    def batch_images(self, batch) -> int:
        return batch.shape[0]

    def __call__(self, state, batch) -> dict[str, torch.Tensor]:
        fake = self.G(torch.randn(batch.shape[0], LATENT))
        real_logits, fake_logits = self.D(batch), self.D(fake.detach())
        loss_d = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
        self.opt_D.zero_grad()
        loss_d.backward()
        self.opt_D.step()
        loss_g = F.softplus(-self.D(fake)).mean()
        self.opt_G.zero_grad()
        loss_g.backward()
        self.opt_G.step()
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
                "d_real": torch.sigmoid(real_logits).mean().detach(),
                "d_fake": torch.sigmoid(fake_logits).mean().detach()}


@torch.no_grad()
def flatness(G: nn.Module, z: torch.Tensor) -> float:
    """The mean spread of each image's pixels per channel, pixels in [0, 1] (0: flat)."""
    return float(((G(z) + 1) / 2).flatten(2).std(2).mean())


class FlatnessMonitor(Callback):
    """Every ``every`` steps, G's flatness on fixed noise (its own generator: the global
    RNG, and so the resumed run, is left alone) as an ``eval`` event."""

    def __init__(self, G: nn.Module, every: int):
        self.G, self.every = G, every
        self.z = torch.randn(16, LATENT, generator=torch.Generator().manual_seed(7))

    def on_step_end(self, trainer) -> None:
        step = trainer.state.counters.step
        if self.every and step % self.every == 0:
            trainer.emit("eval", scores={"step": step, "flatness": flatness(self.G, self.z)})


def flat_setup(cfg, ctx, echo) -> Setup:
    t, o = cfg.train, cfg.optim
    torch.manual_seed(t.seed)
    G, D = networks()
    opt_G = torch.optim.Adam(G.parameters(), lr=o.lr_g, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=o.lr_d, betas=(0.5, 0.999))
    state = TrainingState(ctx.device)
    for name, entry in (("G", G), ("D", D), ("opt_G", opt_G), ("opt_D", opt_D)):
        state.register(name, entry)
    fixed = torch.randn(16, LATENT, generator=torch.Generator().manual_seed(t.seed))

    def draw(path: Path, step: int) -> Path:
        with torch.no_grad():
            return save_grid(to_uint8(G(fixed), "tanh"), path)

    images = palette_images()
    return Setup(state=state, strategy=FlatStep(G, D, opt_G, opt_D),
                 batches=FlatBatches(images, t.batch_size, t.seed),
                 budget=Budget(total_steps=t.steps, minutes=t.minutes),
                 header={"image_shape": [3, SIZE, SIZE]}, draw=draw,
                 learning_rates=[(opt_G, o.lr_g), (opt_D, o.lr_d)], evaluated=lambda: G,
                 data=images)


@dataclass
class FlatRun:
    G: nn.Module
    config: object
    step: int
    image_shape: tuple[int, int, int]
    run_dir: Path | None
    kind: str = KIND


def load_flat(cfg, saved: dict, device, run_dir) -> FlatRun:
    G, _ = networks()
    state = TrainingState(device)
    state.register("G", G.to(device))
    state.load_state_dict(saved, rng=False, only=("G",))
    return FlatRun(G.eval(), cfg, state.counters.step, tuple(saved["image_shape"]), run_dir)


def sample_flat(run: FlatRun, n: int, seed: int = 0, ema: bool = True, truncation: float = 1.0,
                classes=None, class_counts=None) -> torch.Tensor:
    if classes:
        raise UserError("flat colours have no classes")
    z = torch.randn(n, LATENT, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return to_uint8(run.G(z), "tanh")


def evaluate_flat(run: FlatRun, n: int | None = None, seed: int = 0, **_) -> dict:
    pixels = sample_flat(run, n or 64, seed).float() / 255
    colours = pixels.mean((2, 3))
    nearest = torch.cdist(colours, PALETTE.float() / 255).min(1).values
    return {"scores": {"flatness": float(pixels.flatten(2).std(2).mean()),
                       "palette_distance": float(nearest.mean())},
            "provenance": {"run_step": run.step, "n": n or 64, "seed": seed}}


def format_flat(result: dict) -> str:
    s = result["scores"]
    return (f"flatness {s['flatness']:.4f}, palette distance {s['palette_distance']:.4f} "
            f"(step {result['provenance']['run_step']})")


def report_flat(run_dir: Path, cfg, *, seed: int, **_) -> list[str]:
    return ["<h2>Flat colours</h2>", f"<p>{format_flat(evaluate_flat(gankit.load(run_dir)))}"
            f"</p>"]


def flat_monitors(setup, cfg, ctx) -> list[Callback]:
    return [FlatnessMonitor(setup.evaluated(), cfg.train.eval_every)]


def check_flat(cfg) -> None:
    if cfg.train.batch_size > 32:
        raise UserError("flat-colours holds 32 images: --batch-size 32 at most")


def register_flat() -> None:
    """The kind's declaration (the configs of data set "flat-colours" are of it) and its
    pieces in the training, evaluation and applications tables."""
    register_kind(Kind(KIND, "flat colour squares from noise (a kind from a test file)",
                       what="makes flat colour squares", how="--data flat-colours",
                       serves=("sample", "eval", "report"),
                       claims=lambda cfg: cfg.data.name == KIND, check=check_flat))
    TRAINING.register(KIND, KindTraining(flat_setup, load_flat, sample_flat))
    EVALUATION.register(KIND, KindEvaluation(flat_monitors, evaluate_flat, format_flat))
    APPS.register(KIND, KindApps(report=report_flat))


@pytest.fixture(scope="module")
def flat_kind():
    register_flat()
    yield KIND
    forget_kind(KIND)


# --- through the public commands ----------------------------------------------------------------

def _train(out: Path, steps: int, resume: bool = False) -> None:
    where = ["--resume", str(out)] if resume else ["--preset", "default", "--data", KIND,
                                                   "--out", str(out)]
    assert main(["train", *where, "--steps", str(steps), "--batch-size", "8", "--no-progress",
                 "--set", "train.epochs=0", "--set", "train.checkpoint_every=5",
                 "--set", "train.log_every=3", "--set", "train.sample_every=4",
                 "--set", "train.eval_every=4", "--set", "train.tensorboard=false"]) == 0


@pytest.fixture(scope="module")
def flat_run(flat_kind, tmp_path_factory):
    out = tmp_path_factory.mktemp("flat") / "straight"
    _train(out, 12)
    return out


def _log(run_dir: Path) -> dict[int, dict]:
    """step -> its log and eval records merged, without the timings."""
    merged: dict[int, dict] = {}
    for line in (run_dir / "log.jsonl").read_text().splitlines():
        record = json.loads(line)
        merged.setdefault(record["step"], {}).update(
            {k: v for k, v in record.items() if k not in ("seconds", "images_per_s")})
    return merged


def test_the_kind_trains_with_its_monitor_and_resumes_bit_exactly(flat_run, tmp_path):
    split = tmp_path / "split"
    _train(split, 7)  # stopped at step 7: not a checkpoint, log or eval step
    _train(split, 12, resume=True)
    a, b = latest_checkpoint(flat_run, warn=None), latest_checkpoint(split, warn=None)
    assert a["kind"] == b["kind"] == KIND and a["step"] == b["step"] == 12
    for name in ("G", "D"):
        for key, value in a[name].items():
            assert torch.equal(value, b[name][key]), (name, key)
    for name in ("opt_G", "opt_D"):
        for index, moments in a[name]["state"].items():
            assert all(torch.equal(v, b[name]["state"][index][k]) for k, v in moments.items())
    assert torch.equal(a["rng_cpu"], b["rng_cpu"])
    straight, resumed = _log(flat_run), _log(split)
    assert sorted(s for s in straight if "flatness" in straight[s]) == [4, 8, 12]  # monitor
    assert sorted(s for s in straight if "loss_d" in straight[s]) == [3, 6, 9, 12]
    assert all(resumed[s] == straight[s] for s in straight), (straight, resumed)
    assert (flat_run / "samples" / "final.png").read_bytes() == \
        (split / "samples" / "final.png").read_bytes()


def test_the_kind_loads_and_samples_through_gankit(flat_run, tmp_path, capsys):
    run = gankit.load(flat_run)
    assert isinstance(run, FlatRun) and run.step == 12 and run.kind == KIND
    saved = latest_checkpoint(flat_run, warn=None)["G"]
    assert all(torch.equal(v, run.G.state_dict()[k]) for k, v in saved.items())
    images = gankit.sample(flat_run, n=6, seed=3)
    z = torch.randn(6, LATENT, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(images, to_uint8(run.G(z), "tanh"))
    assert main(["sample", str(flat_run), "-n", "6", "--out", str(tmp_path / "s.png")]) == 0
    assert "wrote 6 images from step 12" in capsys.readouterr().out
    from PIL import Image

    grid = torch.from_numpy(np.array(Image.open(tmp_path / "s.png")))
    assert grid.shape == (3 * (SIZE + 2) + 2, 2 * (SIZE + 2) + 2, 3)  # 2 images a row
    assert torch.equal(grid[2:2 + SIZE, 2:2 + SIZE].permute(2, 0, 1),
                       gankit.sample(flat_run, n=6, seed=0)[0])  # the first image, top left


def test_the_kind_evaluates_and_reports_with_its_own_pieces(flat_run, tmp_path, capsys):
    expected = evaluate_flat(gankit.load(flat_run), seed=1)
    assert main(["eval", str(flat_run), "--seed", "1", "--json", str(tmp_path / "e.json")]) == 0
    assert format_flat(expected) in capsys.readouterr().out
    assert json.loads((tmp_path / "e.json").read_text())["scores"] == expected["scores"]
    assert main(["report", str(flat_run), "--out", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text()
    assert "<h2>Flat colours</h2>" in page and format_flat(evaluate_flat(
        gankit.load(flat_run))) in page
    assert "Nearest real neighbours" not in page  # the noise-to-image kind's section


@pytest.mark.parametrize("argv", [
    ["translate", "{run}", "--input", "{run}/samples/final.png", "--out", "{tmp}/t.png"],
    ["interpolate", "{run}", "--out", "{tmp}/i.png"],
    ["export", "{run}", "--out", "{tmp}/G.pt"],
])
def test_commands_the_kind_does_not_serve_are_one_line(flat_run, tmp_path, capsys, argv):
    command = argv[0]
    values = {"run": str(flat_run), "tmp": str(tmp_path)}
    assert main([a.format(**values) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "makes flat colour squares" in err, err
    assert f"gankit {command} needs a run that" in err
    assert "this one serves gankit sample, eval, report" in err


def test_configs_are_claimed_and_checked_by_their_kind(flat_kind, capsys):
    assert kind_of(resolve("default", overrides={"data.name": KIND})) == KIND
    assert kind_of(resolve("default")) == "generation"
    assert kind_of(resolve("cyclegan")) == "translation"
    assert main(["train", "--data", KIND, "--batch-size", "64", "--dry-run"]) == 2
    assert "32 images" in capsys.readouterr().err
    with pytest.raises(UserError, match="several training kinds at once"):
        kind_of(resolve("cyclegan", overrides={"data.name": KIND}))
    with pytest.raises(UserError, match="translates images: gankit sample needs a run that "
                                        "generates from noise"):
        require("translation", "sample")
    with pytest.raises(ValueError, match="already"):
        TRAINING.register(KIND, KindTraining(flat_setup, load_flat))


def test_a_forgotten_kind_leaves_no_trace(flat_run):
    forget_kind(KIND)
    try:
        with pytest.raises(UserError, match="unknown training kind 'flat-colours'"):
            gankit.load(flat_run)  # its checkpoint names it
        with pytest.raises(UserError, match="unknown data set 'flat-colours'"):
            resolve("default", overrides={"data.name": KIND})
        assert all(KIND not in table._entries for table in (TRAINING, EVALUATION, APPS))
    finally:  # registered again for any test after this one
        register_flat()
