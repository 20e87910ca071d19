"""Training kinds: what a kind of GAN training builds, and what the trainer needs of it.

A kind (noise-to-image in :mod:`gankit.training.generation`; image translation next) is a
function ``setup(cfg, ctx, echo) -> Setup``. The driver (:mod:`gankit.training.run`) does
the rest the same way for every kind: the run directory, resuming, the standard callbacks,
divergence rollbacks and signals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import torch
from torch import nn

from gankit.training.state import TrainingState
from gankit.training.trainer import Batches, Budget, Callback, StepStrategy


@dataclass
class Setup:
    """One session of a run, built from its config.

    ``header``: what every checkpoint carries besides the state, the gankit version and the
    config (e.g. the image shape);
    ``draw(path, step)`` writes the fixed-noise sample picture; ``learning_rates`` pairs each
    optimiser with the config's rate (the config wins over a checkpoint's on resume, so that
    a rollback can lower it); ``evaluated()`` is the network the monitors score; ``data`` is
    the training set they compare with; ``callbacks`` are the kind's own.
    """

    state: TrainingState
    strategy: StepStrategy
    batches: Batches
    budget: Budget
    header: dict[str, Any]
    draw: Callable[[Path, int], Path]
    learning_rates: list[tuple[torch.optim.Optimizer, float]] = field(default_factory=list)
    evaluated: Callable[[], nn.Module] | None = None
    data: Any = None
    total_epochs: int = 0
    callbacks: list[Callback] = field(default_factory=list)
    run_dir: Path | None = None  # set by the driver
    # what config.json records beside the config (e.g. the calibration's choice)
    provenance: dict[str, Any] = field(default_factory=dict)
    # train.threads=0's count before the calibration's choice (0: unknown or not automatic);
    # the thread governor keeps a halved count as its ceiling
    auto_threads: int = 0


class TrainingKind(Protocol):
    def __call__(self, cfg: Any, ctx: Any, echo: Callable[[str], None]) -> Setup: ...
