"""Threads that follow the machine's load during a run (``train.threads=0`` on the CPU).

A run picks its thread count at start (:func:`~gankit.speed.threads.auto_threads`: the CPUs
minus those busy now; then the calibration may keep it or halve it). A CPU-heavy process
started later oversubscribes the cores: the OpenMP threads of both jobs wait at every
barrier for a thread the scheduler has preempted. On 2 cores a second 2-thread PyTorch job
cut the default preset to 23 % of its solo images/s, where a fair share is 50 %.

:class:`ThreadGovernor` re-checks every :data:`CHECK_SECONDS` at the end of a step. It reads
the machine's CPU time (/proc/stat) and this process's own (``time.process_time``). The
CPUs *other* processes kept busy over the interval are then all busy CPUs minus this
process's use. The count it asks for is the CPUs left free, rounded, between 1 and the
ceiling. A change needs :data:`AGREE` consecutive checks asking for the same count,
and a free-CPU figure at least :data:`BAND` from the rounding boundary, so one noisy
reading never changes it. It costs one clock read per step and two small file reads per check.

The ceiling is the count an idle machine gets: the available CPUs, capped by PyTorch's own
default (``OMP_NUM_THREADS``). If the calibration halved the automatic count (the networks
ran faster on half), the ceiling is the count the run started with. Only the thread count
changes: the maths is the same, up to float32 rounding.

The governor is one of the trainer's callbacks (the driver puts it before the log writers);
it has their methods without importing the training layer.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

import torch

from gankit.speed import threads as thread_count

# Seconds between two checks (tests shrink it); a change takes AGREE checks in a row.
CHECK_SECONDS = 3.0
AGREE = 2
# The free-CPU figure must be this far past the rounding boundary between the current
# count and the next one (0.5 + BAND from the current count) to ask for a change.
BAND = 0.25


def applies(cfg, device: torch.device, world_size: int) -> bool:
    """Whether a run's thread count is governed: automatic threads (``train.threads=0``),
    on the CPU, not deterministic (its count stays PyTorch's), one process."""
    t = cfg.train
    return (t.threads == 0 and device.type == "cpu" and not t.deterministic
            and world_size == 1)


def ceiling(start: int, auto_start: int = 0, cpus: int | None = None,
            default: int | None = None) -> int:
    """The most threads a run may use: ``cpus`` (default: the available CPUs) capped by
    PyTorch's ``default`` count (:func:`~gankit.speed.threads.default_threads`), but never
    below ``start``; ``start`` itself when the calibration halved the automatic count
    ``auto_start``."""
    if auto_start and start < auto_start:
        return start
    cpus = thread_count.available_cpus() if cpus is None else cpus
    default = thread_count.default_threads() if default is None else default
    return max(1, min(cpus, max(default, start)))


class ThreadGovernor:
    """Lowers or raises the thread count while a run trains, following the CPUs other
    processes keep busy (see the module's text).

    ``start``: the count in use at start; ``most``: the ceiling (:func:`ceiling`);
    ``machine()`` -> (all, idle) CPU ticks since boot, summed over ``machine_cpus`` CPUs;
    ``own()`` -> this process's CPU seconds; ``clock()`` -> wall seconds; ``set_threads``
    applies a count. Every reader is injectable for tests. ``changes`` lists
    ``(step, old, new, other_cpus)``; each log record gets ``threads``, the count in use.
    """

    def __init__(self, start: int, most: int, *, cpus: int | None = None,
                 machine: Callable[[], tuple[int, int]] = thread_count.cpu_times,
                 own: Callable[[], float] = time.process_time,
                 clock: Callable[[], float] = time.monotonic,
                 set_threads: Callable[[int], Any] = thread_count.set_count,
                 machine_cpus: int | None = None, every: float | None = None):
        self.start = self.threads = max(1, start)
        self.most = max(1, most)
        self.cpus = thread_count.available_cpus() if cpus is None else cpus
        self.machine, self.own, self.clock, self.apply = machine, own, clock, set_threads
        self.machine_cpus = machine_cpus or os.cpu_count() or 1
        self.every = CHECK_SECONDS if every is None else every
        self.last: tuple[float, int, int, float] | None = None  # (wall, all, idle, own)
        self.next_check = 0.0
        self.wanted: int | None = None  # the count the last check asked for
        self.agreeing = 0
        self.changes: list[tuple[int, int, int, float]] = []

    # --- the measurement ----------------------------------------------------------------
    def read(self) -> tuple[float, int, int, float] | None:
        """(wall seconds, all ticks, idle ticks, own CPU seconds), or None off Linux."""
        try:
            total, idle = self.machine()
        except (OSError, ValueError):
            return None
        return self.clock(), total, idle, self.own()

    def other_cpus(self, before, after) -> float | None:
        """CPUs that other processes kept busy between two readings (None: no time)."""
        return thread_count.other_cpus(before, after, self.machine_cpus)

    def proposal(self, other: float) -> int | None:
        """The count to ask for when others keep ``other`` CPUs busy; None: keep it."""
        free = self.cpus - other
        wanted = max(1, min(self.most, int(free + 0.5)))
        if wanted == self.threads or abs(free - self.threads) < 0.5 + BAND:
            return None
        return wanted

    def check(self, trainer=None) -> None:
        """One check: measure, vote, and apply a count that :data:`AGREE` checks agree on."""
        now = self.read()
        if now is None or self.last is None:
            self.last = now
            return
        other = self.other_cpus(self.last, now)
        self.last = now
        if other is None:
            return
        wanted = self.proposal(other)
        self.agreeing = self.agreeing + 1 if wanted is not None and wanted == self.wanted else 1
        self.wanted = wanted
        if wanted is None or self.agreeing < AGREE:
            return
        old, self.threads = self.threads, wanted
        self.apply(wanted)
        self.wanted, self.agreeing = None, 0
        step = trainer.state.counters.step if trainer is not None else -1
        self.changes.append((step, old, wanted, round(other, 2)))
        if trainer is not None:
            trainer.say(f"threads: {old} -> {wanted} at step {step} (other processes kept "
                        f"{other:.1f} of {self.cpus} CPUs busy)")

    # --- the trainer's events (gankit.training.trainer.Callback's methods) ----------------
    def __enter__(self) -> "ThreadGovernor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def on_start(self, trainer) -> None:
        self.last = self.read()
        self.next_check = self.clock() + self.every

    def on_step_end(self, trainer) -> None:
        if self.clock() >= self.next_check:
            self.check(trainer)
            self.next_check = self.clock() + self.every

    def on_log(self, trainer, record: dict[str, Any]) -> None:
        record["threads"] = self.threads  # written by JsonlLog, which comes after

    def close(self) -> None:
        """Put back the count the run started with (the process may train again)."""
        if self.threads != self.start:
            self.apply(self.start)
            self.threads = self.start


def for_run(start: int, auto_start: int = 0) -> ThreadGovernor:
    """The governor of a run that starts on ``start`` threads, ``auto_start`` being the
    automatic count before the calibration (0: not known, taken as ``start``)."""
    return ThreadGovernor(start, ceiling(start, auto_start))
