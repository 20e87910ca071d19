"""Kept only for :mod:`gankit.training.translation_steps`, which still imports
:func:`optimizer_step` from here.

The lazy import of torch's compiler is the speed machinery's now
(:mod:`gankit.speed.lazy_imports`): in a training run it gives the run's optimisers a
``step`` that skips importing ``torch._dynamo``, so a plain ``opt.step()`` is what every
step calls. Delete this module once that caller says ``opt.step()`` itself.
"""

from __future__ import annotations

import torch


def optimizer_step(opt: torch.optim.Optimizer) -> None:
    """``opt.step()``."""
    opt.step()
