"""Training statistics: reported at every step, collected once per log interval.

A step reports its losses as 0-d device tensors; :class:`StatsWindow` adds them up where
they are (no device sync per step) and :meth:`StatsWindow.collect` returns each statistic's
mean over the steps that reported it since the last collection, so a logged loss or D(x)
describes the whole interval rather than its last batch (as stylegan2-ada's
``training_stats`` does). The window is part of the training state, so a run resumed
between two log lines logs the same means as one that never stopped.
"""

from __future__ import annotations

from typing import Any

import torch


class StatsWindow:
    """Running sums and counts of named 0-d tensors since the last :meth:`collect`."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, stats: dict[str, torch.Tensor]) -> None:
        """Add one step's statistics (detached 0-d tensors, any device)."""
        for name, value in stats.items():
            value = value.detach().float()
            total = self.sums.get(name)
            if total is None:
                self.sums[name], self.counts[name] = value.clone(), 1
                continue
            if total.device != value.device:  # a window restored from a checkpoint
                total = self.sums[name] = total.to(value.device)
            total.add_(value)
            self.counts[name] += 1

    def __bool__(self) -> bool:
        return bool(self.counts)

    def collect(self, reset: bool = True) -> dict[str, torch.Tensor]:
        """Each statistic's mean over the window (0-d tensors); the window starts anew
        unless ``reset`` is False (a session that stops mid-interval logs its last step,
        and the resumed run still logs the whole interval's mean)."""
        means = {name: total / self.counts[name] for name, total in self.sums.items()}
        if reset:
            self.sums, self.counts = {}, {}
        return means

    def average(self, mean) -> None:
        """Replace each process's sums by their mean over the processes (``mean``: an
        all-reduce, e.g. ``Context.mean``), so that a checkpoint holds the global window
        and a resume with another number of processes logs the same means."""
        self.sums = {k: v.clone() for k, v in mean(self.sums).items()}

    def state_dict(self) -> dict[str, Any]:
        return {"sums": {k: v.cpu() for k, v in self.sums.items()}, "counts": dict(self.counts)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sums = {k: v.clone() for k, v in state["sums"].items()}
        self.counts = {k: int(v) for k, v in state["counts"].items()}
