"""Adversarial losses as pure functions of D's logits.

Each entry gives ``d(real_logits, fake_logits) -> scalar`` and ``g(fake_logits) -> scalar``;
logits have shape (B,). The probabilities the tutorial writes, D(x) = sigmoid(logit), never
appear: BCE on logits is the same function, without the overflow of log(sigmoid).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F

from gankit.registry import Registry


class Loss(NamedTuple):
    """D's loss is a real term plus a fake term (every loss here splits so), and G's loss."""

    d_real: Callable[[torch.Tensor], torch.Tensor]
    d_fake: Callable[[torch.Tensor], torch.Tensor]
    g: Callable[[torch.Tensor], torch.Tensor]
    description: str

    def d(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """D's whole loss on real logits (B,) and fake logits (B',)."""
        return self.d_real(real) + self.d_fake(fake)


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def bce_real(real: torch.Tensor) -> torch.Tensor:
    """Goodfellow et al. 2014, eq. 1, D on real data: BCE(D(x), 1) = -E[log D(x)]."""
    return _bce(real, 1.0)


def bce_fake(fake: torch.Tensor) -> torch.Tensor:
    """Goodfellow et al. 2014, eq. 1, D on fakes: BCE(D(G(z)), 0) = -E[log(1 - D(G(z)))]."""
    return _bce(fake, 0.0)


def minimax_g(fake: torch.Tensor) -> torch.Tensor:
    """Goodfellow et al. 2014, eq. 1 for G taken literally: minimise E[log(1 - D(G(z)))]."""
    return -F.softplus(fake).mean()


def hinge_real(real: torch.Tensor) -> torch.Tensor:
    """Lim & Ye 2017; Miyato et al. 2018: E[relu(1 - D(x))]."""
    return F.relu(1 - real).mean()


def hinge_fake(fake: torch.Tensor) -> torch.Tensor:
    """Lim & Ye 2017; Miyato et al. 2018: E[relu(1 + D(G(z)))]."""
    return F.relu(1 + fake).mean()


def critic_real(real: torch.Tensor) -> torch.Tensor:
    """Arjovsky et al. 2017, critic on real data: -E[D(x)]."""
    return -real.mean()


def critic_fake(fake: torch.Tensor) -> torch.Tensor:
    """Arjovsky et al. 2017, critic on fakes: E[D(G(z))]."""
    return fake.mean()


def least_squares_real(real: torch.Tensor) -> torch.Tensor:
    """Mao et al. 2017 (a=0, b=c=1): ½E[(D(x) - 1)²]."""
    return 0.5 * ((real - 1) ** 2).mean()


def least_squares_fake(fake: torch.Tensor) -> torch.Tensor:
    """Mao et al. 2017: ½E[D(G(z))²]."""
    return 0.5 * (fake ** 2).mean()


LOSSES: Registry[Loss] = Registry("loss")

# One-sided label smoothing moves D's real target; only losses with a target have one.
SMOOTHING = {"label_smoothing": "one-sided label smoothing: D's real target is 1 - ε"}


def _no_target(loss_cfg) -> None:
    """The check of the losses without a target: they cannot be label-smoothed."""
    if loss_cfg.label_smoothing:
        raise ValueError(f"loss.label_smoothing needs a loss with targets "
                         f"({', '.join(SMOOTHABLE)}), not {loss_cfg.name!r}")


def _add(name: str, loss: Loss, target: bool) -> None:
    LOSSES.add(name, loss, loss.description, options=SMOOTHING if target else {},
               check=None if target else _no_target)


_add("bce", Loss(bce_real, bce_fake, bce_real,
                 "the tutorial's BCE: D on real=1/fake=0, G on fake=1"), target=True)
_add("ns", Loss(bce_real, bce_fake, bce_real,
                "non-saturating GAN loss, Goodfellow et al. 2014 §3 (same maths as bce)"),
     target=True)
_add("minimax", Loss(bce_real, bce_fake, minimax_g,
                     "literal minimax: G minimises log(1 - D(G(z)))"), target=True)
_add("hinge", Loss(hinge_real, hinge_fake, critic_real, "hinge loss (SNGAN, BigGAN)"),
     target=False)
_add("wasserstein", Loss(critic_real, critic_fake, critic_real,
                         "WGAN critic loss (Arjovsky et al. 2017)"), target=False)
_add("lsgan", Loss(least_squares_real, least_squares_fake, least_squares_real,
                   "least-squares GAN (Mao et al. 2017)"), target=True)

# The losses that can be label-smoothed (those whose entry reads label_smoothing).
SMOOTHABLE = tuple(entry.name for entry in LOSSES.entries() if "label_smoothing" in entry.options)


def get_loss(name: str) -> Loss:
    """The registered loss ``name``; an unknown name raises ``ValueError``."""
    return LOSSES[name]
