"""gankit sweep: Optuna study in a real SQLite file, resumable, killable, best config."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

optuna = pytest.importorskip("optuna")
yaml = pytest.importorskip("yaml")

from gankit.cli import main  # noqa: E402
from gankit.errors import UserError  # noqa: E402
from gankit.apps.sweep import parse_param  # noqa: E402


def _args(folder, db, out, trials=2, steps=10, eval_every=5):
    return ["sweep", "--preset", "seed-tutorial", "--trials", str(trials),
            "--trial-steps", str(steps), "--eval-every", str(eval_every),
            "--param", "optim.lr_g=loguniform:1e-5:1e-3",
            "--param", "train.batch_size=choice:16,32", "--set", f"data.name={folder}",
            "--storage", f"sqlite:///{db}", "--study", "t", "--out", str(out)]


def _trial_rows(db):
    with sqlite3.connect(db) as con:  # the file is a real SQLite database
        return con.execute("SELECT number, state FROM trials ORDER BY number").fetchall()


def test_param_specs():
    assert parse_param("optim.lr_g=loguniform:1e-5:1e-3").kind == "loguniform"
    assert parse_param("train.batch_size=int:16:64").low == 16
    assert parse_param("loss.name=choice:ns,hinge").choices == ("ns", "hinge")
    assert parse_param("optim.beta1=choice:0.0,0.5").choices == (0.0, 0.5)
    for bad in ("optim.lr_g", "optim.nope=uniform:0:1", "optim.lr_g=gauss:0:1",
                "optim.lr_g=uniform:1:0", "optim.lr_g=loguniform:0:1", "optim.lr_g=uniform:a:b",
                "train.batch_size=int:1.5:3", "loss.name=choice:", "optim.lr_g=uniform:1"):
        with pytest.raises(UserError):
            parse_param(bad)


def test_bad_spec_on_the_cli_is_one_line(tmp_path, capsys):
    code = main(["sweep", "--preset", "seed-tutorial", "--param", "optim.lr_g=uniform:x:y",
                 "--storage", f"sqlite:///{tmp_path / 's.db'}"])
    err = capsys.readouterr().err
    assert code == 2 and "bounds" in err and len(err.strip().splitlines()) == 1


def test_trials_recorded_rerun_continues_and_best_config_trains(png_folder, tmp_path, capsys):
    folder = png_folder(48, classes=("a", "b"))
    db, out = tmp_path / "sweep.db", tmp_path / "out"
    assert main(_args(folder, db, out, trials=2)) == 0
    text = capsys.readouterr().out
    assert "best: trial" in text and "optim.lr_g" in text
    rows = _trial_rows(db)
    assert [state for _, state in rows] == ["COMPLETE", "COMPLETE"]
    # The same command again: nothing to do, no duplicates.
    assert main(_args(folder, db, out, trials=2)) == 0
    assert _trial_rows(db) == rows
    # Asking for 3: exactly one more trial.
    assert main(_args(folder, db, out, trials=3)) == 0
    text = capsys.readouterr().out
    assert [n for n, _ in _trial_rows(db)] == [0, 1, 2]
    # Other settings under the same study name are refused.
    changed = _args(folder, db, out, trials=3)
    changed[changed.index("optim.lr_g=loguniform:1e-5:1e-3")] = "optim.lr_g=uniform:1e-5:1e-3"
    assert main(changed) == 2
    capsys.readouterr()
    # The best trial is the one with the lowest FID (lower is better), and its value is the
    # FID its run logged last.
    study = optuna.load_study(study_name="t", storage=f"sqlite:///{db}")
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    values = {t.number: t.value for t in study.trials if t.state.name == "COMPLETE"}
    assert len(values) == 3 and min(values.values()) < max(values.values()), values
    for number, value in values.items():  # each trial's value: the FID its run logged last
        logged = (out / f"trial_{number:04d}" / "log.jsonl").read_text().splitlines()
        assert value == [r["fid"] for r in map(json.loads, logged) if "fid" in r][-1]
    winner = study.best_trial
    assert winner.value == min(values.values())
    assert f"best: trial {winner.number}, fid {winner.value:.4g}" in text
    chosen = yaml.safe_load((out / "best.yaml").read_text())
    params = winner.params
    assert chosen["optim"]["lr_g"] == pytest.approx(params["optim.lr_g"])
    assert chosen["train"]["batch_size"] == params["train.batch_size"]
    # best.yaml is a config file for gankit train --config.
    best = out / "best.yaml"
    assert main(["train", "--config", str(best), "--steps", "2", "--out",
                 str(tmp_path / "from_best"), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "preset: seed-tutorial" in printed and str(folder) in printed
    assert f"lr_g={study.best_params['optim.lr_g']}" in printed


def test_killed_sweep_is_continued_without_duplicates(png_folder, tmp_path):
    folder = png_folder(48, classes=("a", "b"))
    db, out = tmp_path / "sweep.db", tmp_path / "out"
    args = _args(folder, db, out, trials=2, steps=400, eval_every=200)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "gankit", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # kill as soon as a trial is running
            if db.exists():
                try:
                    if any(state == "RUNNING" for _, state in _trial_rows(db)):
                        break
                except sqlite3.OperationalError:
                    pass  # tables not made yet
            time.sleep(0.2)
        else:
            pytest.fail("the sweep never started a trial")
        time.sleep(0.3)  # inside the trial's training (each trial takes seconds)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert ("RUNNING" in [s for _, s in _trial_rows(db)])
    assert main(args) == 0
    rows = _trial_rows(db)
    states = [s for _, s in rows]
    assert states.count("COMPLETE") == 2 and "RUNNING" not in states
    assert states[0] == "FAIL"  # the killed trial, retried as a new one
    study = optuna.load_study(study_name="t", storage=f"sqlite:///{db}")
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert complete[0].params == study.trials[0].params  # its parameters were tried again
    assert complete[0].user_attrs.get("retry_of") == 0


def test_minutes_stop_the_study_between_trials(png_folder, tmp_path, monkeypatch):
    """--minutes ends the sweep once the budget is spent, however many trials were
    asked for: here each trial 'takes' 6 minutes of a 10-minute budget (a fake clock), so
    2 of the 4 trials run."""
    import types

    from gankit.apps import sweep as sweep_module

    clock = {"now": 0.0}
    monkeypatch.setattr(sweep_module, "time", types.SimpleNamespace(
        monotonic=lambda: clock["now"]))
    real_trial = sweep_module.run_trial

    def six_minutes(plan, trial, deadline, quiet, echo):
        value = real_trial(plan, trial, deadline, quiet, echo)
        clock["now"] += 6 * 60
        return value

    monkeypatch.setattr(sweep_module, "run_trial", six_minutes)
    folder = png_folder(48, classes=("a", "b"))
    db = tmp_path / "sweep.db"
    assert main([*_args(folder, db, tmp_path / "out", trials=4), "--minutes", "10"]) == 0
    assert [state for _, state in _trial_rows(db)] == ["COMPLETE", "COMPLETE"]


def test_a_sweep_where_every_trial_failed_exits_non_zero_with_the_reason(png_folder, tmp_path,
                                                                        capsys):
    folder = png_folder(16)
    # --eval-every beyond --trial-steps: no trial logs a FID, so each one fails with that reason
    code = main(_args(folder, tmp_path / "s.db", tmp_path / "out", trials=1, steps=2,
                      eval_every=5))
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.strip().splitlines() == [
        "gankit: error: no trial finished: 3 failed (trial 0: trial 0 logged no fid; give "
        "--eval-every at most the number of steps)"]
    assert [state for _, state in _trial_rows(tmp_path / "s.db")] == ["FAIL"] * 3
    assert "best:" not in captured.out


@pytest.mark.parametrize("metric, best_value", [("fid", 10.0), ("mode_kl", 10.0),
                                                ("modes", 30.0)])
def test_the_best_trial_is_the_lowest_fid_and_the_most_modes(tmp_path, metric, best_value):
    """Lower FID and mode KL are better, more modes are: the study's direction, the best
    trial and the summary table (best first) follow the metric (trials added by hand, with
    the values 20, 10, 30)."""
    from optuna.distributions import FloatDistribution

    from gankit.apps.sweep import make_plan, open_study, summarise

    plan = make_plan("seed-tutorial", ["optim.lr_g=uniform:1e-4:1e-3"], trials=3,
                     storage=f"sqlite:///{tmp_path / 's.db'}", metric=metric, study_name=None,
                     out=tmp_path / "out", steps=10, eval_every=5, overrides=None)
    study = open_study(plan, seed=0, echo=lambda _: None)
    lower_is_better = metric != "modes"
    assert study.direction.name == ("MINIMIZE" if lower_is_better else "MAXIMIZE")
    for lr, value in ((2e-4, 20.0), (3e-4, 10.0), (4e-4, 30.0)):
        study.add_trial(optuna.trial.create_trial(
            params={"optim.lr_g": lr},
            distributions={"optim.lr_g": FloatDistribution(1e-4, 1e-3)}, value=value))
    summary = summarise(study, metric)
    assert summary["best"]["value"] == best_value
    assert summary["best"]["params"]["optim.lr_g"] == pytest.approx(
        3e-4 if lower_is_better else 4e-4)
    rows = summary["table"].splitlines()[1:]  # below the header, best first
    order = [float(row.split()[2]) for row in rows]
    assert order == ([10.0, 20.0, 30.0] if lower_is_better else [30.0, 20.0, 10.0])
