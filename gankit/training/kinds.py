"""Training kinds: what a kind of GAN training builds, and what the trainer needs of it.

A kind's training is a function ``setup(cfg, ctx, echo) -> Setup`` (noise-to-image in
:mod:`gankit.training.noise_to_image`, image translation in :mod:`gankit.training.translation`).
The driver (:mod:`gankit.training.driver`) does the rest the same way for every kind: the run
directory, resuming, the standard callbacks, divergence rollbacks and signals.

:data:`TRAINING` is the training layer's table of the kinds (see
:mod:`gankit.config.kinds`, which decides a config's kind): each kind's setup, its loader
and, for kinds whose runs serve ``gankit sample``, its sampler. :func:`setup_for` gives the
setup of a config's kind; it writes the kind's name into every checkpoint, from which
:func:`gankit.training.finished_run.load` picks the loader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import torch
from torch import nn

from gankit.config.kinds import KindTable, kind_of
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
    # what config.json records beside the config (the driver adds the speed machinery's
    # choice, e.g. the calibration's)
    provenance: dict[str, Any] = field(default_factory=dict)
    # what the speed machinery may tune, which the driver hands to gankit.speed.tune (the
    # noise-to-image kind's gankit.training.strategies.Tunable); None: the kind's step as
    # it is (the machinery still sets the thread count)
    tunable: Any = None


class TrainingKind(Protocol):
    def __call__(self, cfg: Any, ctx: Any, echo: Callable[[str], None]) -> Setup: ...


@dataclass(frozen=True)
class KindTraining:
    """A training kind's pieces in the training layer.

    ``setup(cfg, ctx, echo) -> Setup``: what a run builds before its first step;
    ``load(cfg, checkpoint, device, run_dir) -> run``: the finished run a checkpoint (a
    dict) holds, its networks in eval mode; the run has ``kind`` (the kind's name),
    ``config`` and ``step``; ``sample(run, n, *, seed, ema, truncation, classes,
    class_counts)``: n uint8 images (n, C, H, W) (or float points (n, 2)) from a run of
    a kind that serves ``gankit sample`` (such a run also has ``image_shape``).
    """

    setup: TrainingKind
    load: Callable[[Any, dict, torch.device, Path | None], Any]
    sample: Callable[..., torch.Tensor] | None = None


def _builtins() -> None:
    from gankit.training import finished_run, noise_to_image, translation

    TRAINING.register("generation", KindTraining(noise_to_image.setup, finished_run.load_generation,
                                                 finished_run.sample_generation))
    TRAINING.register("translation", KindTraining(translation.setup, translation.load_run))


TRAINING: KindTable[KindTraining] = KindTable("training", _builtins)


def setup_for(cfg: Any) -> TrainingKind:
    """The setup of ``cfg``'s kind, which also names the kind in every checkpoint's header
    (``"kind"``), so that a finished run loads with its kind's loader."""
    name = kind_of(cfg)
    build = TRAINING[name].setup

    def setup(cfg: Any, ctx: Any, echo: Callable[[str], None]) -> Setup:
        made = build(cfg, ctx, echo)
        made.header = {**made.header, "kind": name}
        return made

    return setup
