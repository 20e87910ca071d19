"""Regularisers and schedules for D, as pure functions: gradient penalty, R1, label smoothing,
the ACGAN class loss, and when lazy/critic schedules fire.

``steps.d_step`` takes a :class:`Regularisers` and adds the penalties to D's loss; the loop
decides per step which of them are due (R1 every ``loss.r1_every`` steps; G every
``train.n_critic`` steps). With everything at its default (all weights 0, n_critic 1, no
smoothing) nothing here runs and no random number is drawn, so the seed recipes are
unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from gankit.core.losses import SMOOTHABLE, Loss  # noqa: F401  (SMOOTHABLE: re-exported)

Critic = Callable[[torch.Tensor, "torch.Tensor | None"], torch.Tensor]


# --- penalties ---------------------------------------------------------------------------

def gradient_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor,
                     labels: torch.Tensor | None = None, weight: float = 10.0,
                     alpha: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017, eq. 3): weight * E[(||∇ D(x̂)||₂ - 1)²] on
    x̂ = α·real + (1-α)·fake, α ~ U[0, 1] per sample.

    ``critic(images (B, ...), labels (B,) | None) -> logits (B,)``; real and fake (B, ...)
    must have the same shape; ``alpha`` (B,) may be given (tests), else it is drawn.
    The penalty keeps its graph (create_graph) so that it trains D.
    """
    if real.shape != fake.shape:
        raise ValueError(f"gradient penalty needs real and fake of one shape, got "
                         f"{tuple(real.shape)} and {tuple(fake.shape)}")
    if alpha is None:
        alpha = torch.rand(real.shape[0], device=real.device, dtype=real.dtype)
    alpha = alpha.view(-1, *([1] * (real.dim() - 1)))
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    logits = critic(mixed, labels)
    (grad,) = torch.autograd.grad(logits.sum(), mixed, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)
    return weight * ((norms - 1) ** 2).mean()


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor, gamma: float) -> torch.Tensor:
    """R1 (Mescheder et al. 2018, eq. 9): gamma/2 * E[||∇ₓ D(x)||²] on real data.

    ``real`` (B, ...) must require grad and ``real_logits`` (B,) be computed from it.
    """
    (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
    return 0.5 * gamma * grad.flatten(1).pow(2).sum(1).mean()


def aux_class_loss(class_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """ACGAN (Odena et al. 2017): cross-entropy of D's class logits (B, K) on labels (B,)."""
    return F.cross_entropy(class_logits.float(), labels)


# --- schedules ---------------------------------------------------------------------------

def r1_due(step: int, every: int) -> bool:
    """Lazy regularisation (Karras et al. 2020, StyleGAN2 §3.1): R1 on steps 0, N, 2N, ..."""
    return every <= 1 or step % every == 0


def r1_weight(step: int, gamma: float, every: int) -> float:
    """The R1 gamma for ``step``: gamma * N on the steps it runs (so that its average
    strength is gamma, as in StyleGAN2), 0 otherwise."""
    if gamma <= 0 or not r1_due(step, every):
        return 0.0
    return gamma * max(every, 1)


def g_due(step: int, n_critic: int) -> bool:
    """Whether G updates after D's update on ``step`` (0-based): every n_critic-th step,
    starting with the first, so there are n_critic D updates per G update."""
    return n_critic <= 1 or step % n_critic == 0


# --- label smoothing ---------------------------------------------------------------------

def smooth_labels(loss: Loss, epsilon: float, name: str = "") -> Loss:
    """One-sided label smoothing (Salimans et al. 2016 §3.4): D's real target is 1 - ε.

    G's loss and D's fake term are unchanged. ε = 0 returns ``loss`` itself. Only losses
    with a target (:data:`SMOOTHABLE`; bce/ns/minimax: BCE; lsgan: squares) can be smoothed.
    """
    if epsilon <= 0:
        return loss
    target = 1.0 - epsilon
    if name == "lsgan":
        def d_real(real: torch.Tensor) -> torch.Tensor:
            return 0.5 * ((real - target) ** 2).mean()
    else:
        def d_real(real: torch.Tensor) -> torch.Tensor:
            return F.binary_cross_entropy_with_logits(real, torch.full_like(real, target))
    return loss._replace(d_real=d_real,
                         description=f"{loss.description}; real target {target:g}")


# --- the bundle d_step takes --------------------------------------------------------------

@dataclass(frozen=True)
class Regularisers:
    """What D's loss gets besides the adversarial terms on one step.

    gp_weight: WGAN-GP λ (0: off); r1_gamma: R1 γ for this step, already scaled for lazy
    regularisation (0: off or not due); aux_weight: weight of the ACGAN class loss on real
    labels (used only when D has class outputs and labels are known).
    """

    gp_weight: float = 0.0
    r1_gamma: float = 0.0
    aux_weight: float = 1.0

    @property
    def needs_real_grad(self) -> bool:
        return self.r1_gamma > 0


def d_extra_terms(reg: Regularisers, critic: Critic, real: torch.Tensor, fake: torch.Tensor,
                  real_logits: torch.Tensor, *, real_classes: torch.Tensor | None,
                  real_labels: torch.Tensor | None,
                  fake_labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """The penalties and class loss for one D step, by name (each a 0-d tensor with graph).

    ``real`` must require grad when R1 is on; ``real_classes`` (B, K) are D's class logits
    on the reals (ACGAN) or None.
    """
    terms: dict[str, torch.Tensor] = {}
    if reg.gp_weight > 0:
        # Interpolating between a real and a fake of the same class (the loop's fakes are of
        # the real batch's classes) keeps the label meaningful for a conditional critic.
        n = min(real.shape[0], fake.shape[0])
        terms["gp"] = gradient_penalty(critic, real[:n], fake[:n],
                                       None if real_labels is None else real_labels[:n],
                                       reg.gp_weight)
    if reg.r1_gamma > 0:
        terms["r1"] = r1_penalty(real_logits, real, reg.r1_gamma)
    if real_classes is not None and real_labels is not None and reg.aux_weight > 0:
        terms["aux"] = reg.aux_weight * aux_class_loss(real_classes, real_labels)
    return terms


def regularisers_for(step: int, gp_weight: float, r1_gamma: float, r1_every: int
                     ) -> Regularisers | None:
    """The :class:`Regularisers` due on ``step`` (0-based), or None when none is."""
    r1 = r1_weight(step, r1_gamma, r1_every)
    return Regularisers(gp_weight=gp_weight, r1_gamma=r1) if gp_weight > 0 or r1 > 0 else None
