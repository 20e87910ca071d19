"""A finished run: load it from its checkpoint and draw from its generator.

:func:`load` reads a run directory (its newest good checkpoint) or one checkpoint file and
hands it to its training kind's loader (:data:`gankit.training.kinds.TRAINING`); a
noise-to-image run's networks are built with the same code as in training
(:func:`gankit.training.noise_to_image.networks_state`). :func:`sample` draws images (or 2-D
points) from seeded noise with the sampler of the run's kind; :func:`generate` is the
noise-to-image kind's. The applications (``gankit sample``, ``eval``, ``report``,
``export``, ``inpaint``, ``interpolate``, ``translate``) all start here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gankit.config import Config, from_dict
from gankit.config.kinds import kind_of, require
from gankit.core.models.conditioning import proportional_labels
from gankit.data import is_points_shape, to_uint8
from gankit.errors import UserError, first_line
from gankit.training.checkpoint import latest_checkpoint, load_checkpoint, run_dir_of
from gankit.training.noise_to_image import NETWORKS, networks_state
from gankit.training.kinds import TRAINING


def check_truncation(psi: float) -> float:
    """``psi`` as a float, or a :class:`UserError` unless it is finite and > 0."""
    psi = float(psi)
    if not (psi > 0 and math.isfinite(psi)):
        raise UserError(f"truncation psi must be a finite number > 0 (1 = none), got {psi:g}")
    return psi


def truncate(z: torch.Tensor, psi: float = 1.0) -> torch.Tensor:
    """The truncation trick for z ~ N(0, I): ``z * psi`` (any shape; psi = 1 is a no-op)."""
    psi = check_truncation(psi)
    return z if psi == 1.0 else z * psi


@dataclass
class Run:
    """A trained noise-to-image run: networks in eval mode, its config and where it
    stopped."""

    G: nn.Module
    D: nn.Module
    G_ema: nn.Module | None
    config: Config
    step: int
    image_shape: tuple[int, int, int]
    num_classes: int
    run_dir: Path | None = None
    kind: str = "generation"

    @property
    def generator(self) -> nn.Module:
        """The EMA generator when the run kept one, else G."""
        return self.G_ema if self.G_ema is not None else self.G


def load(run_dir_or_checkpoint: str | Path, device: str = "cpu"):
    """Load a run directory (its newest good checkpoint) or one checkpoint file with the
    loader of the run's training kind: a noise-to-image run gives a :class:`Run`, a
    translation run a :class:`~gankit.training.translation.TranslationRun`.

    The checkpoint names its kind (older ones do not: their config does). The networks are
    built and filled by the same code as in training, from what the checkpoint holds.
    """
    import json

    path = Path(run_dir_or_checkpoint)
    state = load_checkpoint(path, device) if path.is_file() else latest_checkpoint(path, device)
    try:
        cfg = from_dict(json.loads(state["config"]))
        loader = TRAINING[state.get("kind") or kind_of(cfg)].load
        return loader(cfg, state, torch.device(device), run_dir_of(path))
    except UserError:
        raise
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        first = first_line(exc)
        raise UserError(f"checkpoint in {path} does not fit its model: {first[:200]}") from None


def load_generation(cfg: Config, state: dict, device: torch.device,
                    run_dir: Path | None) -> Run:
    """The noise-to-image run a checkpoint (``state``) holds (its kind's loader)."""
    shape = tuple(int(s) for s in state["image_shape"])
    num_classes = int(state.get("num_classes", 0))
    nets = networks_state(cfg, shape, num_classes, device, ema=state.get("G_ema") is not None)
    nets.load_state_dict(state, rng=False, only=NETWORKS)
    for name in NETWORKS:
        if name in nets:
            nets[name].eval()
    return Run(G=nets["G"], D=nets["D"], G_ema=nets.get("G_ema"), config=cfg,
               step=nets.counters.step, image_shape=shape, num_classes=num_classes,
               run_dir=run_dir)


@torch.no_grad()
def class_labels(n: int, classes: list[int] | None, num_classes: int,
                 counts: torch.Tensor | None = None) -> torch.Tensor | None:
    """Labels (n,) for a conditional G: ``classes`` in consecutive blocks (one grid row per
    class), or, when ``classes`` is None, all classes in turn, in the proportions of
    ``counts`` (K,) when given (a data set's class sizes); None for unconditional G."""
    if not classes:
        if not num_classes:
            return None
        return torch.arange(n) % num_classes if counts is None else \
            proportional_labels(n, counts)
    if not num_classes:
        raise UserError("this run is not class-conditional; --class/--classes need a model "
                        "trained with model.conditional=true on labelled data")
    bad = [c for c in classes if not 0 <= c < num_classes]
    if bad:
        raise UserError(f"class {bad[0]} is out of range: this run knows classes "
                        f"0..{num_classes - 1}")
    per_class = -(-n // len(classes))
    return torch.tensor(classes).repeat_interleave(per_class)[:n]


def generate(G: nn.Module, n: int, latent_dim: int, *, seed: int = 0, batch_size: int = 500,
             truncation: float = 1.0, labels: torch.Tensor | None = None) -> torch.Tensor:
    """n images (n, C, H, W) in the model's range from z ~ N(0, I) seeded by ``seed``.

    The noise is drawn on the CPU, all at once, so that a seed gives the same images on
    every device and for every ``batch_size``. ``labels`` (n,) pick the classes of a
    conditional G (default: all classes in turn).
    """
    device = next(G.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, latent_dim, generator=generator)
    if truncation != 1.0:  # the truncation trick, z * psi (see gankit.apps.latent)
        noise = truncate(noise, truncation)
    out = []
    for start in range(0, n, batch_size):
        z = noise[start:start + batch_size].to(device)
        if labels is None:
            out.append(G(z).float().cpu())
        else:
            out.append(G(z, labels[start:start + batch_size].to(device)).float().cpu())
    return torch.cat(out) if out else torch.empty(0)


def sample(run, n: int = 64, *, seed: int = 0, ema: bool = True, truncation: float = 1.0,
           classes: list[int] | None = None, class_counts: torch.Tensor | None = None
           ) -> torch.Tensor:
    """n images from a run (or run directory) as uint8 (n, C, H, W), drawn by the sampler
    of the run's kind; a run whose kind does not serve ``gankit sample`` is a UserError.

    Noise-to-image runs (:func:`sample_generation`): ``truncation`` psi scales z (1: none);
    ``classes`` (conditional runs): images of these classes, in blocks of n / len(classes);
    without them all classes, in turn, or in the proportions of ``class_counts`` (K,).
    Runs on 2-D point sets (ring8, grid25) give float32 points (n, 2) instead.
    """
    run = load(run) if isinstance(run, (str, Path)) else run
    require(run.kind, "sample")
    sampler = TRAINING[run.kind].sample
    if sampler is None:
        raise ValueError(f"training kind {run.kind!r} serves gankit sample but registered "
                         f"no sampler")
    return sampler(run, n=n, seed=seed, ema=ema, truncation=truncation, classes=classes,
                   class_counts=class_counts)


def sample_generation(run: Run, n: int = 64, *, seed: int = 0, ema: bool = True,
                      truncation: float = 1.0, classes: list[int] | None = None,
                      class_counts: torch.Tensor | None = None) -> torch.Tensor:
    """The noise-to-image kind's sampler (see :func:`sample`)."""
    G = run.generator if ema else run.G
    if is_points_shape(run.image_shape):  # points: no classes, no pixel range
        if classes:
            raise UserError("this run makes 2-D points; --class/--classes do not apply")
        with torch.no_grad():
            return generate(G, n, run.config.model.latent_dim, seed=seed,
                            truncation=truncation)
    labels = class_labels(n, classes, run.num_classes, class_counts)
    images = generate(G, n, run.config.model.latent_dim, seed=seed, truncation=truncation,
                      labels=labels)
    return to_uint8(images, run.config.data.value_range)
