"""Kept only for ``tests/training/test_reliability.py``, which imports :class:`FastMLPStep`
from here: the hand-written MLP step is the speed machinery's, :mod:`gankit.speed.fast_mlp`.
Delete this module once that import names ``gankit.speed.fast_mlp``."""

from gankit.speed.fast_mlp import FastMLPStep

__all__ = ["FastMLPStep"]
