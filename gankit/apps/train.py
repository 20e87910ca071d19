"""``gankit train``: a training run of the kind its config asks for (noise-to-image or
image translation), with the quality monitors.

The training layer runs any kind of training; the monitors (FID, mode counts, targets,
the collapse probe) belong to the evaluation layer above it, so the two meet here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from gankit.config import Config
from gankit.evaluation.monitor import monitors
from gankit.training import generation, run, translation
from gankit.training.run import CallbackFactory


def train(cfg: Config, run_dir: str | Path, resume: bool = False, progress: bool = True,
          echo: Callable[[str], None] = print,
          callbacks: Iterable[CallbackFactory] = ()) -> Path:
    """Train per ``cfg`` into ``run_dir`` (see :func:`gankit.training.run.train`) with the
    quality monitors and any further ``callbacks`` factories; return the run directory."""
    kind = translation.setup if cfg.translates else generation.setup
    return run.train(cfg, run_dir, resume=resume, progress=progress, echo=echo, kind=kind,
                     callbacks=[monitors, *callbacks])
