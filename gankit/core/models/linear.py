"""``Linear``: ``nn.Linear`` whose fp32 CPU matrix products may go through oneDNN.

Same function, same parameters, same state-dict names as ``nn.Linear`` (y = x Wᵀ + b); only
the library that multiplies may change. On x86 CPUs PyTorch sends fp32 ``addmm`` to MKL,
whose kernels on AMD processors use AVX2 only; oneDNN uses AVX-512 there, which makes the
MLPs' products (64-128 rows) markedly faster. The result differs from MKL's by float32
rounding only (summation order), and ``tests/test_exactness.py`` holds gankit's step to the
tutorial's within 1e-5.

Which library a layer uses is its own explicit setting, ``onednn`` (a constructor argument
and an attribute), never a switch of the process: a layer built without it computes exactly
as ``nn.Linear`` does. The speed machinery (:mod:`gankit.speed.products`) sets it on the
networks of a training run where oneDNN is present and faster; ``GANKIT_ONEDNN=0`` is read
there, not here. With ``onednn=True`` the oneDNN path is taken only for float32 2-D inputs
on the CPU outside autocast and ``torch.compile``, and for products whose sides all exceed
``TINY``; everything else (CUDA, bf16/fp16, 3-D inputs, builds without oneDNN, tiny
products) is plain ``F.linear``. The backward pass is built from the same differentiable
product, so double backward (gradient penalties) works.

:func:`onednn_product` is the one place that calls PyTorch's private oneDNN operator (the
hand-written MLP step in :mod:`gankit.speed.fast_mlp` uses it too); :func:`onednn_available`
says whether that operator works in this PyTorch build (probed once).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_available: bool | None = None  # whether the oneDNN operator works here (probed once)
# Products with a side this short (D's 1-wide output layer and its gradients) go to
# F.linear: oneDNN's set-up for each call costs several times MKL's, more than such a
# product takes.
TINY = 16


def _dense(t: torch.Tensor) -> torch.Tensor:
    # oneDNN reads row- or column-major matrices; anything else (expanded gradients of a
    # mean have stride 0) is copied first.
    return t if t.is_contiguous() or t.t().is_contiguous() else t.contiguous()


def onednn_product(a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor | None = None
                   ) -> torch.Tensor:
    """a (M, K) @ b (N, K)ᵀ + bias (N,) -> (M, N) by PyTorch's private oneDNN operator
    (either side may be a transposed view). Callers check :func:`onednn_available` first."""
    return torch.ops.mkldnn._linear_pointwise(_dense(a), _dense(b), bias, "none", [None], "")


def onednn_available() -> bool:
    """Whether this PyTorch build has oneDNN's linear and it agrees with ``F.linear``
    (probed once)."""
    global _available
    if _available is None:
        try:
            generator = torch.Generator().manual_seed(0)
            x = torch.randn(5, 7, generator=generator)
            w = torch.randn(3, 7, generator=generator)
            b = torch.randn(3, generator=generator)
            _available = bool(torch.backends.mkldnn.is_available() and torch.allclose(
                onednn_product(x, w, b), F.linear(x, w, b), atol=1e-5)
                and torch.allclose(onednn_product(x.t(), x.t(), None), x.t() @ x, atol=1e-5))
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
            grad_x = linear(grad, weight.t(), onednn=True)  # (M, N) @ (N, K)
        if ctx.needs_input_grad[1]:
            grad_w = linear(grad.t(), x.t(), onednn=True)  # (N, M) @ (M, K)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum(0)
        return grad_x, grad_w, grad_b


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
           onednn: bool = False) -> torch.Tensor:
    """``F.linear`` (x (M, K), weight (N, K), bias (N,) -> (M, N)); with ``onednn``, by
    oneDNN where it applies (see the module docstring for when)."""
    if (onednn and x.dim() == 2 and x.dtype == torch.float32
            and weight.dtype == torch.float32
            and min(x.shape[0], x.shape[1], weight.shape[0]) > TINY
            and x.device.type == "cpu" and weight.device.type == "cpu"
            and (bias is None or bias.dtype == torch.float32)
            and not torch.is_autocast_enabled("cpu")
            and not torch.compiler.is_compiling() and onednn_available()):
        return _OneDNNLinear.apply(x, weight, bias)
    return F.linear(x, weight, bias)


class Linear(nn.Linear):
    """``nn.Linear`` (same parameters and state dict) computed by :func:`linear`;
    ``onednn``: its products by oneDNN where that applies (default: as ``nn.Linear``)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None, onednn: bool = False):
        super().__init__(in_features, out_features, bias, device, dtype)
        self.onednn = onednn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias, self.onednn)

    def extra_repr(self) -> str:
        return super().extra_repr() + (", onednn=True" if self.onednn else "")
