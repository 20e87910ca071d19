"""Step strategies for noise-to-image training, chosen once per run.

A strategy makes one update of D and, when G's phase is due, one of G, on one batch; the
trainer calls it as ``strategy(state, batch) -> statistics``. Which parts run on a step is
decided by :class:`Phase` intervals (stylegan2-ada's ``phases``): G every ``n_critic``
steps, lazy R1 every ``r1_every`` steps; the trainer's loop has no such ``if``.

* :class:`GeneralStep`: ``d_step`` then ``g_step`` through the networks as wrapped for the
  run (any model, loss, penalty, precision, DiffAugment, packing, process count): the one
  step the noise-to-image kind builds.
* :class:`FunctionStep`: the same schedule, noise, phases and EMA with the update made by
  a given function (:meth:`NoiseToImage.with_update`): the speed machinery's hand-written
  MLP step (:mod:`gankit.speed.fast_mlp`, the same mathematics without autograd), which
  the driver hands over.

:class:`Tunable` is what the kind offers the speed machinery, through the driver.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
from torch import nn

from gankit.core.losses import Loss
from gankit.core.penalties import Regularisers
from gankit.core.steps import d_step, ema_update, g_step, lr_factor
from gankit.training.state import TrainingState

Batch = tuple[torch.Tensor, "torch.Tensor | None"]  # real (B, C, H, W), classes (B,) | None


@dataclass(frozen=True)
class Phase:
    """A part of the step that runs on every ``interval``-th step, starting with step 0."""

    name: str
    interval: int = 1

    def due(self, step: int) -> bool:
        return self.interval <= 1 or step % self.interval == 0


class LinearDecay:
    """Learning rates: constant, then a linear fall over the last ``fraction`` of
    ``total_steps`` (see :func:`gankit.core.steps.lr_factor`). ``base`` pairs each optimiser
    with its base rate; the rates are set before every step, so they need no state."""

    def __init__(self, base: list[tuple[torch.optim.Optimizer, float]], total_steps: int,
                 fraction: float):
        self.base, self.total_steps, self.fraction = base, total_steps, fraction

    def apply(self, step: int) -> None:
        if self.fraction > 0:
            set_learning_rates(self.base, lr_factor(step, self.total_steps, self.fraction))


def set_learning_rates(rates: list[tuple[torch.optim.Optimizer, float]],
                       scale: float = 1.0) -> None:
    """Every parameter group of each optimiser to its paired rate times ``scale``."""
    for opt, lr in rates:
        for group in opt.param_groups:
            group["lr"] = lr * scale


@dataclass(kw_only=True)
class NoiseToImage:
    """What both strategies share: the schedule, the noise, G's phase and the EMA.

    ``noise(batch)`` draws z (batch, latent) for this process; ``ema`` is ``(G_ema, G,
    beta)`` or None; ``mark_step`` runs before each step (CUDA graphs' step marker).
    """

    name = "noise-to-image"
    phases: dict[str, Phase]
    schedule: LinearDecay
    noise: Callable[[int], torch.Tensor]
    ema: tuple[nn.Module, nn.Module, float] | None = None
    mark_step: Callable[[], None] | None = None

    def batch_images(self, batch: Batch) -> int:
        return batch[0].shape[0]

    def __call__(self, state: TrainingState, batch: Batch) -> dict[str, torch.Tensor]:
        real, classes = batch
        step = state.counters.step
        if self.mark_step is not None:
            self.mark_step()
        update_g = self.phases["G"].due(step)
        self.schedule.apply(step)
        z = self.noise(real.shape[0])
        stats = self.update(step, real, classes, z, update_g)
        if self.ema is not None and update_g:
            G_ema, G, beta = self.ema
            ema_update(G_ema, G, beta)
        return stats

    def update(self, step: int, real: torch.Tensor, classes: torch.Tensor | None,
               z: torch.Tensor, update_g: bool) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def with_update(self, update: Callable[[torch.Tensor, torch.Tensor, bool], dict],
                    name: str = "fast-mlp") -> "FunctionStep":
        """This step's schedule, noise, phases and EMA, with ``update(real, z, update_g)``
        making each update (for unconditional runs: it is not given classes)."""
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(NoiseToImage)}
        return FunctionStep(step_fn=update, name=name, **shared)


@dataclass(kw_only=True)
class GeneralStep(NoiseToImage):
    """``d_step``, then ``g_step`` when G's phase is due. ``G``/``D`` are the networks as
    the run calls them (precision, DiffAugment, DDP); ``D_sync_off()`` is a context that
    stops DDP averaging D's gradients during G's step (D is frozen there)."""

    G: nn.Module
    D: nn.Module
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    loss: Loss
    D_sync_off: Callable
    scalers: tuple = (None, None)  # (D, G) GradScalers for fp16
    separate_d_updates: bool = False
    fresh_noise_for_g: bool = False
    gp_weight: float = 0.0
    r1_gamma: float = 0.0

    def regularisers(self, step: int) -> Regularisers | None:
        """Gradient penalty every step; R1 on its phase, scaled by its interval (lazy
        regularisation keeps the average strength at gamma, as in StyleGAN2)."""
        r1 = self.phases["R1"]
        r1_gamma = self.r1_gamma * r1.interval if self.r1_gamma > 0 and r1.due(step) else 0.0
        if self.gp_weight > 0 or r1_gamma > 0:
            return Regularisers(gp_weight=self.gp_weight, r1_gamma=r1_gamma)
        return None

    def generate(self, z: torch.Tensor, classes: torch.Tensor | None) -> torch.Tensor:
        return self.G(z) if classes is None else self.G(z, classes)

    def update(self, step, real, classes, z, update_g):
        # A fake that G's step reuses keeps its graph; otherwise none is needed.
        with torch.set_grad_enabled(update_g and not self.fresh_noise_for_g):
            fake = self.generate(z, classes)
        scaler_D, scaler_G = self.scalers
        stats = d_step(self.D, self.opt_D, self.loss, real, fake,
                       separate=self.separate_d_updates, scaler=scaler_D,
                       real_labels=classes, fake_labels=classes, reg=self.regularisers(step))
        if not update_g:
            return stats
        if self.fresh_noise_for_g:  # Keras: the combined model draws its own noise
            fake = self.generate(self.noise(real.shape[0]), classes)
        with self.D_sync_off():
            stats.update(g_step(self.D, self.opt_G, self.loss, fake, scaler=scaler_G,
                                fake_labels=classes))
        return stats


@dataclass(kw_only=True)
class FunctionStep(NoiseToImage):
    """A noise-to-image step whose update is ``step_fn(real, z, update_g) -> stats`` (the
    speed machinery's hand-written MLP step: the same statistics as :class:`GeneralStep`)."""

    step_fn: Callable[[torch.Tensor, torch.Tensor, bool], dict[str, torch.Tensor]]
    name: str = "function"

    def update(self, step, real, classes, z, update_g):
        return self.step_fn(real, z, update_g)


@dataclass
class Tunable:
    """What the noise-to-image kind offers the speed machinery (the driver passes it to
    :func:`gankit.speed.tune`, which reads it as a :class:`gankit.speed.paths.Offer`).

    ``entries``: the run's own G, D, opt_G, opt_D; ``networks``: G, D and G_ema (their
    products are chosen); ``called``: G and D as the general step calls them; ``loss``: the
    general step's; ``conditional``: G and D take classes; ``key``: the run's shapes for
    the calibration's cache; ``rebuild(entries)``: the general step on other entries (the
    calibration's copies); ``trial(step)``: one update of ``step`` on a fixed batch of the
    run's shapes.
    """

    entries: Mapping[str, Any]
    networks: list[nn.Module]
    called: tuple[nn.Module, nn.Module]
    loss: Loss
    conditional: bool
    key: dict[str, Any]
    rebuild: Callable[[Mapping[str, Any]], NoiseToImage]
    trial: Callable[[NoiseToImage], Callable[[], None]]

    @staticmethod
    def with_update(step: NoiseToImage, update: Callable) -> NoiseToImage:
        """``step`` with ``update`` making its updates (:meth:`NoiseToImage.with_update`)."""
        return step.with_update(update)
