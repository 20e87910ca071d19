"""The trainer as a framework: a training kind written in this file (its own state entry,
step strategy and callback) trains, checkpoints and resumes bit-exactly through the
driver without any change to gankit; resources are closed after rollbacks and pruning."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torch import nn

import gankit
import gankit.training.strategies
from gankit.config import resolve
from gankit.training.checkpoint import latest_checkpoint
from gankit.training.kinds import Setup
from gankit.training.run_log import read_log
from gankit.training.driver import drive
from gankit.training.state import TrainingState
from gankit.training.stats import StatsWindow
from gankit.training.trainer import Budget, Callback, Trainer


# --- a toy training kind: fit the mean of some numbers, with a running "pool" -------------

class Pool:
    """A stateful extra (like CycleGAN's image pool): the last values it was shown."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def push(self, value: float) -> None:
        self.values = (self.values + [value])[-5:]

    def state_dict(self) -> dict:
        return {"values": list(self.values)}

    def load_state_dict(self, state: dict) -> None:
        self.values = list(state["values"])


class NumberBatches:
    """8 batches an epoch of 4 numbers each, shuffled per epoch from (seed, epoch)."""

    def __init__(self, seed: int):
        self.data, self.seed = torch.linspace(-1, 3, 32), seed

    def __len__(self) -> int:
        return 8

    def epoch(self, epoch: int, start: int = 0):
        order = torch.randperm(32, generator=torch.Generator().manual_seed(self.seed + epoch))
        for index in range(start, len(self)):
            yield self.data[order[index * 4:(index + 1) * 4]]


class MeanStep:
    """The strategy: one SGD step of a 1-parameter model towards the batch, plus noise."""

    name = "mean"

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer, pool: Pool):
        self.model, self.opt, self.pool = model, opt, pool

    def batch_images(self, batch) -> int:
        return batch.shape[0]

    def __call__(self, state: TrainingState, batch) -> dict[str, torch.Tensor]:
        noise = torch.randn(batch.shape[0]) * 0.1  # draws from the global RNG: resume must match
        loss = ((self.model.weight.squeeze() - batch - noise) ** 2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.pool.push(float(self.model.weight.detach()))
        return {"loss_d": loss.detach(), "loss_g": loss.detach() * 0}


def mean_kind(cfg, ctx, echo) -> Setup:
    torch.manual_seed(cfg.train.seed)
    model = nn.Linear(1, 1, bias=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    pool = Pool()
    state = TrainingState(ctx.device)
    state.register("model", model)
    state.register("opt", opt)
    state.register("pool", pool)

    def draw(path: Path, step: int) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{float(model.weight.detach()):.6f}\n")
        return path

    return Setup(state=state, strategy=MeanStep(model, opt, pool),
                 batches=NumberBatches(cfg.train.seed),
                 budget=Budget(total_steps=cfg.train.steps), header={"kind": "mean"},
                 draw=draw, learning_rates=[(opt, 0.05)])


class EventLog(Callback):
    """A callback from outside gankit: counts the events it sees."""

    def __init__(self):
        self.seen: dict[str, int] = {}
        self.closed = 0

    def _count(self, event):
        self.seen[event] = self.seen.get(event, 0) + 1

    def on_start(self, trainer, **info):
        self._count("start")

    def on_step_end(self, trainer, **info):
        self._count("step_end")

    def on_epoch_end(self, trainer, **info):
        self._count("epoch_end")

    def on_checkpoint(self, trainer, path):
        assert Path(path).is_file()
        self._count("checkpoint")

    def on_end(self, trainer, **info):
        self._count("end")

    def close(self):
        self.closed += 1


def _cfg(steps: int):
    return resolve("seed-tutorial", overrides={
        "train.steps": steps, "train.epochs": 0, "train.checkpoint_every": 6,
        "train.log_every": 4, "train.sample_every": 5, "train.tensorboard": False})


def test_a_new_kind_trains_checkpoints_and_resumes_bit_exactly(tmp_path):
    events = EventLog()
    straight = drive(_cfg(20), tmp_path / "straight", kind=mean_kind, progress=False,
                            echo=lambda *a: None, callbacks=[lambda setup, cfg, ctx: [events]])
    assert events.seen == {"start": 1, "step_end": 20, "epoch_end": 2, "checkpoint": 5,
                           "end": 1}  # steps 0, 6, 12, 18 and the end
    assert events.closed == 1
    # interrupted at step 11 (not a checkpoint or log step), then resumed to 20
    drive(_cfg(11), tmp_path / "split", kind=mean_kind, progress=False,
                 echo=lambda *a: None)
    drive(_cfg(20), tmp_path / "split", kind=mean_kind, resume=True, progress=False,
                 echo=lambda *a: None)
    a, b = latest_checkpoint(straight, warn=None), latest_checkpoint(tmp_path / "split",
                                                                     warn=None)
    assert a["step"] == b["step"] == 20 and a["kind"] == "mean"
    assert torch.equal(a["model"]["weight"], b["model"]["weight"])
    assert a["pool"] == b["pool"] and len(a["pool"]["values"]) == 5
    assert torch.equal(a["opt"]["state"][0]["momentum_buffer"],
                       b["opt"]["state"][0]["momentum_buffer"])
    assert torch.equal(a["rng_cpu"], b["rng_cpu"])
    # the logged means over each interval agree too (the open window is checkpointed); the
    # split run also logged its last step before it stopped
    logged = {run: {r["step"]: r["loss_d"] for r in read_log(run / "log.jsonl")}
              for run in (straight, tmp_path / "split")}
    assert sorted(logged[straight]) == [4, 8, 12, 16, 20]
    assert sorted(logged[tmp_path / "split"]) == [4, 8, 11, 12, 16, 20]
    assert all(logged[straight][s] == logged[tmp_path / "split"][s] for s in logged[straight])
    assert (straight / "samples" / "final.png").read_text() == \
        (tmp_path / "split" / "samples" / "final.png").read_text()


def test_logged_losses_are_the_mean_of_the_interval():
    window = StatsWindow()
    for value in (1.0, 2.0, 6.0):
        window.add({"loss_d": torch.tensor(value)})
    window.add({"r1": torch.tensor(4.0)})  # a lazy term reported on one step only
    means = window.collect()
    assert float(means["loss_d"]) == pytest.approx(3.0)
    assert float(means["r1"]) == pytest.approx(4.0)
    assert not window and window.collect() == {}


def test_an_unknown_event_is_refused_and_callbacks_close_after_an_exception():
    class Boom(Callback):
        closed = False

        def on_step_end(self, trainer):
            raise RuntimeError("boom")

        def close(self):
            Boom.closed = True

    model = nn.Linear(1, 1, bias=False)
    step = MeanStep(model, torch.optim.SGD(model.parameters(), lr=0.1), Pool())
    trainer = Trainer(TrainingState(), step, NumberBatches(0), [Boom()], Budget(total_steps=3))
    with pytest.raises(ValueError, match="unknown event"):
        trainer.emit("step_begin")
    with pytest.raises(RuntimeError, match="boom"):
        trainer.fit()
    assert Boom.closed


def test_state_refuses_a_duplicate_entry_and_a_non_stateful_one():
    state = TrainingState()
    state.register("G", nn.Linear(1, 1))
    with pytest.raises(ValueError, match="already"):
        state.register("G", nn.Linear(1, 1))
    with pytest.raises(ValueError, match="already"):
        state.register("step", nn.Linear(1, 1))
    with pytest.raises(TypeError, match="state_dict"):
        state.register("x", object())


# --- resources: nothing leaks through rollbacks or pruning --------------------------------

def _open_fds() -> set[str]:
    return {os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
            if os.path.exists(f"/proc/self/fd/{fd}")}


def _folder(png_folder) -> str:
    return str(png_folder(n=32, size=28))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")
def test_no_descriptor_leaks_after_three_divergence_rollbacks(tmp_path, png_folder,
                                                              monkeypatch, capsys):
    data = _folder(png_folder)
    settings = dict(steps=12, data=data, batch_size=8, train__fast_mlp=False,
                    train__tensorboard=True, train__checkpoint_every=4)
    gankit.train("seed-tutorial", out=tmp_path / "warm", progress=True, **settings)
    before = len(os.listdir("/proc/self/fd"))
    sessions = {"n": 0, "at_step": 0}
    real_d_step = gankit.training.strategies.d_step

    def diverging_d_step(*args, **kwargs):
        stats = real_d_step(*args, **kwargs)
        sessions["at_step"] += 1
        if sessions["n"] < 3 and sessions["at_step"] == 3:  # the first three sessions
            sessions["n"] += 1
            sessions["at_step"] = 0
            stats["loss_d"] = torch.tensor(float("nan"))
        return stats

    monkeypatch.setattr(gankit.training.strategies, "d_step", diverging_d_step)
    out = tmp_path / "run"
    gankit.train("seed-tutorial", out=out, progress=True, **settings)
    printed = capsys.readouterr().out
    assert printed.count("rolling back to the last checkpoint") == 3
    assert latest_checkpoint(out, warn=None)["step"] == 12
    assert len(os.listdir("/proc/self/fd")) == before


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")
def test_a_sweep_trial_is_pruned_through_the_callback_and_leaks_nothing(tmp_path, png_folder,
                                                                        monkeypatch):
    optuna = pytest.importorskip("optuna")
    from gankit.apps.sweep import sweep

    class PruneAfterFirstReport(optuna.pruners.BasePruner):
        def prune(self, study, trial) -> bool:
            return len(trial.intermediate_values) >= 1

    monkeypatch.setattr(optuna.pruners, "MedianPruner", lambda **kwargs: PruneAfterFirstReport())
    data = _folder(png_folder)
    common = dict(steps=8, eval_every=2, out=tmp_path / "sweep", quiet=True, echo=lambda m: None,
                  overrides={"data.name": data, "train.batch_size": "8",
                             "train.tensorboard": "true"})
    sweep("seed-tutorial", ["optim.lr_g=loguniform:1e-4:1e-3"], 1,
          f"sqlite:///{tmp_path / 'warm.db'}", **common)  # imports and caches warmed up
    before = _open_fds()
    result = sweep("seed-tutorial", ["optim.lr_g=loguniform:1e-4:1e-3"], 1,
                   f"sqlite:///{tmp_path / 's.db'}", study_name="s", **common)
    trial = result["trials"][0]
    assert trial["state"] == "PRUNED"
    log = (tmp_path / "sweep" / "trial_0000" / "log.jsonl").read_text()
    assert '"fid"' in log and log.count('"fid"') == 1  # pruned at its first score
    assert _open_fds() - before <= {str(tmp_path / "s.db")}
