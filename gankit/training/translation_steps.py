"""Step strategies for image-to-image translation: pix2pix (paired), CycleGAN and CUT
(unpaired).

Both follow the anchor (pytorch-CycleGAN-and-pix2pix): G is updated through frozen
discriminators, then D on real images and (detached) fakes; D's loss is halved as there.
The adversarial loss is any of gankit's losses on D's patch logits (B, 1, h, w).

pix2pix (Isola et al. 2017): D judges (input, output) stacked on channels;
G's loss = gan_weight x adversarial + l1_weight x |G(A) - B|. With gan_weight 0 there is
no D: plain L1 regression, the baseline of the paper's Table 1.

CycleGAN (Zhu et al. 2017): G_AB: A -> B, G_BA: B -> A, D_A and D_B. G's loss =
adversarial (both ways) + cycle_weight x (|G_BA(G_AB(A)) - A| + |G_AB(G_BA(B)) - B|) +
cycle_weight x identity_weight x (|G_AB(B) - B| + |G_BA(A) - A|); D sees fakes through an
image pool of earlier fakes.

CUT (Park et al. 2020): one G: A -> B and D_B; D is updated first on real B and the detached
fake, then G's loss = adversarial + nce_weight x PatchNCE(A, G(A)) (:mod:`gankit.core.patch_nce`),
with the identity term averaged in (nce_identity: (PatchNCE(A, G(A)) + PatchNCE(B, G(B))) / 2,
B and A translated in one pass). FastCUT is the same step without the identity term.

Semantic consistency (CyCADA, Hoffman et al. 2018), CycleGAN and CUT: with labelled
batches (A, B, labels of A, labels of B) and :class:`Semantic` classifiers of the source
domains, G's loss adds semantic_weight x cross-entropy of the source's classifier on each
translation against its input's label.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from gankit.core.losses import Loss
from gankit.core.patch_nce import PatchHeads, patch_nce_loss
from gankit.core.pool import ImagePool
from gankit.core.steps import ema_update
from gankit.training.state import TrainingState
from gankit.training.strategies import LinearDecay

Pair = tuple[torch.Tensor, torch.Tensor]  # A (B, C_A, H, W), B (B, C_B, H, W) in [-1, 1]


@contextmanager
def frozen(*nets: nn.Module) -> Iterator[None]:
    """Parameters of ``nets`` ask for no gradients inside (G's step through D)."""
    params = [p for net in nets for p in net.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _step(opt: torch.optim.Optimizer, value: torch.Tensor) -> None:
    opt.zero_grad(set_to_none=True)
    value.backward()
    opt.step()


def _d_update(D: nn.Module, loss: Loss, real: torch.Tensor, fake: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """D's halved loss on real and fake inputs (two passes: D may hold BatchNorm) and the
    mean sigmoid of its logits on each, D(x) and D(G(z))."""
    real_logits, fake_logits = D(real), D(fake.detach())
    value = 0.5 * loss.d(real_logits, fake_logits)
    return value, torch.sigmoid(real_logits.detach()).mean(), \
        torch.sigmoid(fake_logits.detach()).mean()


@dataclass(kw_only=True)
class TranslationStep:
    """What both strategies share: the schedule, the direction and the EMA of generators
    (``ema``: pairs (G_ema, G) and the per-step decay)."""

    name = "translation"
    schedule: LinearDecay
    loss: Loss
    reverse: bool = False  # BtoA: the batch's B is the input
    ema: tuple[list[tuple[nn.Module, nn.Module]], float] | None = None

    def batch_images(self, batch: Pair) -> int:
        return batch[0].shape[0]

    def __call__(self, state: TrainingState, batch: Pair) -> dict[str, torch.Tensor]:
        """``batch``: (A, B) or, for semantic consistency, (A, B, labels A, labels B)."""
        self.schedule.apply(state.counters.step)
        a, b, *labels = batch
        if self.reverse:
            a, b, labels = b, a, labels[::-1]
        stats = self.update(a, b, *labels)
        if self.ema is not None:
            pairs, beta = self.ema
            for G_ema, G in pairs:
                ema_update(G_ema, G, beta)
        return stats

    def update(self, a: torch.Tensor, b: torch.Tensor, *labels: torch.Tensor
               ) -> dict[str, torch.Tensor]:
        raise NotImplementedError


@dataclass
class Semantic:
    """CyCADA's semantic consistency: frozen classifiers of domain A and B (float images in
    [-1, 1] -> logits) and the term's weight."""

    classifier_a: nn.Module
    classifier_b: nn.Module
    weight: float

    def loss(self, classifier: nn.Module, translated: torch.Tensor,
             labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the *source* domain's classifier on translations (B, C, H, W)
        against their inputs' labels (B,): the translation must keep the class."""
        return F.cross_entropy(classifier(translated), labels)


@dataclass(kw_only=True)
class Pix2PixStep(TranslationStep):
    """One pix2pix update on aligned (input, target) batches."""

    name = "pix2pix"
    G: nn.Module
    D: nn.Module | None  # None: L1 regression only
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer | None
    gan_weight: float = 1.0
    l1_weight: float = 100.0

    def update(self, a, b, *labels):
        fake = self.G(a)
        l1 = (fake - b).abs().mean()
        stats = {"l1": l1.detach()}
        if self.D is None:
            _step(self.opt_G, self.l1_weight * l1)
            stats["loss_g"] = l1.detach()
            return stats
        with frozen(self.D):
            adversarial = self.loss.g(self.D(torch.cat([a, fake], 1)))
            _step(self.opt_G, self.gan_weight * adversarial + self.l1_weight * l1)
        loss_d, d_real, d_fake = _d_update(self.D, self.loss, torch.cat([a, b], 1),
                                           torch.cat([a, fake], 1))
        _step(self.opt_D, loss_d)
        stats.update(loss_g=adversarial.detach(), loss_d=loss_d.detach(), d_real=d_real,
                     d_fake=d_fake)
        return stats


@dataclass(kw_only=True)
class CycleGANStep(TranslationStep):
    """One CycleGAN update on unaligned batches of A and B."""

    name = "cyclegan"
    G_AB: nn.Module
    G_BA: nn.Module
    D_A: nn.Module
    D_B: nn.Module
    opt_G: torch.optim.Optimizer  # both generators
    opt_D: torch.optim.Optimizer  # both discriminators
    pool_A: ImagePool
    pool_B: ImagePool
    cycle_weight: float = 10.0
    identity_weight: float = 0.5

    semantic: Semantic | None = None

    def _generator_loss(self, a, b, labels):
        fake_b, fake_a = self.G_AB(a), self.G_BA(b)
        cycle = (self.G_BA(fake_b) - a).abs().mean() + (self.G_AB(fake_a) - b).abs().mean()
        adversarial = self.loss.g(self.D_B(fake_b)) + self.loss.g(self.D_A(fake_a))
        total = adversarial + self.cycle_weight * cycle
        terms = {"cycle": cycle}
        if self.identity_weight > 0 and a.shape[1] == b.shape[1]:
            identity = (self.G_AB(b) - b).abs().mean() + (self.G_BA(a) - a).abs().mean()
            total = total + self.cycle_weight * self.identity_weight * identity
            terms["identity"] = identity
        if self.semantic is not None:
            sem = self.semantic
            terms["semantic"] = (sem.loss(sem.classifier_a, fake_b, labels[0])
                                 + sem.loss(sem.classifier_b, fake_a, labels[1]))
            total = total + sem.weight * terms["semantic"]
        return total, adversarial, terms, fake_a, fake_b

    def update(self, a, b, *labels):
        with frozen(self.D_A, self.D_B):
            total, adversarial, terms, fake_a, fake_b = self._generator_loss(a, b, labels)
            _step(self.opt_G, total)
        loss_a, real_a, judged_a = _d_update(self.D_A, self.loss, a, self.pool_A.query(fake_a))
        loss_b, real_b, judged_b = _d_update(self.D_B, self.loss, b, self.pool_B.query(fake_b))
        _step(self.opt_D, loss_a + loss_b)
        stats = {"loss_g": adversarial.detach(), "loss_d": (loss_a + loss_b).detach(),
                 "d_real": 0.5 * (real_a + real_b), "d_fake": 0.5 * (judged_a + judged_b)}
        stats.update({name: value.detach() for name, value in terms.items()})
        stats.setdefault("identity", torch.zeros((), device=a.device))
        return stats


@dataclass(kw_only=True)
class CUTStep(TranslationStep):
    """One CUT update on unaligned batches: G translates A to B, D judges B."""

    name = "cut"
    G: nn.Module  # with nce_features (the ResNet G)
    D: nn.Module
    heads: PatchHeads
    opt_G: torch.optim.Optimizer  # G and the heads
    opt_D: torch.optim.Optimizer
    nce_weight: float = 1.0
    nce_identity: bool = True
    patches: int = 256
    temperature: float = 0.07
    semantic: Semantic | None = None

    def update(self, a, b, *labels):
        inputs = torch.cat([a, b]) if self.nce_identity else a
        outputs, source = self.G.nce_features(inputs, translate=True)
        fake = outputs[:len(a)]
        loss_d, d_real, d_fake = _d_update(self.D, self.loss, b, fake)
        _step(self.opt_D, loss_d)
        with frozen(self.D):
            adversarial = self.loss.g(self.D(fake))
            # the identity half (B -> G(B)) in the same call: the mean over both halves is
            # CUT's (NCE(A, G(A)) + NCE(B, G(B))) / 2
            nce = patch_nce_loss(self.heads, source, self.G.nce_features(outputs),
                                 self.patches, self.temperature)
            total = adversarial + self.nce_weight * nce
            stats = {"nce": nce.detach()}
            if self.semantic is not None:
                semantic = self.semantic.loss(self.semantic.classifier_a, fake, labels[0])
                total = total + self.semantic.weight * semantic
                stats["semantic"] = semantic.detach()
            _step(self.opt_G, total)
        stats.update(loss_g=adversarial.detach(), loss_d=loss_d.detach(), d_real=d_real,
                     d_fake=d_fake)
        return stats
