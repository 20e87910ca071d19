"""The Python API: ``train``, ``load``, ``sample``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from gankit.config import Config, resolve, validate
from gankit.config.options import api_keywords
from gankit.apps.sampling import Run, load
from gankit.apps.sampling import sample as _sample

# Short keyword names: those the schema declares for the options gankit train has flags for
# (batch_size, steps, data, ...; gankit.config.options); `lr` sets both learning rates;
# anything else is section__key.
SHORT_KEYS = api_keywords()


def keyword_overrides(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``epochs=1, optim__lr_g=1e-4`` -> ``{"train.epochs": 1, "optim.lr_g": 1e-4}``."""
    dotted: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key == "lr":
            dotted["optim.lr_g"] = dotted["optim.lr_d"] = value
        elif key in SHORT_KEYS:
            dotted[SHORT_KEYS[key]] = value
        else:
            dotted[key.replace("__", ".", 1)] = value
    return dotted


def train(config_or_preset: Config | str = "default", out: str | Path | None = None,
          resume: bool = False, progress: bool = False, **overrides: Any) -> Path:
    """Train and return the run directory.

    ``config_or_preset`` is a preset name or a :class:`~gankit.config.Config`; keyword
    overrides are short names (``epochs``, ``steps``, ``minutes``, ``batch_size``, ``seed``,
    ``device``, ``data``, ``mirror``, ``lr``) or ``section__key`` (``optim__beta1=0.5``).
    """
    from gankit.config import apply_overrides
    from gankit.apps.train import run_training

    dotted = keyword_overrides(overrides)
    if isinstance(config_or_preset, Config):
        cfg = apply_overrides(config_or_preset, dotted)
        validate(cfg)
    else:
        cfg = resolve(config_or_preset, overrides=dotted)
    out = Path(out) if out is not None else Path("runs") / cfg.preset
    return run_training(cfg, out, resume=resume, progress=progress)


def sample(run: Run | str | Path, n: int = 64, seed: int = 0, ema: bool = True,
           truncation: float = 1.0, classes: list[int] | None = None) -> torch.Tensor:
    """n images from a run (or run directory) as uint8 (n, C, H, W).

    ``truncation``: the truncation trick's psi, z -> z * psi (1: none; see gankit.apps.latent).
    ``classes``: for class-conditional runs, images of these classes in blocks of n/len.
    """
    return _sample(run, n=n, seed=seed, ema=ema, truncation=truncation, classes=classes)


def translate(run, images: torch.Tensor | str | Path | None = None, direction: str | None = None,
              out: str | Path | None = None, keep_size: bool = False, ema: bool = True, *,
              emoji: list[str] | None = None):
    """Translate with a pix2pix, CycleGAN or CUT run (or its run directory).

    ``images``: uint8 (N, C, H, W) of the run's input size -> uint8 (N, C_out, H, W); or an
    image file or folder, written as PNGs to ``out`` (returns the paths written). ``emoji``
    instead of images (runs on emoji-styles): code points of the set's own emoji, written
    as ``out/<code>.png``. ``direction``: AtoB or BtoA (default: the run's).
    """
    from gankit.apps.translate import translate as _translate, translate_emoji, translate_files

    if isinstance(run, (str, Path)):
        run = load(run)
    if isinstance(images, torch.Tensor):
        return _translate(run, images, direction, ema=ema)
    if (images is None) == (emoji is None):
        raise ValueError("give images (a tensor, a file or a folder) or emoji, one of them")
    if out is None:
        raise ValueError("give out= (a .png file or a folder) when translating files")
    if emoji is not None:
        return translate_emoji(run, list(emoji), out, direction, ema=ema)
    return translate_files(run, images, out, direction, keep_size=keep_size, ema=ema)


__all__ = ["train", "load", "sample", "translate"]
