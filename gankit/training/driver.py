"""``drive(cfg, run_dir)``: one run of any training kind, from its run directory to its
last checkpoint.

The driver never overwrites earlier work, resumes from the newest good checkpoint,
assembles the standard callbacks around the kind's own, and survives what a long run
meets: a first SIGINT/SIGTERM finishes the step, checkpoints and returns; a non-finite
loss or weight rolls back to the last good checkpoint with lower learning rates; a full
disk stops with one line and keeps the last good checkpoint.

What one run needs is one :class:`Session`; each attempt (a rollback starts another) builds
the kind's setup through the speed machinery, restores a checkpoint, assembles the
callbacks and trains. The driver is the one caller of the speed machinery
(:mod:`gankit.speed`): each attempt goes through ``speed.tune`` (:func:`_tuned`), which runs
the kind and may hand back a faster step and the thread governor. Callers outside a run
that need the machinery ask here: ``gankit train``'s start-up (:func:`eager_start`), a
fixed thread count (:func:`fixed_threads`) and the CPUs a launcher may share out
(:func:`available_cpus`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from gankit import __version__, speed
from gankit.config import Config, from_dict
from gankit.errors import UserError
from gankit.training import distributed
from gankit.training.callbacks import (Checkpoints, Diverged, DivergenceGuard, EpochLine,
                                       JsonlLog, LogCollector, LossPlot, ProgressBar,
                                       SamplePictures, TensorBoard)
from gankit.training.checkpoint import atomic_write_text, latest_checkpoint, refuse_existing_run
from gankit.training.kinds import Setup, TrainingKind, setup_for
from gankit.training.signals import GracefulStop
from gankit.training.stats import StatsWindow
from gankit.training.strategies import set_learning_rates
from gankit.training.trainer import Callback, Trainer

# Callbacks a caller adds to every session (monitors, a sweep's pruner): built from the
# session's Setup, its config and its distributed context.
CallbackFactory = Callable[[Setup, Config, distributed.Context], Iterable[Callback]]


def pick_device(name: str) -> torch.device:
    """``auto`` -> CUDA when PyTorch sees a GPU, else the CPU; a bad name is a UserError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name!r} asked for, but PyTorch sees no CUDA GPU here")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"bad device {name!r}") from None


def _silent(*args: Any, **kwargs: Any) -> None:
    """``echo`` of the processes other than the main one."""


def eager_start(cfg: Config) -> None:
    """``gankit train``'s start-up before the run: unless it compiles, PyTorch's optimisers
    skip importing torch's compiler (about 1-2 s; :mod:`gankit.speed.lazy_imports`). Only
    the CLI calls this: it changes PyTorch's Optimizer for the whole process."""
    if not (cfg.train.compile or cfg.train.cuda_graphs):
        speed.skip_compiler_import()


def fixed_threads(threads: int):
    """A ``with`` block in which PyTorch runs on ``threads`` threads, the count before it
    restored afterwards: for work outside a run that must not depend on the thread count
    (the extractors train on one thread for bit-reproducible weights). The speed machinery
    owns the count; this is its door for such callers."""
    return speed.fixed_threads(threads)


def available_cpus() -> int:
    """The CPUs this process may run on (``gankit train --nproc`` shares them out)."""
    return speed.available_cpus()


@dataclass
class Session:
    """What every attempt of one run shares: the config (a rollback lowers its rates), the
    run directory, how to build the kind, the callers' callback factories, where messages
    go, the stop signal and the distributed context."""

    cfg: Config
    run_dir: Path
    kind: TrainingKind
    ctx: distributed.Context
    stop: GracefulStop
    resume: bool = False
    progress: bool = True
    echo: Callable[[str], None] = print
    factories: list[CallbackFactory] = field(default_factory=list)


def drive(cfg: Config, run_dir: str | Path, *, resume: bool = False, progress: bool = True,
          echo: Callable[[str], None] = print, kind: TrainingKind | None = None,
          callbacks: Iterable[CallbackFactory] = ()) -> Path:
    """Train per ``cfg`` into ``run_dir`` and return it.

    ``kind``: the setup of the run's training kind (default: the one ``cfg`` is, from the
    kinds' table). ``resume=True`` continues from the newest good checkpoint with the run's
    saved model and data config (budgets and rates from ``cfg`` apply). Under ``torchrun``
    every process calls this; rank 0 alone prints and writes
    (:mod:`gankit.training.distributed`).
    """
    ctx = distributed.start(pick_device(cfg.train.device))
    if not ctx.is_main:
        progress, echo = False, _silent
    try:
        with GracefulStop() as stop:
            session = Session(cfg, Path(run_dir), kind or setup_for(cfg), ctx, stop,
                              resume=resume, progress=progress, echo=echo,
                              factories=list(callbacks))
            result = _with_retries(session)
        ctx.barrier()  # rank 0 has written everything: leave the process group together
        return result
    finally:
        ctx.close()


def _with_retries(session: Session) -> Path:
    """Attempts until one ends normally: each divergence rolls back to the last good
    checkpoint with the learning rates times ``train.divergence_lr_factor``."""
    retries = session.cfg.train.divergence_retries
    for attempt in range(retries + 1):
        try:
            return _attempt(session)
        except OSError as exc:
            # A full disk or a folder turned read-only: checkpoints are written atomically,
            # so the last good one is intact.
            raise UserError(f"cannot write to {session.run_dir}: {exc.strerror or exc}; the "
                            f"last good checkpoint is kept - fix that, then continue with: "
                            f"gankit train --resume {session.run_dir}") from None
        except Diverged as diverged:
            if attempt == retries:
                raise UserError(f"training diverged (non-finite values at step "
                                f"{diverged.step}) after {attempt} rollbacks; lower the "
                                f"learning rates or change the loss") from None
            _roll_back(session, diverged.step)
    raise AssertionError("unreachable")


def _roll_back(session: Session, step: int) -> None:
    """The next attempt resumes from the last good checkpoint at lower learning rates."""
    cfg, factor = session.cfg, session.cfg.train.divergence_lr_factor
    session.cfg = replace(cfg, optim=replace(cfg.optim, lr_g=cfg.optim.lr_g * factor,
                                             lr_d=cfg.optim.lr_d * factor))
    session.resume = True
    session.echo(f"warning: non-finite values at step {step}; rolling back to the last "
                 f"checkpoint with learning rates x{factor} (lr_g={session.cfg.optim.lr_g:.3g}, "
                 f"lr_d={session.cfg.optim.lr_d:.3g})")


def config_with_provenance(cfg: Config, provenance: dict[str, Any]) -> str:
    """config.json's text: the config, and under ``provenance`` the gankit and PyTorch
    versions and what the run's kind chose on this machine (``Setup.provenance``, e.g. the
    calibrated step). Readers of the config ignore the provenance."""
    record = {**cfg.to_dict(), "provenance": {"gankit_version": __version__,
                                              "torch_version": torch.__version__,
                                              **provenance}}
    return json.dumps(record, indent=2)


def _open_run_dir(session: Session) -> dict | None:
    """The checkpoint to resume from (None for a new run), after the checks that no earlier
    work is overwritten and that a resumed run keeps its model and data."""
    cfg, run_dir, ctx = session.cfg, session.run_dir, session.ctx
    saved = None
    if session.resume:
        saved = latest_checkpoint(run_dir, "cpu", warn=session.echo)
        saved_cfg = from_dict(json.loads(saved["config"]))
        for section in ("model", "data"):
            if getattr(saved_cfg, section) != getattr(cfg, section):
                raise UserError(f"{run_dir} was trained with a different {section} config; "
                                f"resume without changing {section}.* or use a new --out")
    else:
        refuse_existing_run(run_dir)
    try:
        if ctx.is_main:
            (run_dir / "samples").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot write to {run_dir}: {exc.strerror or exc}") from None
    ctx.barrier()  # every rank has looked for earlier work before rank 0 writes any
    return saved


def standard_callbacks(cfg: Config, setup: Setup, run_dir: Path, ctx, progress: bool,
                       resumed_at: int | None) -> tuple[list[Callback], list[Callback]]:
    """(callbacks before the kind's and the caller's, callbacks after them). Only the main
    process writes; every process takes part in what all-reduces or checks."""
    t, main = cfg.train, ctx.is_main
    head: list[Callback] = []
    if ctx.device.type == "cpu":  # a finite check per step costs nothing on the CPU
        head.append(DivergenceGuard(ctx.any))
    head.append(LogCollector(t.log_every, ctx.mean, ctx.any))
    if main:
        head.append(JsonlLog(run_dir / "log.jsonl", resumed_at))
        if t.tensorboard:
            head.append(TensorBoard(run_dir / "tensorboard"))
        if progress:
            head.append(ProgressBar(setup.budget.total_steps))
    head.append(EpochLine(t.print_every_epochs, setup.total_epochs))
    tail: list[Callback] = []
    if main:
        tail.append(SamplePictures(run_dir / "samples", t.sample_every, setup.draw))
    tail.append(Checkpoints(run_dir, t.checkpoint_every, t.keep_checkpoints,
                            header=lambda: {"version": __version__, "config": cfg.to_json(),
                                            **setup.header},
                            write=main, new_run=resumed_at is None,
                            mean=ctx.mean if ctx.enabled else None))
    if main:
        tail.append(LossPlot(run_dir))
    return head, tail


def _tuned(session: Session) -> speed.Tuned:
    """The attempt's setup, built by the kind through the speed machinery's one hook: it
    resolves the precision, runs the kind, sets the threads, and may give back a faster step
    than the kind's general one and the thread governor (see :mod:`gankit.speed.hook`)."""
    ctx, kind, echo = session.ctx, session.kind, session.echo

    def build(resolved: Config) -> speed.Built:
        setup = kind(resolved, ctx, echo)
        entries = [setup.state.get(name) for name in setup.state.names()]
        return speed.Built(setup, setup.strategy, setup.tunable,
                           [e for e in entries if isinstance(e, torch.optim.Optimizer)])

    return speed.tune(speed.Session(session.cfg, ctx.device, ctx.world_size, ctx.is_main,
                                    echo, build))


def _restored(session: Session, setup: Setup, saved: dict | None) -> None:
    """The checkpoint's state in ``setup`` (its random streams come last, in _attempt)."""
    if saved is None:
        return
    setup.state.load_state_dict(saved, rng=False)
    set_learning_rates(setup.learning_rates)  # the config's win (rollbacks lower them)
    counters = setup.state.counters
    session.echo(f"resuming {session.run_dir} at step {counters.step} "
                 f"(epoch {counters.epoch + 1})")


def _trainer(session: Session, tuned: speed.Tuned, saved: dict | None) -> Trainer:
    """The trainer of one attempt: the setup restored, every callback in order."""
    cfg, ctx, setup = session.cfg, session.ctx, tuned.setup
    window = StatsWindow()
    setup.state.register("stats_window", window, optional=True)
    _restored(session, setup, saved)
    head, tail = standard_callbacks(cfg, setup, session.run_dir, ctx, session.progress,
                                    setup.state.counters.step if saved is not None else None)
    head = tuned.callbacks + head  # the thread governor adds its count to every log record
    extra = [cb for factory in session.factories for cb in factory(setup, cfg, ctx)]
    if saved is not None:  # last: building the callbacks may have drawn random numbers
        setup.state.restore_rng(saved)
    ctx.sync_rng()  # all ranks draw the same global z from here on
    return Trainer(setup.state, setup.strategy, setup.batches,
                   head + setup.callbacks + extra + tail, setup.budget,
                   processes=ctx.world_size, agree=ctx.any,
                   agree_every=10 if ctx.enabled and ctx.device.type == "cuda" else 1,
                   stop_signal=session.stop, say=session.echo, stats=window)


def _attempt(session: Session) -> Path:
    """One attempt: open the run directory, build and tune, write config.json (once, with
    what was chosen on this machine), restore, train, summarise."""
    run_dir, echo = session.run_dir, session.echo
    saved = _open_run_dir(session)
    tuned = _tuned(session)
    setup = tuned.setup
    setup.strategy, setup.run_dir = tuned.step, run_dir
    setup.provenance = {**setup.provenance, **tuned.provenance}
    if session.ctx.is_main:
        atomic_write_text(run_dir / "config.json",
                          config_with_provenance(session.cfg, setup.provenance))
    trainer = _trainer(session, tuned, saved)
    started = time.monotonic()
    trainer.fit()
    counters = setup.state.counters
    echo(f"trained {counters.step} steps ({counters.images_seen / 1000:.1f} kimg) in "
         f"{time.monotonic() - started:.0f} s; samples: {trainer.outputs.get('samples')}; "
         f"checkpoint: {trainer.outputs.get('checkpoint')}")
    if session.stop.requested:
        echo(f"stopped by {session.stop.signal_name} at step {counters.step}; continue with: "
             f"gankit train --resume {run_dir}")
    return run_dir
