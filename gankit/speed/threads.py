"""The one owner of PyTorch's intra-op thread count: nothing else in gankit calls
``torch.set_num_threads`` (``tests/test_layout.py`` checks it).

- :func:`threads_for_run`: a run's ``train.threads`` (a named count, or 0: the CPUs that are
  not busy with other work now, measured over the load window);
- :func:`set_count`: the calibration's and the thread governor's changes;
- :func:`fixed_threads`: a block on a fixed count, restored afterwards (the extractors train
  on one thread for bit-reproducible weights; they ask through the driver).
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Iterator

import torch

# PyTorch's own intra-op thread count when gankit was imported (one per physical core,
# or OMP_NUM_THREADS): what an automatic count may rise to again after set_count lowered it.
_DEFAULT_THREADS = torch.get_num_threads()


def default_threads() -> int:
    """PyTorch's thread count before gankit set any (see :data:`_DEFAULT_THREADS`)."""
    return _DEFAULT_THREADS


def set_count(threads: int) -> int:
    """PyTorch's intra-op threads to ``threads`` (at least 1); returns it."""
    threads = max(1, int(threads))
    if threads != torch.get_num_threads():
        torch.set_num_threads(threads)
    return threads


@contextlib.contextmanager
def fixed_threads(threads: int) -> Iterator[int]:
    """PyTorch on ``threads`` threads inside the block, the count before it afterwards."""
    before = torch.get_num_threads()
    try:
        yield set_count(threads)
    finally:
        set_count(before)


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_times() -> tuple[int, int]:
    """(all, idle) CPU time in clock ticks since boot, summed over the machine's CPUs (Linux's
    /proc/stat; raises OSError elsewhere)."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    if not fields or fields[0] != "cpu":
        raise OSError("unexpected /proc/stat")
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    ticks = [int(value) for value in fields[1:9]]
    return sum(ticks), ticks[3] + ticks[4]


def load_reading() -> tuple[float, int, int, float]:
    """(wall seconds, all CPU ticks, idle ticks, this process's CPU seconds) now (Linux;
    raises OSError elsewhere)."""
    total, idle = cpu_times()
    return time.monotonic(), total, idle, time.process_time()


def other_cpus(before, after, machine_cpus: int) -> float | None:
    """CPUs that *other* processes kept busy between two readings of :func:`load_reading`:
    all busy CPUs minus this process's own use. None when no time passed."""
    wall, total, idle = after[0] - before[0], after[1] - before[1], after[2] - before[2]
    if wall <= 0 or total <= 0:
        return None
    busy = (1 - idle / total) * machine_cpus
    mine = (after[3] - before[3]) / wall
    return max(0.0, busy - mine)


# A reading taken by open_load_window(), which the next busy_cpus() measures from.
_opened: tuple[float, int, int, float] | None = None
# An opened window older than this is not used (the load it saw may be over).
_OPENED_MAX_AGE = 5.0


def open_load_window() -> None:
    """Start :func:`busy_cpus`' window now: a run opens it before loading its data and
    building its networks, so that work (which the measurement subtracts as this process's
    own) fills the window instead of a sleep (up to 0.2 s of start-up saved)."""
    global _opened
    try:
        _opened = load_reading()
    except (OSError, ValueError):
        _opened = None


def busy_cpus(window: float = 0.2) -> float:
    """How many CPUs other work keeps busy now: the non-idle share of CPU time over a
    ``window`` of seconds times the CPU count, minus this process's own use (Linux), else
    the 1-minute load average. The window starts at :func:`open_load_window` when that was
    called in the last few seconds, otherwise now.

    The load average lags by a minute: right after another training run ends it still
    counts that run's cores as busy, so a job started then would leave a core idle.
    """
    global _opened
    opened, _opened = _opened, None
    try:
        fresh = opened is not None and time.monotonic() - opened[0] <= _OPENED_MAX_AGE
        before = opened if fresh else load_reading()
        left = window - (time.monotonic() - before[0])
        if left > 0:
            time.sleep(left)
        other = other_cpus(before, load_reading(), os.cpu_count() or 1)
        if other is not None:
            return other
    except (OSError, ValueError):
        pass
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def auto_threads() -> int:
    """The CPUs this process may use minus those busy with other work now, at least 1.

    PyTorch's default is one thread per core. On a machine whose cores are busy with other
    work its OpenMP threads wait for each other at every barrier, and a step can take
    several times longer than with fewer threads.
    """
    cpus = available_cpus()
    limit = min(cpus, torch.get_num_threads())
    if limit <= 1:  # nothing to choose: skip the 0.2 s measurement
        return 1
    return max(1, min(limit, round(cpus - busy_cpus())))


def set_threads(threads: int) -> int:
    """Set PyTorch's intra-op threads (0: :func:`auto_threads`); return the number used."""
    return set_count(threads or auto_threads())


def threads_for_run(threads: int, device: torch.device, deterministic: bool,
                    follow: bool = True) -> int:
    """Apply a run's ``train.threads`` (the driver's hook does, for every kind of run): a
    named count always; 0 (auto) on the CPU follows the machine's load, except in a
    deterministic run, which keeps PyTorch's own count, and with ``follow`` False (the
    machinery off: PyTorch's count). Returns the count in use. During the run
    :mod:`gankit.speed.governor` keeps an automatic count following the load."""
    if threads or (follow and device.type == "cpu" and not deterministic):
        return set_threads(threads)
    return torch.get_num_threads()
