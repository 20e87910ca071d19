"""Hyper-parameter search: ``gankit sweep`` (the tutorial's "GANs are sensitive to
hyper-parameters", made into a tool).

Optuna (Akiba et al. 2019) samples overrides of a preset (``--param
optim.lr_g=loguniform:1e-5:1e-3``); every trial is a full ``gankit`` training run in
``OUT/trial_NNNN`` with ``train.eval_every`` set, so the metric (FID by default, from
gankit's extractor) lands in the run's log. Each logged value is reported to Optuna as it
appears and a :class:`~optuna.pruners.MedianPruner` stops trials that are worse than the
median of earlier trials at the same step. A trial's objective is the last logged value.

The study lives in an Optuna RDB storage (``--storage sqlite:///sweep.db``: a real SQLite
file). Running the same command again continues the same study: ``--trials N`` is the
total number of finished (complete or pruned) trials, so a re-run only runs the missing
ones and never repeats a finished trial. A trial left RUNNING by a killed process (same
host, its process gone) is marked FAIL and its parameters are queued to be tried again.

At the end a summary table is printed and the best trial's settings are written as
``OUT/best.yaml``, a config file for ``gankit train --config OUT/best.yaml``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gankit.apps.sweep_params import ParamSpec, parse_param, parse_storage  # noqa: F401
from gankit.errors import UserError, first_line
from gankit.training.trainer import Callback

# Scores the training log holds when train.eval_every is set (see metrics.monitor).
LOGGED_SCORES = ("fid", "modes", "mode_kl")


def _nest(flat: dict[str, Any]) -> dict[str, dict[str, Any]]:
    tree: dict[str, dict[str, Any]] = {}
    for key, value in flat.items():
        section, _, name = key.partition(".")
        tree.setdefault(section, {})[name] = value
    return tree


def _import_optuna():
    try:
        import optuna
    except ImportError:
        raise UserError("gankit sweep needs Optuna: pip install 'gankit[sweep]' (or optuna)") \
            from None
    return optuna


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_stale_trials(study, echo=print) -> list[int]:
    """Mark RUNNING trials whose process died (same host) FAIL and queue their params again.

    Returns the numbers of the trials recovered. Trials started on other hosts, or whose
    process still runs (a parallel worker), are left alone.
    """
    from optuna.trial import TrialState

    recovered = []
    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        attrs = trial.user_attrs
        pid, trial_host = attrs.get("gankit_pid"), attrs.get("gankit_host")
        if pid is None or trial_host != host or _pid_alive(int(pid)):
            continue
        study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number},
                            skip_if_exists=False)
        recovered.append(trial.number)
        echo(f"trial {trial.number} was left running by a process that is gone (pid {pid}); "
             f"marked failed, its parameters queued again")
    return recovered


def _silent(message: str) -> None:
    """A quiet trial's messages go nowhere."""


class PruneCallback(Callback):
    """Reports each new value of ``metric`` (from the run's ``eval`` events) to the Optuna
    trial and stops the trial with ``optuna.TrialPruned`` when the pruner says so; the
    trainer closes the run's files on the way out."""

    def __init__(self, trial, metric: str):
        self.trial, self.metric = trial, metric
        self.values: list[tuple[int, float]] = []

    def on_eval(self, trainer, scores: dict[str, Any]) -> None:
        value = scores.get(self.metric)
        if value is None or not math.isfinite(float(value)):
            return
        step = int(scores["step"])
        self.values.append((step, float(value)))
        self.trial.report(float(value), step)
        if self.trial.should_prune():
            optuna = _import_optuna()
            raise optuna.TrialPruned(f"{self.metric} {float(value):.4g} at step {step}")


@dataclass
class Plan:
    """A sweep's settings, checked once before anything is stored."""

    preset: str
    specs: list[ParamSpec]
    metric: str
    storage: str
    fixed: dict[str, Any]  # overrides every trial shares (train.steps, train.eval_every)
    base: Any  # the preset's config with the fixed overrides
    study_name: str
    out: Path
    progress: bool = False  # a progress bar for each trial's training

    def settings(self) -> dict[str, Any]:
        return {"preset": self.preset, "metric": self.metric,
                "params": [s.text() for s in self.specs],
                "fixed": {k: v for k, v in sorted(self.fixed.items())}}


def make_plan(preset, params, trials, storage, *, metric, study_name, out, steps, eval_every,
              overrides) -> Plan:
    """Parse and validate a sweep's arguments; every mistake is a UserError."""
    from gankit.config import resolve

    specs = [p if isinstance(p, ParamSpec) else parse_param(p) for p in params]
    if not specs:
        raise UserError("give at least one --param KEY=KIND:ARGS to search")
    if len({s.key for s in specs}) != len(specs):
        raise UserError("each --param key may be given once")
    if metric not in LOGGED_SCORES:
        raise UserError(f"--metric {metric!r}: the training log holds {', '.join(LOGGED_SCORES)}")
    if trials < 1:
        raise UserError("--trials must be >= 1")
    fixed = dict(overrides or {})
    if steps is not None:
        fixed["train.steps"] = int(steps)
    # Validate preset and every key once, before anything is stored.
    base = resolve(preset, overrides={**fixed, **{s.key: s.example() for s in specs}})
    if eval_every is None:
        eval_every = max(1, base.train.steps // 4) if base.train.steps else 500
    fixed["train.eval_every"] = int(eval_every)
    study_name = study_name or f"{preset}-{metric}"
    out = Path(out) if out is not None else Path("sweeps") / study_name
    return Plan(preset, specs, metric, parse_storage(storage), fixed, base, study_name, out)


def open_study(plan: Plan, seed: int, echo):
    """The plan's Optuna study, created or continued; other settings are refused."""
    optuna = _import_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(
            study_name=plan.study_name, storage=plan.storage, load_if_exists=True,
            direction="minimize" if plan.metric in ("fid", "mode_kl") else "maximize",
            sampler=optuna.samplers.TPESampler(seed=seed),
            # No pruning on a trial's first logged value: early scores say little.
            pruner=optuna.pruners.MedianPruner(
                n_startup_trials=3, n_warmup_steps=plan.fixed["train.eval_every"] + 1))
    except Exception as exc:  # a bad URL or unreadable file is the user's to fix
        raise UserError(f"cannot open the study in {plan.storage}: "
                        f"{first_line(exc)[:200]}") from None
    settings, stored = plan.settings(), study.user_attrs.get("gankit_settings")
    if stored is None:
        study.set_user_attr("gankit_settings", settings)
    elif stored != json.loads(json.dumps(settings)):
        raise UserError(f"study {plan.study_name!r} in {plan.storage} was started with other "
                        f"settings ({json.dumps(stored)}); use the same ones or a new --study")
    recover_stale_trials(study, echo)
    return study


def run_trial(plan: Plan, trial, deadline: float, quiet: bool, echo) -> float:
    """One trial: a training run in ``OUT/trial_NNNN``, pruned through its callback."""
    from gankit.apps.train import run_training
    from gankit.config import resolve

    trial.set_user_attr("gankit_pid", os.getpid())
    trial.set_user_attr("gankit_host", socket.gethostname())
    sampled = {s.key: s.suggest(trial) for s in plan.specs}
    run_dir = plan.out / f"trial_{trial.number:04d}"
    if run_dir.exists():  # left by an earlier study of the same name that was deleted
        shutil.rmtree(run_dir)
    trial.set_user_attr("run_dir", str(run_dir))
    dotted = {**plan.fixed, **sampled}
    left = deadline - time.monotonic()
    if math.isfinite(left):  # the budget bounds each trial too (it stops, checkpointed)
        cap = max(left / 60, 0.05)
        dotted["train.minutes"] = min(plan.base.train.minutes or cap, cap)
    cfg = resolve(plan.preset, overrides=dotted)
    echo(f"trial {trial.number}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in sampled.items()))
    pruner = PruneCallback(trial, plan.metric)
    say = _silent if quiet else (lambda message: echo(f"  [trial {trial.number}] {message}"))
    try:
        run_training(cfg, run_dir, progress=plan.progress, echo=say,
                     callbacks=[lambda *_: [pruner]])
        if not pruner.values:
            raise UserError(f"trial {trial.number} logged no {plan.metric}; give --eval-every "
                            f"at most the number of steps")
    except _import_optuna().TrialPruned as pruned:
        echo(f"trial {trial.number}: pruned ({pruned})")
        raise
    except UserError as failed:  # kept with the trial: the sweep's summary says why it failed
        trial.set_user_attr("failure", str(failed))
        echo(f"trial {trial.number}: failed: {failed}")
        raise
    value = pruner.values[-1][1]
    echo(f"trial {trial.number}: {plan.metric} {value:.4g}")
    return value


def sweep(preset: str, params: list[str | ParamSpec], trials: int, storage: str, *,
          metric: str = "fid", study_name: str | None = None, out: str | Path | None = None,
          steps: int | None = None, eval_every: int | None = None,
          budget_minutes: float = 0.0, overrides: dict[str, Any] | None = None,
          seed: int = 0, quiet: bool = True, echo=print, progress: bool = False
          ) -> dict[str, Any]:
    """Run (or continue) a study until it holds ``trials`` finished trials or the budget ends.

    ``steps``: train.steps of every trial; ``budget_minutes``: no trial starts after that
    many minutes and a running one stops then (0: no limit); ``progress``: a progress bar
    for each trial's training.

    Returns ``{"study", "best" (params, value, number) or None, "best_config" path or None,
    "table" (text), "ran" (trials run now), "trials" (list of dicts)}``.
    """
    optuna = _import_optuna()
    from optuna.trial import TrialState

    plan = make_plan(preset, params, trials, storage, metric=metric, study_name=study_name,
                     out=out, steps=steps, eval_every=eval_every, overrides=overrides)
    plan.progress = progress
    study = open_study(plan, seed, echo)
    finished_states = (TrialState.COMPLETE, TrialState.PRUNED)
    done = len(study.get_trials(deepcopy=False, states=finished_states))
    deadline = time.monotonic() + budget_minutes * 60 if budget_minutes > 0 else math.inf
    if done:
        echo(f"study {plan.study_name!r}: {done} finished trial(s) already in {plan.storage}")
    remaining, ran_before = max(0, trials - done), len(study.trials)
    if remaining:
        def out_of_time(study, trial) -> None:
            if time.monotonic() >= deadline:
                study.stop()

        # A failed trial (UserError: e.g. diverged) does not stop the sweep; it is not
        # finished, so another trial takes its place, up to 3 x the trials asked for.
        study.optimize(lambda trial: run_trial(plan, trial, deadline, quiet, echo),
                       n_trials=remaining * 3, catch=(UserError,),
                       callbacks=[optuna.study.MaxTrialsCallback(trials, states=finished_states),
                                  out_of_time],
                       timeout=budget_minutes * 60 if budget_minutes > 0 else None)
    summary = summarise(study, metric)
    best_path = None
    if summary["best"] is not None:
        shared = {k: v for k, v in plan.fixed.items() if k != "train.eval_every"}
        best_path = write_best_config(plan.out / "best.yaml", preset, shared,
                                      summary["best"]["params"])
    return {"study": plan.study_name, "storage": plan.storage, "best_config": best_path,
            "ran": len(study.trials) - ran_before, **summary}


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def summarise(study, metric: str) -> dict[str, Any]:
    """The study's trials as rows, a text table (best first) and the best trial."""
    from optuna.trial import TrialState

    rows = []
    for t in study.get_trials(deepcopy=False):
        last = max(t.intermediate_values) if t.intermediate_values else None
        rows.append({"number": t.number, "state": t.state.name, "value": t.value,
                     "last_step": last, "params": dict(t.params),
                     "failure": t.user_attrs.get("failure"),
                     "seconds": (t.datetime_complete - t.datetime_start).total_seconds()
                     if t.datetime_complete and t.datetime_start else None})
    complete = [r for r in rows if r["state"] == TrialState.COMPLETE.name]
    maximize = study.direction.name == "MAXIMIZE"
    best = None
    if complete:
        best_row = (max if maximize else min)(complete, key=lambda r: r["value"])
        best = {"number": best_row["number"], "value": best_row["value"],
                "params": best_row["params"]}
    keys = sorted({k for r in rows for k in r["params"]})
    order = sorted(rows, key=lambda r: (r["state"] != "COMPLETE",
                                        (-(r["value"] or 0) if maximize else (r["value"] or 0)),
                                        r["number"]))
    header = ["trial", "state", metric] + keys + ["seconds"]
    lines = [header]
    for r in order:
        lines.append([str(r["number"]), r["state"].lower(),
                      _fmt(r["value"]) if r["value"] is not None else "-"]
                     + [_fmt(r["params"][k]) if k in r["params"] else "-" for k in keys]
                     + [f"{r['seconds']:.1f}" if r["seconds"] is not None else "-"])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    table = "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip()
                      for line in lines)
    return {"trials": rows, "table": table, "best": best}


def write_best_config(path: str | Path, preset: str, fixed: dict[str, Any],
                      params: dict[str, Any]) -> Path:
    """A YAML config file (``gankit train --config``): the preset and the chosen overrides."""
    import yaml

    from gankit.training.checkpoint import atomic_write_text

    tree: dict[str, Any] = {"preset": preset, **_nest({**fixed, **params})}
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, "# best trial of a gankit sweep; use with: gankit train "
                          f"--config {path.name}\n" + yaml.safe_dump(tree, sort_keys=False))
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
