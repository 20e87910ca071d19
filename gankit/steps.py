"""One update each: ``d_step``, ``g_step``, ``ema_update``.

Plain functions of (networks, optimiser, batch, loss) that tests call directly. They return
detached 0-d tensors rather than floats so that a step never waits for the device; the loop
reads them back only when it logs.
"""

from __future__ import annotations

import torch
from torch import nn

from .losses import Loss


def has_batch_norm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def discriminate(D: nn.Module, real: torch.Tensor, fake: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (B_real,), (B_fake,) for both batches.

    One forward pass on the concatenated batch is cheaper; a D with BatchNorm needs separate
    passes, since mixing real and fake would change its batch statistics.
    """
    if has_batch_norm(D):
        return D(real), D(fake)
    logits = D(torch.cat([real, fake]))
    return logits[: real.shape[0]], logits[real.shape[0]:]


def d_step(D: nn.Module, opt_D: torch.optim.Optimizer, loss: Loss, real: torch.Tensor,
           fake: torch.Tensor, separate: bool = False) -> dict[str, torch.Tensor]:
    """Update D once on real (B, C, H, W) and fake (B', C, H, W) images.

    ``separate=True`` is the Keras recipe: one optimiser step on the real batch, then one on
    the fake batch (two ``train_on_batch`` calls). Returns loss_d, d_real, d_fake where
    d_real/d_fake are mean sigmoid(D(.)), the tutorial's D(x) and D(G(z)).
    """
    fake = fake.detach()
    if separate:
        real_logits = _separate_update(D, opt_D, loss.d_real, real)
        fake_logits = _separate_update(D, opt_D, loss.d_fake, fake)
        loss_d = loss.d(real_logits, fake_logits)
    else:
        real_logits, fake_logits = discriminate(D, real, fake)
        loss_d = loss.d(real_logits, fake_logits)
        opt_D.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_D.step()
    return {"loss_d": loss_d.detach(), "d_real": torch.sigmoid(real_logits.detach()).mean(),
            "d_fake": torch.sigmoid(fake_logits.detach()).mean()}


def _separate_update(D, opt_D, loss_fn, images):
    logits = D(images)
    value = loss_fn(logits)
    opt_D.zero_grad(set_to_none=True)
    value.backward()
    opt_D.step()
    return logits.detach()


def g_step(D: nn.Module, opt_G: torch.optim.Optimizer, loss: Loss, fake: torch.Tensor
           ) -> dict[str, torch.Tensor]:
    """Update G once through the (frozen) D; ``fake`` (B, C, H, W) must carry G's graph.

    D's parameters stop asking for gradients during the step (Keras' ``trainable = False``),
    which changes no result and saves D's weight gradients.
    """
    flags = [p.requires_grad for p in D.parameters()]
    for p in D.parameters():
        p.requires_grad_(False)
    try:
        loss_g = loss.g(D(fake))
        opt_G.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_G.step()
    finally:
        for p, flag in zip(D.parameters(), flags):
            p.requires_grad_(flag)
    return {"loss_g": loss_g.detach()}


@torch.no_grad()
def ema_update(G_ema: nn.Module, G: nn.Module, beta: float) -> None:
    """G_ema <- beta * G_ema + (1 - beta) * G for parameters; buffers are copied."""
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.lerp_(p, 1.0 - beta)
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)


def ema_beta(batch_size: int, half_life_kimg: float) -> float:
    """Per-step decay for an EMA whose weight halves every ``half_life_kimg`` thousand images."""
    return 0.5 ** (batch_size / (half_life_kimg * 1000.0)) if half_life_kimg > 0 else 0.0
