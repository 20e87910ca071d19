"""gankit watch: newest grid, loss plot and sparklines; --once; Ctrl-C ends it with exit 0."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from gankit.cli import main
from gankit.errors import UserError
from gankit.apps.watch import BARS, sparkline, status, watch


def test_sparkline_scales_between_min_and_max():
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == BARS
    assert sparkline([3.0, 3.0, 3.0]) == BARS[3] * 3
    assert sparkline(list(range(100)), width=10) == sparkline(list(range(90, 100)))
    assert sparkline([1.0, float("nan"), 2.0]) == BARS[0] + "!" + BARS[-1]
    assert sparkline([]) == "" and sparkline([float("inf")]) == "!"


def test_watch_once_prints_grid_plot_and_sparklines(copy_run, capsys):
    run = copy_run()
    with open(run / "log.jsonl", "a", encoding="utf-8") as log:
        for step, loss in ((6, 0.9), (7, 0.8), (8, 0.7)):
            log.write(json.dumps({"step": step, "epoch": 1, "loss_d": loss, "loss_g": 1 - loss,
                                  "d_real": 0.6, "d_fake": 0.4}) + "\n")
        log.write(json.dumps({"step": 8, "fid": 300.0, "probe_modes": 3,
                              "collapse_warning": 1}) + "\n")
    (run / "loss.png").unlink()
    assert main(["watch", str(run), "--once"]) == 0
    out = capsys.readouterr().out
    assert f"grid: {run / 'samples' / 'step_0000005.png'}" in out
    assert f"plot: {run / 'loss.png'}" in out and (run / "loss.png").is_file()  # redrawn
    assert "step 8" in out.splitlines()[0]
    # the 5-step run logged once, plus 3 appended records: 4 bars, ending at the last value
    (loss_d,) = [line.split() for line in out.splitlines() if line.strip().startswith("loss D")]
    assert set(loss_d[2]) <= set(BARS) and len(loss_d[2]) == 4 and loss_d[3] == "0.7000"
    assert "fid" in out and "possible mode collapse at step 8" in out


def test_watch_a_run_without_records(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    text = status(tmp_path)
    assert "no training records" in text and "grid: (none yet)" in text
    assert "plot: (none yet)" in text


@pytest.mark.parametrize("args, message", [
    (lambda t: ["watch", str(t / "missing")], "run directory not found"),
    (lambda t: ["watch", str(t)], "not a gankit run"),
    (lambda t: ["watch", str(t), "--interval", "0"], "--interval: must be a finite number > 0"),
])
def test_watch_user_errors(tmp_path, capsys, args, message):
    assert main(args(tmp_path)) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_watch_refreshes_until_interrupted(trained_run, monkeypatch):
    import gankit.apps.watch as watch_module

    clock, sleeps, refreshes = [0.0], [], []

    def fake_sleep(seconds):  # a clock that only sleeping moves
        sleeps.append(seconds)
        clock[0] += seconds
        if clock[0] > 1.25:  # refreshed at 0, 0.5 and 1.0 s
            raise KeyboardInterrupt

    def counted_status(*args, **kwargs):
        refreshes.append(clock[0])
        return real_status(*args, **kwargs)

    real_status = watch_module.status
    monkeypatch.setattr(watch_module, "status", counted_status)
    monkeypatch.setattr("gankit.apps.watch.time.sleep", fake_sleep)
    monkeypatch.setattr("gankit.apps.watch.time.monotonic", lambda: clock[0])
    out = io.StringIO()  # not a terminal: a block is printed only when the log changed
    assert watch(trained_run, interval=0.5, out=out) == 0
    assert refreshes == pytest.approx([0.0, 0.5, 1.0])
    assert max(sleeps) <= 0.1  # short slices: Ctrl-C is seen within 0.1 s
    assert out.getvalue().count("grid:") == 1
    with pytest.raises(UserError, match="interval"):
        watch(trained_run, interval=float("nan"))


def test_ctrl_c_exits_with_code_0(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "gankit", "watch", str(run),
                                "--interval", "0.2"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = process.stdout.readline()  # the first block is printed: it is in its loop
        assert str(run) in first
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "Traceback" not in err


def test_ctrl_c_inside_a_finaliser_still_stops_the_loop(trained_run, monkeypatch):
    """Python swallows a KeyboardInterrupt raised while a finaliser runs (an object being
    collected during a refresh); the loop must stop all the same, and leave Ctrl-C as it was."""
    import gankit.apps.watch as watch_module

    calls = []

    class Collected:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(10_000):  # the handler runs here, inside the finaliser
                pass

    def refresh(run_dir, width=40, plot=True):
        calls.append(1)
        if len(calls) > 3:
            raise RuntimeError("Ctrl-C was lost")
        Collected()  # dropped at once: its finaliser runs now
        return "status"

    monkeypatch.setattr(watch_module, "status", refresh)
    before = signal.getsignal(signal.SIGINT)
    assert watch(trained_run, interval=0.01, out=io.StringIO()) == 0
    assert len(calls) == 1
    assert signal.getsignal(signal.SIGINT) is before
