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

from gankit.errors import UserError, first_line

# Scores the training log holds when train.eval_every is set (see metrics.monitor).
LOGGED_SCORES = ("fid", "modes", "mode_kl")
KINDS = ("uniform", "loguniform", "int", "choice")


@dataclass(frozen=True)
class ParamSpec:
    """One searched config key: ``key=kind:args``."""

    key: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    choices: tuple[Any, ...] = ()

    def text(self) -> str:
        if self.kind == "choice":
            return f"{self.key}=choice:{','.join(map(str, self.choices))}"
        return f"{self.key}={self.kind}:{self.low}:{self.high}"

    def suggest(self, trial) -> Any:
        if self.kind == "uniform":
            return trial.suggest_float(self.key, self.low, self.high)
        if self.kind == "loguniform":
            return trial.suggest_float(self.key, self.low, self.high, log=True)
        if self.kind == "int":
            return trial.suggest_int(self.key, self.low, self.high)
        return trial.suggest_categorical(self.key, list(self.choices))

    def example(self) -> Any:
        """A value inside the range (used to check the key before any trial runs)."""
        return self.choices[0] if self.kind == "choice" else self.low


def _scalar(text: str) -> Any:
    """``"3"`` -> 3, ``"0.5"`` -> 0.5, ``"true"`` -> True, else the string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def parse_param(text: str) -> ParamSpec:
    """``"optim.lr_g=loguniform:1e-5:1e-3"`` -> :class:`ParamSpec`; mistakes raise UserError.

    Kinds: ``uniform:a:b``, ``loguniform:a:b`` (0 < a), ``int:a:b`` (whole numbers),
    ``choice:x,y,z``. Keys must be config keys (``gankit train --dry-run`` shows them).
    """
    from gankit.config import valid_keys

    key, sep, spec = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UserError(f"--param takes KEY=KIND:ARGS, e.g. optim.lr_g=loguniform:1e-5:1e-3; "
                        f"got {text!r}")
    if key not in valid_keys():
        raise UserError(f"--param {text!r}: unknown config key {key!r} (keys look like "
                        f"optim.lr_g, train.batch_size)")
    kind, _, args = spec.partition(":")
    kind = kind.strip()
    if kind not in KINDS:
        raise UserError(f"--param {text!r}: unknown kind {kind!r}; use one of "
                        f"{', '.join(KINDS)} (e.g. {key}=uniform:0.1:0.9)")
    if kind == "choice":
        choices = tuple(_scalar(c) for c in args.split(",") if c.strip())
        if not choices:
            raise UserError(f"--param {text!r}: choice needs values, e.g. choice:32,64,128")
        return ParamSpec(key, kind, choices=choices)
    parts = args.split(":")
    if len(parts) != 2:
        raise UserError(f"--param {text!r}: {kind} takes two bounds, {kind}:LOW:HIGH")
    try:
        if kind == "int":
            low, high = int(parts[0]), int(parts[1])
        else:
            low, high = float(parts[0]), float(parts[1])
    except ValueError:
        need = "whole numbers" if kind == "int" else "numbers"
        raise UserError(f"--param {text!r}: the bounds must be {need}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise UserError(f"--param {text!r}: need finite bounds with LOW < HIGH")
    if kind == "loguniform" and low <= 0:
        raise UserError(f"--param {text!r}: loguniform needs LOW > 0")
    return ParamSpec(key, kind, low, high)


def parse_storage(text: str) -> str:
    """An RDB URL; ``sqlite:///path.db`` (the usual) gets its folder created."""
    if "://" not in text:
        raise UserError(f"--storage takes a database URL like sqlite:///sweep.db, got {text!r}")
    if text.startswith("sqlite:///"):
        path = Path(text[len("sqlite:///"):])
        if not str(path) or str(path) == ":memory:":
            raise UserError("--storage needs a database file (sqlite:///sweep.db), not memory")
        try:
            path.expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create the folder of {path}: {exc.strerror or exc}") from None
    return text


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


class _MetricReporter:
    """The loop's ``echo``: passes messages on, reports new metric values to the trial."""

    def __init__(self, trial, log_path: Path, metric: str, echo, quiet: bool):
        self.trial, self.log_path, self.metric = trial, log_path, metric
        self.echo, self.quiet = echo, quiet
        self.offset = 0
        self.values: list[tuple[int, float]] = []

    def read_new(self) -> list[tuple[int, float]]:
        if not self.log_path.is_file():
            return []
        with open(self.log_path, encoding="utf-8") as handle:
            handle.seek(self.offset)
            text = handle.read()
        complete = text[:text.rfind("\n") + 1]  # a half-written last line waits for next time
        self.offset += len(complete.encode("utf-8"))
        new = []
        for line in complete.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if self.metric in record:
                new.append((int(record["step"]), float(record[self.metric])))
        self.values.extend(new)
        return new

    def __call__(self, message: str) -> None:
        if not self.quiet:
            self.echo(f"  [trial {self.trial.number}] {message}")
        for step, value in self.read_new():
            if not math.isfinite(value):
                continue
            self.trial.report(value, step)
            if self.trial.should_prune():
                optuna = _import_optuna()
                raise optuna.TrialPruned(f"{self.metric} {value:.4g} at step {step}")


def sweep(preset: str, params: list[str | ParamSpec], trials: int, storage: str,
          metric: str = "fid", study_name: str | None = None, out: str | Path | None = None,
          steps: int | None = None, eval_every: int | None = None,
          budget_minutes: float = 0.0, overrides: dict[str, Any] | None = None,
          seed: int = 0, quiet: bool = True, echo=print) -> dict[str, Any]:
    """Run (or continue) a study until it holds ``trials`` finished trials or the budget ends.

    Returns ``{"study", "best" (params, value, number) or None, "best_config" path or None,
    "table" (text), "ran" (trials run now), "trials" (list of dicts)}``.
    """
    optuna = _import_optuna()
    from optuna.trial import TrialState

    from gankit.config import resolve
    from gankit.training.loop import train

    specs = [p if isinstance(p, ParamSpec) else parse_param(p) for p in params]
    if not specs:
        raise UserError("give at least one --param KEY=KIND:ARGS to search")
    if len({s.key for s in specs}) != len(specs):
        raise UserError("each --param key may be given once")
    if metric not in LOGGED_SCORES:
        raise UserError(f"--metric {metric!r}: the training log holds {', '.join(LOGGED_SCORES)}")
    if trials < 1:
        raise UserError("--trials must be >= 1")
    storage = parse_storage(storage)
    fixed = dict(overrides or {})
    if steps is not None:
        fixed["train.steps"] = int(steps)
    # Validate preset and every key once, before anything is stored.
    base = resolve(preset, overrides={**fixed, **{s.key: s.example() for s in specs}})
    total_steps = base.train.steps
    if eval_every is None:
        eval_every = max(1, total_steps // 4) if total_steps else 500
    fixed["train.eval_every"] = int(eval_every)
    study_name = study_name or f"{preset}-{metric}"
    out = Path(out) if out is not None else Path("sweeps") / study_name
    settings = {"preset": preset, "metric": metric, "params": [s.text() for s in specs],
                "fixed": {k: v for k, v in sorted(fixed.items())}}

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(
            study_name=study_name, storage=storage, load_if_exists=True,
            direction="minimize" if metric in ("fid", "mode_kl") else "maximize",
            sampler=optuna.samplers.TPESampler(seed=seed),
            # No pruning on a trial's first logged value: early scores say little.
            pruner=optuna.pruners.MedianPruner(n_startup_trials=3,
                                               n_warmup_steps=eval_every + 1))
    except Exception as exc:  # a bad URL or unreadable file is the user's to fix
        first = first_line(exc)
        raise UserError(f"cannot open the study in {storage}: {first[:200]}") from None
    stored = study.user_attrs.get("gankit_settings")
    if stored is None:
        study.set_user_attr("gankit_settings", settings)
    elif stored != json.loads(json.dumps(settings)):
        raise UserError(f"study {study_name!r} in {storage} was started with other settings "
                        f"({json.dumps(stored)}); use the same ones or a new --study")
    recover_stale_trials(study, echo)

    finished_states = (TrialState.COMPLETE, TrialState.PRUNED)
    done = len(study.get_trials(deepcopy=False, states=finished_states))
    deadline = time.monotonic() + budget_minutes * 60 if budget_minutes > 0 else math.inf
    if done:
        echo(f"study {study_name!r}: {done} finished trial(s) already in {storage}")

    def objective(trial) -> float:
        trial.set_user_attr("gankit_pid", os.getpid())
        trial.set_user_attr("gankit_host", socket.gethostname())
        sampled = {s.key: s.suggest(trial) for s in specs}
        run_dir = out / f"trial_{trial.number:04d}"
        if run_dir.exists():  # left by an earlier study of the same name that was deleted
            shutil.rmtree(run_dir)
        trial.set_user_attr("run_dir", str(run_dir))
        dotted = {**fixed, **sampled}
        left = deadline - time.monotonic()
        if math.isfinite(left):  # the budget bounds each trial too (it stops, checkpointed)
            cap = max(left / 60, 0.05)
            dotted["train.minutes"] = min(base.train.minutes or cap, cap)
        cfg = resolve(preset, overrides=dotted)
        echo(f"trial {trial.number}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in sampled.items()))
        reporter = _MetricReporter(trial, run_dir / "log.jsonl", metric, echo, quiet)
        try:
            train(cfg, run_dir, progress=False, echo=reporter)
        except optuna.TrialPruned as pruned:
            echo(f"trial {trial.number}: pruned ({pruned})")
            raise
        reporter.read_new()
        if not reporter.values:
            raise UserError(f"trial {trial.number} logged no {metric}; give --eval-every at "
                            f"most the number of steps")
        value = reporter.values[-1][1]
        echo(f"trial {trial.number}: {metric} {value:.4g}")
        return value

    remaining = max(0, trials - done)
    ran_before = len(study.trials)
    if remaining:
        callback = optuna.study.MaxTrialsCallback(trials, states=finished_states)

        def out_of_time(study, trial) -> None:
            if time.monotonic() >= deadline:
                study.stop()

        # A failed trial (UserError: e.g. diverged) does not stop the sweep; it is not
        # finished, so another trial takes its place, up to 3 x the trials asked for.
        study.optimize(objective, n_trials=remaining * 3, catch=(UserError,),
                       callbacks=[callback, out_of_time],
                       timeout=budget_minutes * 60 if budget_minutes > 0 else None)
    ran = len(study.trials) - ran_before

    summary = summarise(study, metric)
    best_path = None
    if summary["best"] is not None:
        best_path = write_best_config(out / "best.yaml", preset,
                                      {k: v for k, v in fixed.items()
                                       if k != "train.eval_every"},
                                      summary["best"]["params"])
    return {"study": study_name, "storage": storage, "ran": ran, "best_config": best_path,
            **summary}


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
