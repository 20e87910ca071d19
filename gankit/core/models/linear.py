"""``Linear``: ``nn.Linear`` whose fp32 CPU matrix products go through oneDNN.

Same function, same parameters, same state-dict names as ``nn.Linear`` (y = x Wᵀ + b); only
the library that multiplies changes. On x86 CPUs PyTorch sends fp32 ``addmm`` to MKL, whose
kernels on AMD processors use AVX2 only; oneDNN uses AVX-512 there, and measured on this
project's 2-core machine the MLP's products (64-128 rows) run about 2x faster with it. The
result differs from MKL's by float32 rounding only (summation order), and
``tests/test_exactness.py`` holds gankit's step to the tutorial's within 1e-5.

The fast path is taken only for float32 2-D inputs on the CPU outside autocast and
``torch.compile``, and for products whose sides all exceed ``TINY``; everything else
(CUDA, bf16/fp16, 3-D inputs, builds without oneDNN, tiny products) is plain ``F.linear``.
The backward pass is built from the same differentiable product, so double backward
(gradient penalties) works.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_available: bool | None = None
# Products with a side this short (D's 1-wide output layer and its gradients) go to
# F.linear: oneDNN spends ~13 us setting up each call, MKL ~3 us (measured on 2 cores).
TINY = 16


def _onednn(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """x (M, K) @ weight (N, K)ᵀ + bias (N,) by oneDNN; transposed views are accepted."""
    return torch.ops.mkldnn._linear_pointwise(_dense(x), _dense(weight), bias, "none", [None],
                                              "")


def _dense(t: torch.Tensor) -> torch.Tensor:
    # oneDNN reads row- or column-major matrices; anything else (expanded gradients of a
    # mean have stride 0) is copied first.
    return t if t.is_contiguous() or t.t().is_contiguous() else t.contiguous()


def onednn_available() -> bool:
    """Whether this PyTorch build has oneDNN's linear and it agrees with ``F.linear``."""
    global _available
    if _available is None:
        try:
            generator = torch.Generator().manual_seed(0)
            x = torch.randn(5, 7, generator=generator)
            w = torch.randn(3, 7, generator=generator)
            b = torch.randn(3, generator=generator)
            _available = bool(torch.backends.mkldnn.is_available() and torch.allclose(
                _onednn(x, w, b), F.linear(x, w, b), atol=1e-5)
                and torch.allclose(_onednn(x.t(), x.t(), None), x.t() @ x, atol=1e-5))
        except (RuntimeError, AttributeError, TypeError):
            _available = False
    return _available


class _OneDNNLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _onednn(x, weight, bias)

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
