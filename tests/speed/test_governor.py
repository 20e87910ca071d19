"""The thread governor: an automatic thread count follows the other processes' CPU use.

Fake readers stand for /proc/stat and this process's CPU time: each check advances the
clock one second, and ``other`` CPUs of a 2-CPU machine are busy besides this process's
own ``mine``.
"""

from __future__ import annotations

import itertools
import json

import pytest
import torch

from gankit.config import resolve
from gankit.speed import governor as thread_governor, speed_on
from gankit.speed.governor import ThreadGovernor


class FakeMachine:
    """/proc/stat, this process's CPU time and the clock of a machine of ``cpus`` CPUs on
    which this process keeps ``mine`` CPUs busy and others ``other`` (100 ticks a CPU-second)."""

    def __init__(self, cpus: int = 2):
        self.cpus, self.wall, self.all, self.idle, self.cpu = cpus, 0.0, 0, 0, 0.0
        self.mine, self.other = 2.0, 0.0

    def advance(self, seconds: float = 1.0) -> None:
        busy = min(self.cpus, self.mine + self.other)
        self.wall += seconds
        self.all += round(self.cpus * seconds * 100)
        self.idle += round((self.cpus - busy) * seconds * 100)
        self.cpu += self.mine * seconds

    def governor(self, start: int = 2, most: int = 2) -> ThreadGovernor:
        self.applied: list[int] = []
        governor = ThreadGovernor(start, most, cpus=self.cpus,
                                  machine=lambda: (self.all, self.idle), own=lambda: self.cpu,
                                  clock=lambda: self.wall, set_threads=self.applied.append,
                                  machine_cpus=self.cpus, every=1.0)
        governor.check()  # the first reading: a baseline
        return governor

    def checks(self, governor: ThreadGovernor, others: list[float],
               mine: float | None = None) -> list[int]:
        """The count after each check, with ``others`` busy over each interval and this
        process using ``mine`` CPUs (default: as many as it has threads, within what the
        others leave it, and at least half the machine when the others want it all)."""
        counts = []
        for other in others:
            self.other = other
            self.mine = (min(governor.threads, max(self.cpus - other, self.cpus / 2))
                         if mine is None else mine)
            self.advance()
            governor.check()
            counts.append(governor.threads)
        return counts


def test_lowers_the_count_when_another_process_takes_the_cores():
    machine = FakeMachine()
    governor = machine.governor()
    assert machine.checks(governor, [0.0, 0.0, 1.0, 1.0, 1.0]) == [2, 2, 2, 1, 1]
    assert machine.applied == [1]
    assert governor.changes[0][1:3] == (2, 1)


def test_raises_it_again_when_the_other_process_ends():
    machine = FakeMachine()
    governor = machine.governor()
    counts = machine.checks(governor, [1.0, 1.0, 1.3, 1.3, 0.0, 0.0, 0.0])
    assert counts == [2, 1, 1, 1, 1, 2, 2]
    assert machine.applied == [1, 2]


def test_one_noisy_reading_changes_nothing():
    machine = FakeMachine()
    governor = machine.governor()
    assert machine.checks(governor, [0.0, 1.5, 0.0, 1.5, 0.0, 2.0, 0.1]) == [2] * 7
    assert machine.applied == []
    governor = machine.governor(start=1)
    assert machine.checks(governor, [1.2, 0.0, 1.2, 0.0, 1.1]) == [1] * 5
    assert machine.applied == []


def test_a_reading_near_the_rounding_boundary_changes_nothing():
    """Others at 0.5-0.7 CPUs of 2 leave 1.3-1.5 free: neither clearly 1 nor clearly 2."""
    machine = FakeMachine()
    governor = machine.governor()
    assert machine.checks(governor, [0.6] * 5) == [2] * 5
    governor = machine.governor(start=1)
    assert machine.checks(governor, [0.6] * 5) == [1] * 5


def test_never_below_one_nor_above_the_ceiling():
    machine = FakeMachine(cpus=4)
    governor = machine.governor(start=4, most=4)
    # others keep every CPU busy (this process all but idle): still 1 thread
    assert machine.checks(governor, [4.0] * 4, mine=0.0)[-1] == 1
    assert machine.checks(governor, [0.0] * 4)[-1] == 4  # idle: the ceiling, not more
    governor = machine.governor(start=2, most=2)  # e.g. the calibration halved 4
    assert machine.checks(governor, [0.0] * 4) == [2] * 4
    assert machine.checks(governor, [3.0] * 4, mine=0.0)[-1] == 1
    assert all(1 <= n <= 4 for n in machine.applied)


def test_the_ceiling():
    assert thread_governor.ceiling(2, cpus=2, default=2) == 2
    assert thread_governor.ceiling(1, cpus=2, default=2) == 2  # started on a busy machine
    assert thread_governor.ceiling(1, auto_start=2, cpus=2, default=2) == 1  # halved
    assert thread_governor.ceiling(1, cpus=8, default=4) == 4  # PyTorch's / OMP_NUM_THREADS
    assert thread_governor.ceiling(1, cpus=1, default=4) == 1


def test_unreadable_cpu_times_change_nothing():
    def unreadable():
        raise OSError("no /proc here")

    applied = []
    governor = ThreadGovernor(2, 2, cpus=2, machine=unreadable, set_threads=applied.append,
                              every=0.0)
    for _ in range(5):
        governor.check()
    assert governor.threads == 2 and applied == []


def test_close_puts_back_the_starting_count():
    machine = FakeMachine()
    governor = machine.governor()
    machine.checks(governor, [1.0, 1.0])
    assert governor.threads == 1
    governor.close()
    assert machine.applied == [1, 2] and governor.threads == 2


@pytest.mark.parametrize("overrides, device, world, governed", [
    ({}, "cpu", 1, True),
    ({"train.threads": 2}, "cpu", 1, False),
    ({"train.deterministic": True}, "cpu", 1, False),
    ({}, "cuda", 1, False),
    ({}, "cpu", 2, False)])
def test_applies_only_to_automatic_threads_on_one_cpu_process(overrides, device, world,
                                                               governed):
    cfg = resolve("seed-mlp", overrides=overrides)
    assert thread_governor.applies(cfg, torch.device(device), world) is governed


# --- in a real run ---------------------------------------------------------------------------

TINY = {"train.steps": 6, "train.epochs": 0, "train.log_every": 2, "train.tensorboard": False,
        "model.g_hidden": "16", "model.d_hidden": "16", "train.grid_size": 4,
        "train.batch_size": 8, "train.sample_every": 0}


def _run(tmp_path, monkeypatch, threads: int):
    """A tiny seed-mlp run whose governor (if any) checks after every step and reads a
    2-CPU machine that other processes keep fully busy; returns (governors made, log
    records, printed lines). The counts it applies are recorded, not applied."""
    from gankit.apps.train import run_training

    made, build = [], thread_governor.for_run

    def for_run(start, auto_start=0):
        governor = build(start, auto_start)
        ticks, seconds = itertools.count(0, 200), itertools.count()
        governor.every, governor.cpus, governor.machine_cpus = 0.0, 2, 2
        governor.machine = lambda: (next(ticks), 0)  # nothing idle
        governor.clock, governor.own = seconds.__next__, lambda: 0.0  # this process: idle
        governor.start = governor.threads = governor.most = 2  # as if started on 2
        governor.applied = []
        governor.apply = governor.applied.append
        made.append(governor)
        return governor

    monkeypatch.setattr(thread_governor, "for_run", for_run)
    cfg = resolve("seed-mlp", overrides={**TINY, "train.threads": threads})
    lines = []
    run_dir = run_training(cfg, tmp_path / "run", progress=False, echo=lines.append)
    records = [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines()]
    return made, records, lines


@pytest.mark.skipif(not speed_on(), reason="GANKIT_SPEED=0: automatic threads are PyTorch's")
def test_an_automatic_run_is_governed(tmp_path, monkeypatch):
    made, records, lines = _run(tmp_path, monkeypatch, threads=0)
    assert len(made) == 1
    assert [r["threads"] for r in records if "loss_d" in r][-1] == 1
    assert any(line.startswith("threads: 2 -> 1 at step") for line in lines), lines
    assert made[0].applied == [1, 2]  # lowered, then put back by close()


def test_a_run_with_a_fixed_count_is_not(tmp_path, monkeypatch):
    made, records, lines = _run(tmp_path, monkeypatch, threads=1)
    assert made == [] and not any("threads" in r for r in records)
    assert not any(line.startswith("threads:") for line in lines)
