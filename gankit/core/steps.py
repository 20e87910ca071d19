"""One update each: ``d_step``, ``g_step``, ``ema_update``.

Plain functions of (networks, optimiser, batch, loss) that tests call directly. They return
detached 0-d tensors rather than floats so that a step never waits for the device; the loop
reads them back only when it logs. An update is the optimiser's own ``opt.step()`` (in a
training run the speed machinery may have given the optimiser a step that skips importing
torch's compiler: :mod:`gankit.speed.lazy_imports`; the same update).
"""

from __future__ import annotations

import weakref

import torch
from torch import nn

from gankit.core.losses import Loss
from gankit.core.penalties import Regularisers, aux_class_loss, d_extra_terms


_MIXES_BATCH: "weakref.WeakKeyDictionary[nn.Module, bool]" = weakref.WeakKeyDictionary()


def mixes_batch(module: nn.Module) -> bool:
    """Whether ``module``'s output for one sample depends on the other samples of its batch:
    it holds a BatchNorm layer or another layer marked ``mixes_batch = True`` (e.g.
    minibatch std-dev). Walked once, then cached."""
    known = _MIXES_BATCH.get(module)
    if known is None:
        known = any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                    or getattr(m, "mixes_batch", False) for m in module.modules())
        _MIXES_BATCH[module] = known
    return known


def judge_aux(D: nn.Module, images: torch.Tensor, labels: torch.Tensor | None
              ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """D's logits (B,) and, for a D with an auxiliary classifier (ACGAN), its class logits
    (B, K), else None. Such a D returns (B, 1 + K): the adversarial logit, then the classes."""
    return split_aux(D(images) if labels is None else D(images, labels))


def split_aux(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """D's raw output (B,) or (B, 1 + K) -> logits (B,), class logits (B, K) | None."""
    return (out[:, 0], out[:, 1:]) if out.dim() == 2 else (out, None)


def judge(D: nn.Module, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """D's logits (B,) for images (B, C, H, W), with class labels (B,) for conditional D."""
    return judge_aux(D, images, labels)[0]


def discriminate(D: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                 real_labels: torch.Tensor | None = None,
                 fake_labels: torch.Tensor | None = None, raw: bool = False
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (B_real,), (B_fake,) for both batches (``raw``: D's outputs as they are,
    (B, 1 + K) for an auxiliary-classifier D).

    One forward pass on the concatenated batch is cheaper; a D that mixes the samples of a
    batch (BatchNorm, minibatch std-dev) needs separate passes, since mixing real and fake
    would change its batch statistics.
    """
    call = (lambda x, y: D(x) if y is None else D(x, y)) if raw else \
        (lambda x, y: judge(D, x, y))
    if mixes_batch(D):
        return call(real, real_labels), call(fake, fake_labels)
    labels = None if real_labels is None else torch.cat([real_labels, fake_labels])
    logits = call(torch.cat([real, fake]), labels)
    return logits[: real.shape[0]], logits[real.shape[0]:]


def d_step(D: nn.Module, opt_D: torch.optim.Optimizer, loss: Loss, real: torch.Tensor,
           fake: torch.Tensor, *, separate: bool = False,
           scaler: torch.amp.GradScaler | None = None, real_labels: torch.Tensor | None = None,
           fake_labels: torch.Tensor | None = None,
           reg: Regularisers | None = None) -> dict[str, torch.Tensor]:
    """Update D once on real (B, C, H, W) and fake (B', C, H, W) images.

    ``separate=True`` is the Keras recipe: one optimiser step on the real batch, then one on
    the fake batch (two ``train_on_batch`` calls). Returns loss_d, d_real, d_fake where
    d_real/d_fake are mean sigmoid(D(.)), the tutorial's D(x) and D(G(z)). ``scaler`` (fp16
    training) scales the loss before backward and skips steps whose gradients overflowed.
    ``real_labels``/``fake_labels`` (B,) condition a class-conditional D.
    ``reg`` adds gradient penalty, R1 and the ACGAN class loss (see :mod:`gankit.core.penalties`);
    each term it adds is also returned under its name (gp, r1, aux).
    """
    fake = fake.detach()
    if reg is not None or (not separate and _has_aux(D)):
        if separate:
            raise ValueError("penalties and auxiliary classifiers need train.d_updates=joint")
        return _regularised_d_step(D, opt_D, loss, real, fake, scaler=scaler,
                                   real_labels=real_labels, fake_labels=fake_labels,
                                   reg=reg or Regularisers())
    if separate:
        real_logits = _separate_update(D, opt_D, loss.d_real, real, scaler, real_labels)
        fake_logits = _separate_update(D, opt_D, loss.d_fake, fake, scaler, fake_labels)
        loss_d = loss.d(real_logits, fake_logits)
    else:
        real_logits, fake_logits = discriminate(D, real, fake, real_labels, fake_labels)
        loss_d = loss.d(real_logits, fake_logits)
        opt_D.zero_grad(set_to_none=True)
        _backward_and_step(loss_d, opt_D, scaler)
    return {"loss_d": loss_d.detach(), "d_real": torch.sigmoid(real_logits.detach()).mean(),
            "d_fake": torch.sigmoid(fake_logits.detach()).mean()}


def _has_aux(D: nn.Module) -> bool:
    return any(getattr(m, "aux_classes", 0) for m in D.modules())


def _regularised_d_step(D, opt_D, loss, real, fake, *, scaler, real_labels, fake_labels, reg):
    if reg.needs_real_grad:
        real = real.detach().requires_grad_(True)
    real_out, fake_out = discriminate(D, real, fake, real_labels, fake_labels, raw=True)
    (real_logits, real_classes), (fake_logits, _) = split_aux(real_out), split_aux(fake_out)
    loss_d = loss.d(real_logits, fake_logits)
    terms = d_extra_terms(reg, lambda x, y: judge(D, x, y), real, fake, real_logits,
                          real_classes=real_classes, real_labels=real_labels,
                          fake_labels=fake_labels)
    total = loss_d + sum(terms.values()) if terms else loss_d
    opt_D.zero_grad(set_to_none=True)
    _backward_and_step(total, opt_D, scaler)
    return {"loss_d": loss_d.detach(), "d_real": torch.sigmoid(real_logits.detach()).mean(),
            "d_fake": torch.sigmoid(fake_logits.detach()).mean(),
            **{name: value.detach() for name, value in terms.items()}}


def _separate_update(D, opt_D, loss_fn, images, scaler=None, labels=None):
    logits = judge(D, images, labels)
    value = loss_fn(logits)
    opt_D.zero_grad(set_to_none=True)
    _backward_and_step(value, opt_D, scaler)
    return logits.detach()


def _backward_and_step(value: torch.Tensor, opt: torch.optim.Optimizer,
                       scaler: torch.amp.GradScaler | None) -> None:
    if scaler is None:
        value.backward()
        opt.step()
    else:
        scaler.scale(value).backward()
        scaler.step(opt)
        scaler.update()


def g_step(D: nn.Module, opt_G: torch.optim.Optimizer, loss: Loss, fake: torch.Tensor, *,
           scaler: torch.amp.GradScaler | None = None,
           fake_labels: torch.Tensor | None = None, aux_weight: float = 1.0
           ) -> dict[str, torch.Tensor]:
    """Update G once through the (frozen) D; ``fake`` (B, C, H, W) must carry G's graph.
    ``fake_labels`` (B,) are the classes G was asked for (conditional models); a D with an
    auxiliary classifier (ACGAN) adds ``aux_weight`` x cross-entropy of its class logits on
    them to G's loss.

    D's parameters stop asking for gradients during the step (Keras' ``trainable = False``),
    which changes no result and saves D's weight gradients.
    """
    params = [p for p in D.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        logits, classes = judge_aux(D, fake, fake_labels)
        loss_g = loss.g(logits)
        if classes is not None and fake_labels is not None and aux_weight > 0:
            loss_g = loss_g + aux_weight * aux_class_loss(classes, fake_labels)
        opt_G.zero_grad(set_to_none=True)
        _backward_and_step(loss_g, opt_G, scaler)
    finally:
        for p in params:
            p.requires_grad_(True)
    return {"loss_g": loss_g.detach()}


@torch.no_grad()
def ema_update(G_ema: nn.Module, G: nn.Module, beta: float) -> None:
    """G_ema <- beta * G_ema + (1 - beta) * G for parameters; buffers are copied."""
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.lerp_(p, 1.0 - beta)
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)


def lr_factor(step: int, total_steps: int, decay_fraction: float) -> float:
    """Learning-rate multiplier for the update that follows ``step`` updates: 1, then a
    linear fall over the last ``decay_fraction`` of ``total_steps`` (the last update still
    moves, by 1/decay-steps of the full rate). 1 when there is no decay or no step budget."""
    if decay_fraction <= 0 or total_steps <= 0:
        return 1.0
    decay_steps = max(1, round(decay_fraction * total_steps))
    return min(1.0, max(total_steps - step, 1) / decay_steps)


def ema_beta(batch_size: int, half_life_kimg: float) -> float:
    """Per-step decay for an EMA whose weight halves every ``half_life_kimg`` thousand images."""
    return 0.5 ** (batch_size / (half_life_kimg * 1000.0)) if half_life_kimg > 0 else 0.0
