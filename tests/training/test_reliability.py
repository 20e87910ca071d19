"""Crash safety: SIGKILL + resume is exact, signals stop gracefully, divergence rolls back,
and no argument list makes the CLI print a traceback."""

from __future__ import annotations

import errno
import io
import json
import os
import signal
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gankit
import gankit.training.strategies
from gankit.cli import main
from gankit.config import valid_keys
from gankit.errors import UserError
from gankit.speed.fast_mlp import FastMLPStep



@pytest.mark.slow
def test_sigkill_at_random_steps_then_resume_is_bit_identical(tmp_path, load_bench):
    kill_resume = load_bench("kill_resume")
    result = kill_resume.kill_resume_check(tmp_path, kills=2, steps=30, seed=1)
    assert len(result["killed_at_logged_steps"]) == 2
    assert result["differences"] == []


@pytest.mark.slow
def test_sigkill_then_resume_on_a_streamed_prepared_set_is_bit_identical(tmp_path, load_bench):
    """The same on a prepared set over the memory budget: batches come from its memory map
    in a background thread, and a kill mid-epoch resumes on exactly the same batches."""
    kill_resume = load_bench("kill_resume")
    result = kill_resume.kill_resume_check(tmp_path, kills=1, steps=14, seed=2, kind="streamed")
    assert "over the memory budget" in result["straight_output"]  # streamed, not loaded
    assert len(result["killed_at_logged_steps"]) == 1
    assert result["differences"] == []


def _tiny_folder(png_folder) -> str:
    return str(png_folder(n=32, size=28))


def after_each_g_update(monkeypatch, after) -> None:
    """Make the loop pass the statistics of every G update through ``after(stats)``, whether
    it runs the hand-written MLP step (the seed presets on the CPU) or ``g_step``."""
    real_g_step = gankit.training.strategies.g_step
    monkeypatch.setattr(gankit.training.strategies, "g_step", lambda *a, **k: after(real_g_step(*a, **k)))
    real_fast_step = FastMLPStep.__call__

    def fast_step(self, real, z, update_g=True):
        stats = real_fast_step(self, real, z, update_g)
        return after(stats) if update_g else stats
    monkeypatch.setattr(FastMLPStep, "__call__", fast_step)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_first_signal_finishes_the_step_checkpoints_and_says_how_to_resume(
        tmp_path, png_folder, monkeypatch, capsys, signum):
    """SIGTERM, or a first Ctrl-C (SIGINT), ends the run gracefully after the step."""
    calls = {"n": 0}
    before = signal.getsignal(signum)

    def signal_at_the_third(stats):
        calls["n"] += 1
        if calls["n"] == 3:
            calls["during"] = signal.getsignal(signum)
            os.kill(os.getpid(), signum)  # a real signal, handled by the loop
        return stats

    after_each_g_update(monkeypatch, signal_at_the_third)
    out = tmp_path / "run"
    gankit.train("seed-tutorial", out=out, steps=50, data=_tiny_folder(png_folder),
                 batch_size=8)
    printed = capsys.readouterr().out
    assert calls["n"] == 3
    assert f"stopped by {signal.Signals(signum).name} at step 3" in printed
    assert f"gankit train --resume {out}" in printed
    assert (out / "checkpoints" / "step_0000003.pt").is_file()
    assert calls["during"] is not before  # the run installed its own handler...
    assert signal.getsignal(signum) is before  # ...and gave the old one back


def test_second_ctrl_c_interrupts_at_once(tmp_path, png_folder, monkeypatch):
    calls = {"n": 0}

    def two_ctrl_c(stats):
        calls["n"] += 1
        if calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)  # the second raises in this step
        return stats

    after_each_g_update(monkeypatch, two_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        gankit.train("seed-tutorial", out=tmp_path / "run", steps=50,
                     data=_tiny_folder(png_folder), batch_size=8)
    assert calls["n"] == 2


def _nan_at(steps: set[int], key: str = "loss_g"):
    """``after`` for :func:`after_each_g_update`: ``key`` NaN at the given G updates
    (1-based)."""
    calls = {"n": 0}

    def after(stats):
        calls["n"] += 1
        if calls["n"] in steps:
            stats[key] = torch.tensor(float("nan"))
        return stats
    return after


@pytest.mark.parametrize("key", ["loss_g", "loss_d", "d_real"])
def test_divergence_rolls_back_with_lower_learning_rates(tmp_path, png_folder, monkeypatch,
                                                         capsys, key):
    after_each_g_update(monkeypatch, _nan_at({5}, key))
    out = tmp_path / "run"
    gankit.train("seed-tutorial", out=out, steps=8, data=_tiny_folder(png_folder),
                 batch_size=8, train__checkpoint_every=4)
    printed = capsys.readouterr().out
    assert "non-finite values at step 5; rolling back" in printed
    saved = json.loads((out / "config.json").read_text())
    assert saved["optim"]["lr_g"] == pytest.approx(1e-4)  # 2e-4 halved once
    state = torch.load(out / "checkpoints" / "step_0000008.pt", weights_only=True)
    assert state["step"] == 8
    assert all(torch.isfinite(t).all() for t in state["G"].values())
    steps = [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and len(steps) == len(set(steps))  # no duplicate records


def test_persistent_divergence_stops_with_a_clear_error(tmp_path, png_folder, monkeypatch):
    after_each_g_update(monkeypatch, _nan_at(set(range(1, 100))))
    with pytest.raises(UserError, match="diverged .* after 2 rollbacks"):
        gankit.train("seed-tutorial", out=tmp_path / "run", steps=8,
                     data=_tiny_folder(png_folder), batch_size=8, train__divergence_retries=2)
    for path in (tmp_path / "run" / "checkpoints").glob("*.pt"):
        state = torch.load(path, weights_only=True)
        assert all(torch.isfinite(t).all() for t in state["G"].values())


# --- the parser never shows a traceback ------------------------------------------------------

FLAGS = ["--preset", "--data", "--image-size", "--channels", "--epochs", "--steps",
         "--minutes", "--batch-size", "--seed", "--device", "--set", "--config", "--keep"]
values = st.one_of(st.integers(-10**6, 10**6).map(str),
                   st.floats(allow_nan=True, allow_infinity=True).map(str),
                   st.text(min_size=0, max_size=12),
                   st.sampled_from(["seed-mlp", "default", "mnist5k", "cpu", "cuda", "0", "-1",
                                    "1e-3", "nan", "true", "abc", ""]))
set_values = st.tuples(st.sampled_from(valid_keys() + ["train.nope", "bogus", "x.y"]),
                       values).map(lambda kv: f"{kv[0]}={kv[1]}")
arguments = st.lists(st.one_of(st.tuples(st.sampled_from(FLAGS), values),
                               st.tuples(st.just("--set"), set_values)), max_size=5)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arguments)
def test_random_train_arguments_give_a_config_or_one_line_and_exit_2(pairs):
    import contextlib
    import io

    argv = ["train", "--dry-run"] + [item for pair in pairs for item in pair]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    if code == 0:
        assert out.getvalue().startswith("preset: ")
        assert err.getvalue() == ""
    else:
        assert code == 2, argv
        lines = err.getvalue().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("gankit: error: "), (argv, lines)


class NearlyFullDisk(io.RawIOBase):
    """A file on a disk with ``room`` bytes left, as the kernel treats it: one short write,
    then ENOSPC. (On such a disk torch.save straight to the file fails with an opaque
    RuntimeError, "unexpected pos ...", rather than an OSError.)"""

    def __init__(self, fd: int, room: int):
        self.fd, self.room = fd, room

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written = os.write(self.fd, bytes(data)[:self.room])
        self.room -= written
        return written

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        if not self.closed:
            os.close(self.fd)
        super().close()


def test_disk_full_during_a_checkpoint_is_one_line_and_keeps_the_last_good_one(
        tmp_path, png_folder, monkeypatch):
    import gankit.training.checkpoint

    out = tmp_path / "run"
    data = _tiny_folder(png_folder)
    gankit.train("seed-tutorial", out=out, steps=4, data=data, batch_size=8)
    real_fdopen = os.fdopen

    def checkpoints_onto_a_full_disk(fd, mode="r", *args, **kwargs):
        name = Path(os.readlink(f"/proc/self/fd/{fd}")).name  # .step_0000008.pt.XXXX.tmp
        if name.startswith(".step_") and ".pt." in name:
            return io.BufferedWriter(NearlyFullDisk(fd, room=100_000))
        return real_fdopen(fd, mode, *args, **kwargs)

    monkeypatch.setattr(gankit.training.checkpoint.os, "fdopen", checkpoints_onto_a_full_disk)
    with pytest.raises(UserError, match="No space left on device.*--resume"):
        gankit.train("seed-tutorial", out=out, steps=8, data=data, batch_size=8, resume=True)
    monkeypatch.undo()
    leftovers = [p.name for p in (out / "checkpoints").iterdir() if p.suffix == ".tmp"]
    assert leftovers == []  # no half-written file left behind
    assert gankit.load(out).step == 4  # the last good checkpoint still loads
