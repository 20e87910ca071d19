"""A hand-written training step for the fully connected G and D, used on the CPU.

The same mathematics as :func:`gankit.core.steps.d_step` followed by
:func:`gankit.core.steps.g_step`
(one D update on real + fake, then G through the updated, frozen D), for the MLPs of the
tutorial's presets; ``tests/speed/test_fast_mlp.py`` holds it to those functions and
``tests/test_exactness.py`` to the tutorial's literal step. It is faster than autograd
(``bench/throughput.py`` compares both) for two reasons:

- **Feature-major products.** oneDNN splits a product over the rows of its output. With
  64 samples, ``x Wᵀ`` (64, N) gives two threads 32 rows each, and both stream the whole
  weight; ``W xᵀ`` (N, 64) splits the 784-1024 output features, so each thread reads half
  of it. Activations are therefore
  kept as (features, batch) matrices; the weight gradient ``dYᵀ X`` reads them in place,
  and only the gradient flowing back to the layer below is computed (batch, features).
- **No autograd graph.** The backward of a stack of Linear + ReLU/LeakyReLU/Tanh/Sigmoid
  layers is written out (the activation derivatives from the saved outputs, as PyTorch's
  own ``*_backward`` kernels do), which saves the graph's bookkeeping, a visible share of
  a step this small.
  Only the loss on D's logits goes through autograd, so every loss works unchanged.

The speed machinery (:mod:`gankit.speed.paths`) builds it when :func:`fast_mlp_step`
returns one: CPU, fp32, eager, one process, unconditional MLPs without minibatch std-dev,
joint D updates, no gradient penalty, no DiffAugment or packing, no fresh noise for G,
oneDNN present (and not turned off by ``GANKIT_ONEDNN=0``), and ``train.fast_mlp`` on (the
default); the driver hands it to the kind's general step as its update. Anything else
trains through ``d_step``/``g_step``. Where both are possible, the calibration
(:mod:`gankit.speed.calibrate`) may find the general step, or this one with its products
by ``F.linear`` (MKL: ``onednn=False``), faster on the machine and use that instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gankit.core.losses import Loss
from gankit.core.models.linear import TINY, onednn_available, onednn_product
from gankit.core.models.mlp import MLPDiscriminator, MLPGenerator

_ACTIVATIONS = {nn.ReLU: "relu", nn.LeakyReLU: "leaky_relu", nn.Tanh: "tanh",
                nn.Sigmoid: "sigmoid"}


@dataclass
class Layer:
    """One Linear layer and the activation after it ("none" for the logit layer)."""

    linear: nn.Linear
    activation: str = "none"
    slope: float = 0.0  # LeakyReLU's negative slope

    @property
    def tiny(self) -> bool:
        # A 1-wide output (D's logit): oneDNN's set-up costs more than the product, and
        # there is nothing to split; it is computed (batch, 1) with F.linear.
        return self.linear.out_features <= TINY


def layers_of(net: nn.Module) -> list[Layer] | None:
    """The layers of a plain MLPGenerator/MLPDiscriminator, or None for anything this module
    cannot run exactly: another class, minibatch std-dev, parametrised (e.g. spectrally
    normalised) weights, or hooks on a layer."""
    if type(net) not in (MLPGenerator, MLPDiscriminator):
        return None
    layers: list[Layer] = []
    for module in net.model:
        if module._forward_hooks or module._forward_pre_hooks or module._backward_hooks:
            return None
        if isinstance(module, nn.Linear) and type(module.weight) is nn.Parameter \
                and "weight" in module._parameters:
            layers.append(Layer(module))
        elif type(module) in _ACTIVATIONS and layers and layers[-1].activation == "none":
            layers[-1].activation = _ACTIVATIONS[type(module)]
            layers[-1].slope = getattr(module, "negative_slope", 0.0)
        else:
            return None
    return layers or None


def _activate_(y: torch.Tensor, layer: Layer) -> torch.Tensor:
    if layer.activation == "relu":
        return y.relu_()
    if layer.activation == "leaky_relu":
        return F.leaky_relu_(y, layer.slope)
    if layer.activation == "tanh":
        return y.tanh_()
    if layer.activation == "sigmoid":
        return y.sigmoid_()
    return y


def _activation_grad(grad: torch.Tensor, out: torch.Tensor, layer: Layer) -> torch.Tensor:
    """d loss / d pre-activation from d loss / d output and the output (same layout)."""
    aten = torch.ops.aten
    if layer.activation == "relu":
        return aten.threshold_backward(grad, out, 0)
    if layer.activation == "leaky_relu":
        return aten.leaky_relu_backward(grad, out, layer.slope, True)  # out has x's sign
    if layer.activation == "tanh":
        return aten.tanh_backward(grad, out)
    if layer.activation == "sigmoid":
        return aten.sigmoid_backward(grad, out)
    return grad


def _product(a: torch.Tensor, b: torch.Tensor, onednn: bool) -> torch.Tensor:
    """a (M, K) @ b (N, K)ᵀ by oneDNN (``onednn``) or ``F.linear``; ``a`` row-major, ``b``
    in either layout."""
    return onednn_product(a, b) if onednn else F.linear(a, b)


def forward(layers: list[Layer], x: torch.Tensor, onednn: bool = True) -> list[torch.Tensor]:
    """Each layer's output for x (B, K) (row-major or a transposed view): (N, B) for
    feature-major layers, (B, N) for tiny ones. The network's output (B, N) is
    ``outputs[-1].t()`` for a feature-major last layer, ``outputs[-1]`` for a tiny one.
    ``onednn``: the large products by oneDNN, else by ``F.linear``."""
    outputs = []
    h = x  # (B, K) in either layout: the "weight" side of a oneDNN product accepts both
    for layer in layers:
        weight, bias = layer.linear.weight, layer.linear.bias
        if layer.tiny:
            y = _activate_(F.linear(h, weight, bias), layer)  # (B, N)
            h = y
        else:
            y = _product(weight, h, onednn)  # (N, B) = W hᵀ
            if bias is not None:
                y.add_(bias.unsqueeze(1))
            _activate_(y, layer)
            h = y.t()
        outputs.append(y)
    return outputs


def output_of(outputs: list[torch.Tensor], layers: list[Layer]) -> torch.Tensor:
    """The network's output (B, N) from :func:`forward`'s list."""
    return outputs[-1] if layers[-1].tiny else outputs[-1].t()


def backward(layers: list[Layer], x: torch.Tensor, outputs: list[torch.Tensor],
             grad: torch.Tensor, *, weights: bool, input_grad: bool, onednn: bool = True
             ) -> tuple[list[tuple[torch.Tensor, torch.Tensor | None]], torch.Tensor | None]:
    """Gradients for :func:`forward`'s pass, given grad (B, N_out) of the loss wrt the output
    (``onednn``: as in :func:`forward`).

    Returns ([(d weight (N, K), d bias (N,) | None)] per layer when ``weights``, else []; and
    d x (B, K) row-major when ``input_grad``, else None).
    """
    grads: list[tuple[torch.Tensor, torch.Tensor | None]] = []
    for i in range(len(layers) - 1, -1, -1):
        layer, out = layers[i], outputs[i]
        weight, has_bias = layer.linear.weight, layer.linear.bias is not None
        # this layer's input as (K, B): a feature-major output, or x itself transposed
        below = outputs[i - 1] if i > 0 else x.t()
        if i > 0 and layers[i - 1].tiny:
            below = below.t()
        wants_below = i > 0 or input_grad
        if layer.tiny:
            dy = _activation_grad(grad, out, layer)  # (B, N)
            if weights:
                grads.append((dy.t().mm(below.t()), dy.sum(0) if has_bias else None))
            if wants_below:
                grad = dy.mm(weight)  # (B, K)
            continue
        # (N, B) row-major for the weight gradient; the transposed copy is cheaper than
        # the product reading a transposed matrix.
        dy_t = _activation_grad(grad.t().contiguous(), out, layer)
        if weights:
            grads.append((_product(dy_t, below, onednn), dy_t.sum(1) if has_bias else None))
        if wants_below:
            grad = _product(dy_t.t().contiguous(), weight.t(), onednn)  # (B, K) = dY W
    grads.reverse()
    return grads, (grad if input_grad else None)


def _logit_grads(loss_fn, *logits: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The loss on D's logits and its gradient wrt each (the only autograd in the step)."""
    leaves = [t.detach().requires_grad_(True) for t in logits]
    with torch.enable_grad():
        value = loss_fn(*leaves)
        grads = torch.autograd.grad(value, leaves)
    return value.detach(), list(grads)


class FastMLPStep:
    """One training step (D update, then G update when due) of MLP G and D given as their
    :func:`layers_of`; see the module docstring. ``opt_G``/``opt_D`` are used as the loop
    built them (their state is the checkpoint's); only the gradients they read come from
    here. ``onednn``: the step's large products by oneDNN (the default), else by
    ``F.linear`` (MKL on x86); the calibration may change it on its own copies."""

    def __init__(self, g_layers: list[Layer], d_layers: list[Layer],
                 opt_G: torch.optim.Optimizer, opt_D: torch.optim.Optimizer, loss: Loss,
                 onednn: bool = True):
        self.g_layers, self.d_layers = g_layers, d_layers
        self.opt_G, self.opt_D, self.loss, self.onednn = opt_G, opt_D, loss, onednn

    @staticmethod
    def _apply(opt: torch.optim.Optimizer, layers: list[Layer], grads) -> None:
        for layer, (d_weight, d_bias) in zip(layers, grads):
            layer.linear.weight.grad = d_weight
            if d_bias is not None:
                layer.linear.bias.grad = d_bias
        opt.step()  # in a run, the lazy step of gankit.speed.lazy_imports

    @torch.no_grad()
    def __call__(self, real: torch.Tensor, z: torch.Tensor, update_g: bool = True
                 ) -> dict[str, torch.Tensor]:
        """real (B, C, H, W) in the model's range, z (B, latent) -> the same statistics as
        ``d_step`` + ``g_step``: loss_d, d_real, d_fake and (when ``update_g``) loss_g."""
        batch, onednn = real.shape[0], self.onednn
        g_out = forward(self.g_layers, z, onednn)
        fake = output_of(g_out, self.g_layers)  # (B, C*H*W)

        # D's step: one pass on real + fake (no BatchNorm here to keep them apart)
        both = torch.cat([real.flatten(1), fake])
        d_out = forward(self.d_layers, both, onednn)
        logits = output_of(d_out, self.d_layers).squeeze(1)
        real_logits, fake_logits = logits[:batch], logits[batch:]
        loss_d, (d_real_grad, d_fake_grad) = _logit_grads(self.loss.d, real_logits,
                                                          fake_logits)
        grad = torch.cat([d_real_grad, d_fake_grad]).unsqueeze(1)
        d_grads, _ = backward(self.d_layers, both, d_out, grad, weights=True,
                              input_grad=False, onednn=onednn)
        self._apply(self.opt_D, self.d_layers, d_grads)
        stats = {"loss_d": loss_d, "d_real": torch.sigmoid(real_logits).mean(),
                 "d_fake": torch.sigmoid(fake_logits).mean()}
        if not update_g:
            return stats

        # G's step through the updated D (D's weights get no gradient)
        d_out = forward(self.d_layers, fake, onednn)
        loss_g, (grad,) = _logit_grads(self.loss.g,
                                       output_of(d_out, self.d_layers).squeeze(1))
        _, fake_grad = backward(self.d_layers, fake, d_out, grad.unsqueeze(1), weights=False,
                                input_grad=True, onednn=onednn)
        g_grads, _ = backward(self.g_layers, z, g_out, fake_grad, weights=True,
                              input_grad=False, onednn=onednn)
        self._apply(self.opt_G, self.g_layers, g_grads)
        stats["loss_g"] = loss_g
        return stats


def fast_mlp_step(cfg, G_run: nn.Module, D_run: nn.Module, opt_G: torch.optim.Optimizer,
                  opt_D: torch.optim.Optimizer, loss: Loss, *, device: torch.device,
                  conditional: bool, world_size: int = 1,
                  onednn: bool = True) -> FastMLPStep | None:
    """The hand-written step for this run (its products by oneDNN when ``onednn``), or None
    when the run needs the general one.

    ``G_run``/``D_run`` are the networks as the loop calls them: any wrapper (DDP,
    autocast, DiffAugment, packing) makes them ineligible."""
    t, lo = cfg.train, cfg.loss
    if not (t.fast_mlp and device.type == "cpu" and t.precision == "fp32"
            and not (t.compile or t.cuda_graphs) and world_size == 1 and not conditional
            and t.d_updates == "joint" and not t.g_fresh_noise
            and lo.gp_weight == 0 and lo.r1_gamma == 0 and onednn_available()):
        return None
    g_layers, d_layers = layers_of(G_run), layers_of(D_run)
    if g_layers is None or d_layers is None or d_layers[-1].linear.out_features != 1:
        return None
    parameters = [p for net in (G_run, D_run) for p in net.parameters()]
    if any(p.dtype != torch.float32 or p.device.type != "cpu" for p in parameters):
        return None
    return FastMLPStep(g_layers, d_layers, opt_G, opt_D, loss, onednn)
