"""``gankit train``: a training run of the kind its config is (noise-to-image, image
translation, or any registered kind), with that kind's monitors.

The training layer runs any kind of training; the monitors (FID, mode counts, targets,
the collapse probe) belong to the evaluation layer above it, so the two meet here. Both
come from the kinds' tables (:mod:`gankit.config.kinds`): the setup of the config's kind
(:func:`gankit.training.kinds.setup_for`) and its monitors
(:func:`gankit.evaluation.kinds.monitors`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from gankit.config import Config
from gankit.evaluation.kinds import monitors
from gankit.training import driver
from gankit.training.driver import CallbackFactory


def run_training(cfg: Config, run_dir: str | Path, *, resume: bool = False,
                 progress: bool = True, echo: Callable[[str], None] = print,
                 callbacks: Iterable[CallbackFactory] = ()) -> Path:
    """Train per ``cfg`` into ``run_dir`` (see :func:`gankit.training.driver.drive`) with the
    monitors of its kind and any further ``callbacks`` factories; return the run
    directory."""
    return driver.drive(cfg, run_dir, resume=resume, progress=progress, echo=echo,
                        callbacks=[monitors, *callbacks])
