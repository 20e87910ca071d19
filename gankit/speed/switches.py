"""The environment switches of the speed machinery, read when they are asked (so that a test or
a long-lived process may change them between runs):

- ``GANKIT_SPEED=0``: the whole machinery off; plain PyTorch with the kind's general step;
- ``GANKIT_ONEDNN=0|1``: the user's choice of product library (0: plain ``F.linear``, MKL on
  x86; 1: oneDNN where present); unset, the machinery picks;
- ``GANKIT_CALIBRATE=0``: no timing, the fixed choice (as ``train.calibrate=false``).
"""

from __future__ import annotations

import os

SPEED_ENV, ONEDNN_ENV, CALIBRATE_ENV = "GANKIT_SPEED", "GANKIT_ONEDNN", "GANKIT_CALIBRATE"
_OFF = ("0", "false", "off", "no")


def is_off(name: str) -> bool:
    """Whether the environment variable ``name`` says off (0, false, off, no)."""
    return os.environ.get(name, "1").strip().lower() in _OFF


def speed_on() -> bool:
    """Whether the speed machinery runs (``GANKIT_SPEED`` not off)."""
    return not is_off(SPEED_ENV)


def off_reason() -> str:
    """How the machinery was turned off, as the user wrote it."""
    return f"{SPEED_ENV}={os.environ.get(SPEED_ENV, '')}"


def onednn_setting() -> bool | None:
    """The user's product library: False (``GANKIT_ONEDNN`` off), True (set to anything
    else) or None (unset: the machinery's choice)."""
    if ONEDNN_ENV not in os.environ:
        return None
    return not is_off(ONEDNN_ENV)
