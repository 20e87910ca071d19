"""gankit's fast step computes the tutorial's mathematics (issue 5, "Exactness").

One step of the ``seed-mlp`` preset (gankit's MLPs, optimisers as the loop builds them,
``d_step``/``g_step`` with the logit BCE and one D pass on real+fake, and the hand-written
step of ``gankit.speed.fast_mlp`` that the loop runs on the CPU) against the tutorial's
literal §4 step (``tools/tutorial_reference.py``: Sigmoid + ``nn.BCELoss``, three D passes)
from the same weights, batch and noise; and the ``seed-keras`` recipe (two D updates, fresh
noise for G through the frozen D) against a literal Keras-style re-implementation.

Every path the calibration (``gankit.speed.calibrate``) can pick is held to the
tutorial here: either step, with oneDNN or ``F.linear`` (MKL) products, on one thread or
two (``test_every_calibrated_path_is_checked``). The general step with ``F.linear``
products on PyTorch's threads is what a run takes with the speed machinery off
(``GANKIT_SPEED=0``): each mode is held to the tutorial, so the modes agree with each other
to float32 tolerance (oneDNN and MKL round differently), not bit for bit.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gankit.config import preset
from gankit.data import to_model_range
from gankit.data.embedded import load_mnist5k
from gankit.core.models.linear import onednn_available
from gankit.speed import calibrate, products as speed_products
from gankit.speed.fast_mlp import fast_mlp_step
from gankit.core.losses import get_loss
from gankit.training.noise_to_image import make_optimisers
from gankit.core.models import build_models
from gankit.core.steps import d_step, g_step

TOL = 1e-5


@pytest.fixture(scope="module")
def ref(load_tool):
    return load_tool("tutorial_reference")


@pytest.fixture(scope="module")
def digits():
    return load_mnist5k().samples[:64]  # uint8 (64, 1, 28, 28)


# (step, oneDNN products, threads) of the float32 cases below: every path the calibration
# may choose for seed-mlp (threads: the count in use, or half of it)
PATHS_F32 = [(step, onednn, threads) for step in ("general", "fast-mlp")
             for onednn in (True, False) for threads in (1, 2)]


def _path_id(path) -> str:
    step, onednn, threads = path
    return f"{step}-{'onednn' if onednn else 'mkl'}-{threads}t"


@pytest.fixture
def products(request):
    """(oneDNN products?, threads) for the test: the thread count set, then restored; the
    test gives its layers and step the products explicitly."""
    onednn, threads = request.param
    if onednn and not onednn_available():
        pytest.skip("this PyTorch build has no oneDNN products")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    yield onednn, threads
    torch.set_num_threads(before)


@pytest.fixture
def default_dtype(request):
    """Run the test with torch's default dtype set (the literal code makes float labels)."""
    dtype = request.param
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    yield dtype
    torch.set_default_dtype(before)


def test_tutorial_transform_equals_on_device_normalisation(ref, digits):
    # The DataLoader's per-image ToTensor + Normalize(0.5, 0.5) and gankit's batch-wise
    # conversion of the uint8 tensor give bit-identical inputs.
    dataset = ref.MNIST5k(transform=ref.transform)
    theirs = torch.stack([dataset[i][0] for i in range(len(digits))])
    assert torch.equal(to_model_range(digits, "tanh"), theirs)
    unit = ref.MNIST5k(transform=ref.transforms.ToTensor())
    assert torch.equal(to_model_range(digits, "unit"),
                       torch.stack([unit[i][0] for i in range(len(digits))]))


class GradientsSeen:
    """Snapshots of the gradients each ``opt.step()`` used (an optimiser pre-hook)."""

    def __init__(self, *optimisers):
        self.grads: dict[int, torch.Tensor] = {}
        for opt in optimisers:
            opt.register_step_pre_hook(self._hook)

    def _hook(self, opt, args, kwargs):
        for group in opt.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.grads[id(p)] = p.grad.detach().clone()


def _assert_weights_close(ours: nn.Module, theirs: nn.Module, seen: GradientsSeen | None = None,
                          lr: float = 0.0) -> None:
    """Equal within TOL. With ``seen`` (float32 runs): where the gradient of the reference's
    update was below 1e-6, Adam's step lr * g / (|g| + eps) amplifies float32 rounding of g
    (any change of summation order) by up to lr / eps = 2e4, so there the bound is the
    step size itself; these are a handful of the ~2 million weights."""
    theirs_params = dict(theirs.named_parameters())
    for name, value in ours.named_parameters():
        other = theirs_params[name]
        if seen is None:
            torch.testing.assert_close(value, other, atol=TOL, rtol=0, msg=name)
            continue
        grad = seen.grads[id(other)]
        ill = grad.abs() < 1e-6
        diff = (value - other).abs()
        assert diff[~ill].max().item() <= TOL, (name, diff[~ill].max().item())
        if ill.any():
            assert diff[ill].max().item() <= 2 * lr, (name, diff[ill].max().item())
        assert (diff > TOL).sum().item() <= 5, (name, (diff > TOL).sum().item())


def _seed_mlp_pair(ref, dtype):
    cfg = preset("seed-mlp")
    torch.manual_seed(0)
    G, D = build_models(cfg.model, (1, 28, 28))
    G, D = G.to(dtype), D.to(dtype)
    opt_G, opt_D = make_optimisers(cfg, G, D)
    generator, discriminator, _, _ = ref.build_nets()
    generator.load_state_dict(G.state_dict())
    discriminator.load_state_dict(D.state_dict())  # the Sigmoid has no weights
    generator, discriminator = generator.to(dtype), discriminator.to(dtype)
    # the tutorial's optimisers, built as it builds them
    optim_G = torch.optim.Adam(generator.parameters(), lr=ref.learning_rate)
    optim_D = torch.optim.Adam(discriminator.parameters(), lr=ref.learning_rate)
    for ours, theirs in ((opt_G, optim_G), (opt_D, optim_D)):
        for key in ("lr", "betas", "eps", "weight_decay", "amsgrad"):
            assert ours.defaults[key] == theirs.defaults[key], key
    return cfg, (G, D, opt_G, opt_D), (generator, discriminator, optim_G, optim_D)


@pytest.mark.parametrize(
    "default_dtype, steps, products",
    [(torch.float64, 3, (False, 1))] + [(torch.float32, 1, (onednn, threads))
                                        for step, onednn, threads in PATHS_F32
                                        if step == "general"],
    indirect=["default_dtype", "products"],
    ids=["float64-3steps"] + [f"float32-1step-{_path_id(p)}" for p in PATHS_F32
                              if p[0] == "general"])
def test_seed_mlp_step_matches_tutorial(ref, digits, default_dtype, steps, products):
    """float64: the mathematics (losses and weights within 1e-5 after 3 steps); float32:
    ``d_step``/``g_step`` as the loop runs them (fused Adam), with oneDNN or ``F.linear``
    (MKL) products, on one thread or two."""
    dtype = default_dtype
    cfg, (G, D, opt_G, opt_D), theirs = _seed_mlp_pair(ref, dtype)
    speed_products.select([G, D], products[0])  # as the speed machinery sets a run's layers
    generator, discriminator, optim_G, optim_D = theirs
    seen = GradientsSeen(optim_G, optim_D) if dtype == torch.float32 else None
    loss = get_loss(cfg.loss.name)

    real = to_model_range(digits, cfg.data.value_range).to(dtype)
    for i in range(steps):
        z = torch.randn(64, cfg.model.latent_dim, generator=torch.Generator().manual_seed(i),
                        dtype=dtype)
        fake = G(z)
        stats = d_step(D, opt_D, loss, real, fake, separate=False)
        stats.update(g_step(D, opt_G, loss, fake))

        loss_D, loss_G = ref.literal_step(generator, discriminator, optim_G, optim_D, real, z)
        torch.testing.assert_close(stats["loss_d"], loss_D.detach(), atol=TOL, rtol=0)
        torch.testing.assert_close(stats["loss_g"], loss_G.detach(), atol=TOL, rtol=0)
    _assert_weights_close(G, generator, seen, cfg.optim.lr_g)
    _assert_weights_close(D, discriminator, seen, cfg.optim.lr_d)
    if dtype == torch.float64:  # Adam's moments match too, so later steps would as well
        for ours, theirs_opt in ((opt_G, optim_G), (opt_D, optim_D)):
            for p_state, q_state in zip(ours.state.values(), theirs_opt.state.values()):
                for key in ("exp_avg", "exp_avg_sq"):
                    torch.testing.assert_close(p_state[key], q_state[key], atol=TOL, rtol=0)


@pytest.mark.parametrize("products", [(o, t) for s, o, t in PATHS_F32 if s == "fast-mlp"],
                         indirect=True,
                         ids=[_path_id(p) for p in PATHS_F32 if p[0] == "fast-mlp"])
def test_seed_mlp_fast_step_matches_tutorial(ref, digits, products):
    """The hand-written step the loop runs for seed-mlp on the CPU (gankit.speed.fast_mlp) against
    the tutorial's literal step, in float32 as the loop runs it (oneDNN has no float64
    products; over several steps ``test_fast_mlp.py`` holds it to ``d_step``/``g_step``,
    whose mathematics the float64 test above checks): its products by oneDNN, or by
    ``F.linear`` (MKL) when the calibration finds that faster; one thread or two."""
    onednn, _ = products
    cfg, (G, D, opt_G, opt_D), theirs = _seed_mlp_pair(ref, torch.float32)
    generator, discriminator, optim_G, optim_D = theirs
    fast = fast_mlp_step(cfg, G, D, opt_G, opt_D, get_loss(cfg.loss.name),
                         device=torch.device("cpu"), conditional=False, onednn=onednn)
    assert fast is not None, "seed-mlp must take the hand-written step on the CPU"
    assert fast.onednn is onednn
    seen = GradientsSeen(optim_G, optim_D)
    real = to_model_range(digits, cfg.data.value_range)
    z = torch.randn(64, cfg.model.latent_dim, generator=torch.Generator().manual_seed(0))
    stats = fast(real, z)
    loss_D, loss_G = ref.literal_step(generator, discriminator, optim_G, optim_D, real, z)
    torch.testing.assert_close(stats["loss_d"], loss_D.detach(), atol=TOL, rtol=0)
    torch.testing.assert_close(stats["loss_g"], loss_G.detach(), atol=TOL, rtol=0)
    _assert_weights_close(G, generator, seen, cfg.optim.lr_g)
    _assert_weights_close(D, discriminator, seen, cfg.optim.lr_d)


def test_every_calibrated_path_is_checked(monkeypatch):
    """The calibration's candidates for seed-mlp (on two threads, the most it offers here)
    are all among the float32 cases above."""
    monkeypatch.delenv("GANKIT_ONEDNN", raising=False)
    cfg = preset("seed-mlp")
    _, candidates = calibrate.options(cfg, torch.device("cpu"), 1, fast=True,
                                      onednn=speed_products.library(), threads=2)
    assert len(candidates) > 1 or not onednn_available()
    for choice in candidates:
        assert (choice.step, choice.onednn, choice.threads) in PATHS_F32, choice


# --- the Keras recipe (§5), written out literally in PyTorch ----------------------------------

def _keras_nets():
    generator = nn.Sequential(nn.Linear(100, 128), nn.ReLU(), nn.Linear(128, 784), nn.Sigmoid())
    discriminator = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 1),
                                  nn.Sigmoid())
    return generator, discriminator


def _keras_step(generator, discriminator, d_opt, gan_opt, real_samples, noise, noise_g):
    """The tutorial's §5 loop body: two ``train_on_batch`` calls on D, then the combined
    model (G then the frozen D) trained on fresh noise with real labels."""
    bce = nn.BCELoss()
    batch = real_samples.shape[0]
    real_samples = real_samples.reshape(batch, 784)
    with torch.no_grad():
        generated_samples = generator(noise)  # generator.predict(noise)
    labels_real = torch.ones(batch, 1)
    labels_fake = torch.zeros(batch, 1)

    def train_on_batch(model, opt, x, y):
        opt.zero_grad()
        value = bce(model(x), y)
        value.backward()
        opt.step()
        return value.detach()

    d_loss_real = train_on_batch(discriminator, d_opt, real_samples, labels_real)
    d_loss_fake = train_on_batch(discriminator, d_opt, generated_samples, labels_fake)
    for p in discriminator.parameters():  # discriminator.trainable = False
        p.requires_grad_(False)
    combined = lambda z: discriminator(generator(z))  # noqa: E731  (model_gan)
    g_loss = train_on_batch(combined, gan_opt, noise_g, labels_real)
    for p in discriminator.parameters():
        p.requires_grad_(True)
    return d_loss_real, d_loss_fake, g_loss


@pytest.mark.parametrize("default_dtype, steps", [(torch.float64, 2), (torch.float32, 1)],
                         indirect=["default_dtype"], ids=["float64-2steps", "float32-1step"])
def test_seed_keras_step_matches_keras_recipe(digits, default_dtype, steps):
    dtype = default_dtype
    cfg = preset("seed-keras")
    assert cfg.train.d_updates == "separate" and cfg.train.g_fresh_noise
    torch.manual_seed(0)
    G, D = build_models(cfg.model, (1, 28, 28))
    G, D = G.to(dtype), D.to(dtype)
    opt_G, opt_D = make_optimisers(cfg, G, D)
    loss = get_loss(cfg.loss.name)

    generator, discriminator = _keras_nets()
    generator.load_state_dict(G.model.state_dict())
    discriminator.load_state_dict(D.model.state_dict())
    # Keras' Adam defaults: lr 1e-3, betas 0.9/0.999, epsilon 1e-7.
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=1e-3, eps=1e-7)
    gan_opt = torch.optim.Adam(generator.parameters(), lr=1e-3, eps=1e-7)
    seen = GradientsSeen(d_opt, gan_opt) if dtype == torch.float32 else None

    real = to_model_range(digits, cfg.data.value_range).to(dtype)
    for i in range(steps):
        z = torch.randn(64, 100, generator=torch.Generator().manual_seed(2 * i))
        z_g = torch.randn(64, 100, generator=torch.Generator().manual_seed(2 * i + 1))
        stats = d_step(D, opt_D, loss, real, G(z), separate=True)
        stats.update(g_step(D, opt_G, loss, G(z_g)))

        d_real, d_fake, g_loss = _keras_step(generator, discriminator, d_opt, gan_opt, real, z,
                                             z_g)
        # gankit reports D's loss as real + fake terms (each from its own update's forward).
        torch.testing.assert_close(stats["loss_d"], d_real + d_fake, atol=TOL, rtol=0)
        torch.testing.assert_close(stats["loss_g"], g_loss, atol=TOL, rtol=0)
    _assert_weights_close(G.model, generator, seen, cfg.optim.lr_g)
    _assert_weights_close(D.model, discriminator, seen, cfg.optim.lr_d)
