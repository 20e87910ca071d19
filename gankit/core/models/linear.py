"""``Linear``: ``nn.Linear`` whose fp32 CPU matrix products go through oneDNN.

Same function, same parameters, same state-dict names as ``nn.Linear`` (y = x Wᵀ + b); only
the library that multiplies changes. On x86 CPUs PyTorch sends fp32 ``addmm`` to MKL, whose
kernels on AMD processors use AVX2 only; oneDNN uses AVX-512 there, which makes the MLPs'
products (64-128 rows) markedly faster. The result differs from MKL's by float32 rounding
only (summation order), and ``tests/test_exactness.py`` holds gankit's step to the
tutorial's within 1e-5.

The fast path is taken only for float32 2-D inputs on the CPU outside autocast and
``torch.compile``, and for products whose sides all exceed ``TINY``; everything else
(CUDA, bf16/fp16, 3-D inputs, builds without oneDNN, tiny products) is plain ``F.linear``.
The backward pass is built from the same differentiable product, so double backward
(gradient penalties) works.

:func:`onednn_product` is the one place that calls PyTorch's private oneDNN operator (the
hand-written MLP step in :mod:`gankit.training.fast_mlp` uses it too). The reference switch
sends every product through plain ``F.linear`` instead: ``GANKIT_ONEDNN=0`` in the
environment (read once, at import), or :func:`use_onednn` ``(False)`` at run time, e.g. in
tests; :func:`onednn_available` is False while it is off.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

_available: bool | None = None  # whether the oneDNN operator works here (probed once)
_enabled = os.environ.get("GANKIT_ONEDNN", "1").strip().lower() not in ("0", "false", "off",
                                                                      "no")
# Products with a side this short (D's 1-wide output layer and its gradients) go to
# F.linear: oneDNN's set-up for each call costs several times MKL's, more than such a
# product takes.
TINY = 16


def _onednn_op(a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """a (M, K) @ b (N, K)ᵀ + bias (N,) by PyTorch's private oneDNN operator."""
    return torch.ops.mkldnn._linear_pointwise(_dense(a), _dense(b), bias, "none", [None], "")


def _dense(t: torch.Tensor) -> torch.Tensor:
    # oneDNN reads row- or column-major matrices; anything else (expanded gradients of a
    # mean have stride 0) is copied first.
    return t if t.is_contiguous() or t.t().is_contiguous() else t.contiguous()


def onednn_product(a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor | None = None
                   ) -> torch.Tensor:
    """a (M, K) @ b (N, K)ᵀ + bias (N,) -> (M, N): by oneDNN (either side may be a
    transposed view), or by ``F.linear`` while the reference switch is off
    (:func:`use_onednn`). Callers check :func:`onednn_available` first."""
    if not _enabled:
        return F.linear(a, b, bias)
    return _onednn_op(a, b, bias)


class use_onednn:
    """Turn the oneDNN products on or off: ``use_onednn(False)`` sends every product through
    ``F.linear`` from now on; ``with use_onednn(False): ...`` does so inside the block only
    (the previous setting comes back after it)."""

    def __init__(self, enabled: bool = True):
        global _enabled
        self.previous, _enabled = _enabled, bool(enabled)

    def __enter__(self) -> "use_onednn":
        return self

    def __exit__(self, *exc) -> None:
        global _enabled
        _enabled = self.previous


def onednn_available() -> bool:
    """Whether products go to oneDNN: the switch is on, this PyTorch build has oneDNN's
    linear, and it agrees with ``F.linear`` (probed once)."""
    global _available
    if not _enabled:
        return False
    if _available is None:
        try:
            generator = torch.Generator().manual_seed(0)
            x = torch.randn(5, 7, generator=generator)
            w = torch.randn(3, 7, generator=generator)
            b = torch.randn(3, generator=generator)
            _available = bool(torch.backends.mkldnn.is_available() and torch.allclose(
                _onednn_op(x, w, b), F.linear(x, w, b), atol=1e-5)
                and torch.allclose(_onednn_op(x.t(), x.t(), None), x.t() @ x, atol=1e-5))
        except (RuntimeError, AttributeError, TypeError):
            _available = False
    return _available


class _OneDNNLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return onednn_product(x, weight, bias)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = linear(grad, weight.t())  # (M, N) @ (N, K)
        if ctx.needs_input_grad[1]:
            grad_w = linear(grad.t(), x.t())  # (N, M) @ (M, K)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum(0)
        return grad_x, grad_w, grad_b


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
           ) -> torch.Tensor:
    """``F.linear`` (x (M, K), weight (N, K), bias (N,) -> (M, N)), by oneDNN where it is
    faster; see the module docstring for when."""
    if (x.dim() == 2 and x.dtype == torch.float32 and weight.dtype == torch.float32
            and min(x.shape[0], x.shape[1], weight.shape[0]) > TINY
            and x.device.type == "cpu" and weight.device.type == "cpu"
            and (bias is None or bias.dtype == torch.float32)
            and not torch.is_autocast_enabled("cpu")
            and not torch.compiler.is_compiling() and onednn_available()):
        return _OneDNNLinear.apply(x, weight, bias)
    return F.linear(x, weight, bias)


class Linear(nn.Linear):
    """``nn.Linear`` (same parameters and state dict) computed by :func:`linear`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)
