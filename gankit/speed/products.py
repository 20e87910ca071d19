"""The oneDNN product: which library a run's gankit ``Linear`` layers multiply with.

The layer (:class:`gankit.core.models.linear.Linear`) stays a core layer whose library is its
own explicit setting; this module decides the setting for a run and writes it into the
run's networks (:func:`select`), and into the hand-written step's products
(:class:`gankit.speed.fast_mlp.FastMLPStep`'s ``onednn``). Nothing here is a switch of the
process: two runs in one process may multiply differently.

- :func:`library`: oneDNN (True) where this PyTorch has it and the user did not say
  ``GANKIT_ONEDNN=0``; plain ``F.linear`` (False, MKL on x86) otherwise;
- :func:`switchable`: whether a run's products are gankit ``Linear`` ones that the library
  changes (CPU, fp32, eager); elsewhere the layers stay as built (``F.linear``).
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from gankit.core.models.linear import Linear, onednn_available
from gankit.speed import switches


def library() -> bool:
    """oneDNN products (True) or ``F.linear`` (False): the user's ``GANKIT_ONEDNN``, else
    oneDNN wherever this PyTorch build has it."""
    setting = switches.onednn_setting()
    return onednn_available() and setting is not False


def user_fixed() -> bool:
    """Whether the user named the library (``GANKIT_ONEDNN`` set): the calibration then
    never tries the other one."""
    return switches.onednn_setting() is not None


def layers(nets: Iterable[nn.Module]) -> list[Linear]:
    """Every gankit ``Linear`` layer of ``nets``."""
    return [m for net in nets if net is not None for m in net.modules() if isinstance(m, Linear)]


def switchable(cfg, device: torch.device, nets: Iterable[nn.Module]) -> bool:
    """Whether the run's products go through gankit's ``Linear`` (CPU, fp32, eager)."""
    t = cfg.train
    return (device.type == "cpu" and t.precision == "fp32" and not (t.compile or t.cuda_graphs)
            and bool(layers(nets)))


def select(nets: Iterable[nn.Module], onednn: bool) -> None:
    """Every gankit ``Linear`` of ``nets`` multiplies by oneDNN (``onednn``) or ``F.linear``."""
    for layer in layers(nets):
        layer.onednn = onednn
