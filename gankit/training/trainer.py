"""``Trainer``: the tutorial's §4 loop, for every kind of GAN training in gankit.

Pick a real batch, train D, train G (the step strategy), repeat until the budget is spent;
everything around it (logs, grids, checkpoints, quality checks, divergence, pruning) is a
:class:`Callback` on a named event:

========== ==================================================================
event      when
========== ==================================================================
start      before the first step of this session (after a resume: of the rest)
step_end   after every update; ``trainer.step_stats`` holds its statistics
epoch_end  after the last batch of an epoch
log        the interval's mean statistics were collected (``record``: a dict)
eval       a monitor scored the generator (``scores``: a dict)
picture    a sample picture was written (``path``)
checkpoint a checkpoint was written (``path``)
end        the budget is spent or a stop was asked for; not after an exception
========== ==================================================================

Callbacks are context managers: the trainer enters each one before the first step and
exits all of them however the run ends (budget, target, signal, divergence, pruning,
exception), so files, writers and progress bars are closed every time.
"""

from __future__ import annotations

import math
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol

import torch

from gankit.training.state import TrainingState
from gankit.training.stats import StatsWindow

EVENTS = ("start", "step_end", "epoch_end", "log", "eval", "picture", "checkpoint", "end")


class Callback:
    """Base class: override ``on_<event>(trainer, **info)`` for the events you need and
    ``close()`` for what must be released whatever happens."""

    def __enter__(self) -> "Callback":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release files, writers, bars; called once however the run ends."""


class Batches(Protocol):
    """Data for the loop: ``len()`` batches an epoch, ``epoch(e, start)`` yields them."""

    def __len__(self) -> int: ...

    def epoch(self, epoch: int, start: int = 0) -> Iterable[Any]: ...


class StepStrategy(Protocol):
    """One training update on one batch (D, then G when its phase is due)."""

    name: str

    def __call__(self, state: TrainingState, batch: Any) -> dict[str, torch.Tensor]: ...

    def batch_images(self, batch: Any) -> int: ...


@dataclass
class Budget:
    """When to stop: ``total_steps`` (0: none), ``minutes`` of this session (0: none)."""

    total_steps: int = 0
    minutes: float = 0.0
    deadline: float = field(init=False, default=math.inf)

    def start(self) -> None:
        self.deadline = time.monotonic() + self.minutes * 60 if self.minutes > 0 else math.inf

    def steps_spent(self, step: int) -> bool:
        return bool(self.total_steps) and step >= self.total_steps

    def time_spent(self) -> bool:
        return time.monotonic() >= self.deadline


def _single_process_any(flag: bool) -> bool:
    return flag


@dataclass
class Trainer:
    """Runs ``strategy`` over ``batches`` on ``state`` until ``budget`` is spent.

    ``agree(flag)`` is True on every process when any process says True (an all-reduce
    under torchrun), ``agree_every`` how often the stop flags are agreed on; ``stop_signal``
    (a :class:`~gankit.training.signals.GracefulStop`) asks for a graceful stop.
    """

    state: TrainingState
    strategy: StepStrategy
    batches: Batches
    callbacks: list[Callback]
    budget: Budget
    processes: int = 1  # each process trains on its share of every batch
    agree: Callable[[bool], bool] = _single_process_any
    agree_every: int = 1
    stop_signal: Any = None
    say: Callable[[str], None] = print  # messages; a progress bar routes them through it
    stats: StatsWindow = field(default_factory=StatsWindow)
    step_stats: dict[str, torch.Tensor] = field(default_factory=dict)  # this step's
    last_stats: dict[str, torch.Tensor] = field(default_factory=dict)  # latest of each name
    step_images: int = 0  # real images in this step, over all processes
    outputs: dict[str, Any] = field(default_factory=dict)  # e.g. final picture, checkpoint
    stop_reason: str = ""
    started: float = 0.0

    # --- events -----------------------------------------------------------------------
    def emit(self, event: str, **info: Any) -> None:
        """Call ``on_<event>(self, **info)`` on every callback that has it, in order."""
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}; events: {', '.join(EVENTS)}")
        for callback in self.callbacks:
            handler = getattr(callback, f"on_{event}", None)
            if handler is not None:
                handler(self, **info)

    def request_stop(self, reason: str) -> None:
        """Finish this step, then end the run normally (target reached, for example)."""
        self.stop_reason = self.stop_reason or reason

    @property
    def seconds(self) -> float:
        """Training time of the whole run so far, earlier sessions included."""
        return self.state.counters.seconds + time.monotonic() - self.started

    # --- the loop ---------------------------------------------------------------------
    def should_stop(self) -> bool:
        step = self.state.counters.step
        if self.budget.steps_spent(step):
            return True
        signalled = self.stop_signal is not None and self.stop_signal.requested
        wants = bool(self.stop_reason) or signalled or self.budget.time_spent()
        return step % self.agree_every == 0 and self.agree(wants)

    def fit(self) -> TrainingState:
        """Train until the budget is spent; callbacks are closed whatever happens."""
        counters = self.state.counters
        with ExitStack() as stack:
            for callback in self.callbacks:
                stack.enter_context(callback)
            self.started = time.monotonic()
            self.budget.start()
            self.emit("start")
            while not self.should_stop():
                for batch in self.batches.epoch(counters.epoch, start=counters.batch_in_epoch):
                    self.step_stats = self.strategy(self.state, batch)
                    self.last_stats.update(self.step_stats)
                    self.stats.add(self.step_stats)
                    self.step_images = self.strategy.batch_images(batch) * self.processes
                    counters.advance(self.step_images)
                    self.emit("step_end")
                    if self.should_stop():
                        break
                if counters.batch_in_epoch >= len(self.batches):
                    counters.end_epoch()
                    self.emit("epoch_end")
            self.emit("end")
        return self.state
