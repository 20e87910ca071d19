"""Named recipes (``gankit list presets``), each a function returning a whole :class:`Config`.

A preset's name and description are those of the config it returns, so they are written
once; :data:`PRESETS` keeps them in the order ``gankit list presets`` shows.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from gankit.config.schema import (Config, DataConfig, LossConfig, ModelConfig, OptimConfig,
                                  TrainConfig, TranslationConfig)
from gankit.errors import UserError
from gankit.registry import Registry

PRESETS: Registry[Callable[[], Config]] = Registry("preset")


def _preset(make: Callable[[], Config]) -> Callable[[], Config]:
    """Register ``make`` under the name and description of the config it returns."""
    cfg = make()
    PRESETS.add(cfg.preset, make, cfg.description)
    return make


def preset(name: str) -> Config:
    """Return the named preset's config; unknown names raise :class:`UserError`."""
    try:
        make = PRESETS[name]
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return make()


@_preset
def _default() -> Config:
    return Config(
        preset="default",
        description="class-conditional DCGAN (one-hot G, projection D) with EMA, batch 32, "
        "non-saturating loss on logits, Adam(0.5, 0.999); good digits of every class from the "
        "5,000 embedded digits in 5 CPU minutes",
        model=ModelConfig(name="dcgan", g_channels=64, d_channels=64, init="dcgan",
                          conditional=True),
        loss=LossConfig(name="ns"),
        optim=OptimConfig(lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999),
        train=TrainConfig(batch_size=32, steps=12000, minutes=5.0, ema_kimg=5.0,
                          sample_every=1000, checkpoint_every=2000, log_every=100),
    )


@_preset
def _dcgan() -> Config:
    return Config(
        preset="dcgan",
        description="plain DCGAN: two conv layers each side, non-saturating loss, Adam 2e-4 "
        "(0.5, 0.999), batch 64, no EMA, unconditional",
        model=ModelConfig(name="dcgan", g_channels=64, d_channels=64, init="dcgan"),
        loss=LossConfig(name="ns"),
        optim=OptimConfig(lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999),
        train=TrainConfig(batch_size=64, epochs=25, sample_every=500, checkpoint_every=1000,
                          log_every=50),
    )


@_preset
def _wgan_gp() -> Config:
    return Config(
        preset="wgan-gp",
        description="WGAN-GP (Gulrajani et al. 2017): DCGAN nets, Wasserstein loss, gradient "
        "penalty 10, 5 critic steps per G step, Adam 1e-4 (0, 0.9), batch 64",
        model=ModelConfig(name="dcgan", init="dcgan"),
        loss=LossConfig(name="wasserstein", gp_weight=10.0),
        optim=OptimConfig(lr_g=1e-4, lr_d=1e-4, beta1=0.0, beta2=0.9),
        train=TrainConfig(batch_size=64, steps=20000, n_critic=5, sample_every=1000,
                          checkpoint_every=2000, log_every=100),
    )


@_preset
def _sngan_hinge() -> Config:
    return Config(
        preset="sngan-hinge",
        description="SNGAN (Miyato et al. 2018): ResNet G/D, spectral norm on D, hinge loss, "
        "5 D steps per G step, Adam 2e-4 (0, 0.9), batch 64 (a GPU recipe; slow on CPU)",
        model=ModelConfig(name="resnet", g_channels=64, d_channels=64, d_norm="spectral",
                          init="glorot"),
        loss=LossConfig(name="hinge"),
        optim=OptimConfig(lr_g=2e-4, lr_d=2e-4, beta1=0.0, beta2=0.9),
        train=TrainConfig(batch_size=64, steps=50000, n_critic=5, sample_every=1000,
                          checkpoint_every=2000, log_every=100),
    )


@_preset
def _lsgan() -> Config:
    return Config(
        preset="lsgan",
        description="LSGAN (Mao et al. 2017): DCGAN nets, least-squares loss, Adam 2e-4 "
        "(0.5, 0.999), batch 64",
        model=ModelConfig(name="dcgan", init="dcgan"),
        loss=LossConfig(name="lsgan"),
        optim=OptimConfig(lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999),
        train=TrainConfig(batch_size=64, epochs=25, sample_every=500, checkpoint_every=1000,
                          log_every=50),
    )


@_preset
def _cgan_projection() -> Config:
    return replace(
        _default(), preset="cgan-projection",
        description="class-conditional DCGAN: one-hot class in G, projection D (Miyato & "
        "Koyama 2018), EMA, batch 32, non-saturating loss, Adam 2e-4 (0.5, 0.999); sample "
        "with --class K (the same recipe as the default preset)")


@_preset
def _acgan() -> Config:
    base = _default()
    return replace(
        base, preset="acgan",
        description="ACGAN (Odena et al. 2017): conditional DCGAN G, D with an auxiliary "
        "classifier (cross-entropy on real labels for D, on requested labels for G), EMA, "
        "batch 32, Adam 2e-4 (0.5, 0.999)",
        model=replace(base.model, name="acgan", conditional=True, aux_classifier=True))


@_preset
def _emoji64() -> Config:
    base = _default()
    return replace(
        base, preset="emoji64",
        description="64x64 colour: the default preset's class-conditional DCGAN (one-hot G, "
        "projection D) at 64 px with 32 channels (G 256-128-64-32, D 32-64-128-256), "
        "DiffAugment (color, translation, cutout), lazy R1 (gamma 0.5, every 16 steps), "
        "EMA, batch 32, bf16 where the CPU or GPU has it natively (--precision auto); "
        "emoji-google by default (--data DIR for your own, 3-channel, 64 px)",
        data=DataConfig(name="emoji-google", image_size=64, channels=3),
        model=replace(base.model, g_channels=32, d_channels=32),
        # R1 0.5, not 0.05: at 0.05 D grew ever more sure of the 3,781 real emoji after about
        # 160k images and FID rose again; 0.5 held FID on emoji-twitter (the tuning set; the
        # benchmark scores emoji-google) falling to the end of 30 minutes.
        loss=replace(base.loss, r1_gamma=0.5, r1_every=16),
        # auto: bf16 only on hardware that multiplies it natively (1.6x the steps of fp32 on
        # an AVX512-BF16 CPU here); fp32 everywhere else, so nothing gets slower.
        train=replace(base.train, steps=0, minutes=30.0, ema_kimg=10.0, precision="auto",
                      diffaugment="color,translation,cutout", sample_every=2000,
                      checkpoint_every=2000, log_every=100))


@_preset
def _seed_mlp() -> Config:
    return Config(
        preset="seed-mlp",
        description="tutorial §4: MLP G 100-256-512-1024-784, D 784-512-256-1, BCE, Adam 2e-4, "
        "batch 64, 100 epochs",
        model=ModelConfig(name="mlp", g_hidden=(256, 512, 1024), d_hidden=(512, 256),
                          d_activation="leaky_relu", output="tanh", init="default"),
        loss=LossConfig(name="bce"),
        optim=OptimConfig(lr_g=2e-4, lr_d=2e-4, beta1=0.9, beta2=0.999, eps=1e-8),
        train=TrainConfig(batch_size=64, epochs=100, drop_last=False, grid_size=16,
                          sample_every=0, checkpoint_every=0, log_every=20),
    )


@_preset
def _seed_keras() -> Config:
    return Config(
        preset="seed-keras",
        description="tutorial §5 (Keras): Dense G 100-128-784 sigmoid, D 784-128-1, data in "
        "[0, 1], Adam 1e-3, two D updates then G through the frozen D",
        data=DataConfig(value_range="unit"),
        model=ModelConfig(name="mlp", g_hidden=(128,), d_hidden=(128,), d_activation="relu",
                          output="sigmoid", init="glorot"),
        loss=LossConfig(name="bce"),
        # Keras Adam defaults: lr 1e-3, beta 0.9/0.999, epsilon 1e-7.
        optim=OptimConfig(lr_g=1e-3, lr_d=1e-3, beta1=0.9, beta2=0.999, eps=1e-7),
        train=TrainConfig(batch_size=64, epochs=100, drop_last=False, d_updates="separate",
                          g_fresh_noise=True, grid_size=16, sample_every=0, checkpoint_every=0,
                          log_every=20),
    )


@_preset
def _seed_tutorial() -> Config:
    return Config(
        preset="seed-tutorial",
        description="tutorial §6: MLP G 100-128-784 tanh, D 784-128-1, BCE, Adam 2e-4, "
        "batch 128, 200 epochs, loss printed every 10 epochs",
        model=ModelConfig(name="mlp", g_hidden=(128,), d_hidden=(128,), d_activation="relu",
                          output="tanh", init="default"),
        loss=LossConfig(name="bce"),
        optim=OptimConfig(lr_g=2e-4, lr_d=2e-4, beta1=0.9, beta2=0.999, eps=1e-8),
        train=TrainConfig(batch_size=128, epochs=200, drop_last=False, print_every_epochs=10,
                          grid_size=16, sample_every=0, checkpoint_every=0, log_every=10),
    )


def _with_remedies(base: Config, name: str, description: str) -> Config:
    """``base`` (a literal tutorial recipe) with the remedies its MLPs need on the 5,000
    embedded digits (measured in the README's "seed recipes" tables, bench/seed_recipes.py):
    D learning 8x faster than G (TTUR, Heusel et al. 2017) makes the strokes whole, lazy R1
    keeps D's gradients on real digits smooth, the minibatch std-dev feature and the EMA keep
    the samples varied and clean. The networks are unchanged but for D's one extra input."""
    return replace(
        base, preset=name, description=description,
        model=replace(base.model, mbstd=True),
        loss=replace(base.loss, label_smoothing=0.1, r1_gamma=10.0, r1_every=4),
        optim=replace(base.optim, beta1=0.5, lr_g=1e-4, lr_d=8e-4),
        train=replace(base.train, ema_kimg=10.0))


_REMEDY_TEXT = ("Adam beta1 0.5 with TTUR (lr G 1e-4, D 8e-4), one-sided label smoothing 0.1, "
                "lazy R1 (gamma 10, every 4 steps), a minibatch std-dev feature in D, EMA of G")


@_preset
def _seed_mlp_stable() -> Config:
    return _with_remedies(_seed_mlp(), "seed-mlp-stable",
                          "tutorial §4's MLPs, BCE, batch 64, 100 epochs, with the remedies: "
                          + _REMEDY_TEXT)


@_preset
def _seed_tutorial_stable() -> Config:
    return _with_remedies(_seed_tutorial(), "seed-tutorial-stable",
                          "tutorial §6's MLPs (one 128-wide hidden layer each), BCE, batch "
                          "128, 200 epochs, with the remedies: " + _REMEDY_TEXT)


@_preset
def _toy_pacgan() -> Config:
    return Config(
        preset="toy-pacgan",
        description="PacGAN on 2-D Gaussian mixtures (grid25 or ring8): MLP G 2-128x4-2, "
        "LeakyReLU D 128x3 on 2 packed points, non-saturating loss + R1, Adam 5e-4 (0, 0.9) "
        "decaying to 0 over the last 30 % of steps, batch 512, 14,000 steps, EMA of G "
        "(see bench/modes2d.py)",
        data=DataConfig(name="grid25"),
        model=ModelConfig(name="toy-mlp", latent_dim=2, g_hidden=(128, 128, 128, 128),
                          d_hidden=(128, 128, 128), d_activation="leaky_relu", pack=2),
        # R1 on the packed D: gamma 0.015 here is 0.06 on the pack's own logit (x m² = 4).
        loss=LossConfig(name="ns", r1_gamma=0.015, r1_every=1),
        # The decay lets G settle its samples onto the modes it has found.
        optim=OptimConfig(lr_g=5e-4, lr_d=5e-4, beta1=0.0, beta2=0.9, lr_decay=0.3),
        # Tiny nets: scores, logging and scatter plots are kept rare (they cost more than steps).
        train=TrainConfig(batch_size=512, steps=14000, ema_kimg=20.0, eval_every=2500,
                          sample_every=0, checkpoint_every=0, log_every=500, grid_size=2500,
                          tensorboard=False),
    )


def _translation_optim() -> OptimConfig:
    """The anchor's Adam for both translation presets: 2e-4 (0.5, 0.999), flat for the first
    half of the run, then linearly to 0."""
    return OptimConfig(lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999, lr_decay=0.5)


def _translation_train(**budget) -> TrainConfig:
    """Bookkeeping shared by the translation presets, with their own batch and budget."""
    return TrainConfig(sample_every=500, checkpoint_every=1000, log_every=50, grid_size=8,
                       **budget)


@_preset
def _pix2pix() -> Config:
    return Config(
        preset="pix2pix",
        description="pix2pix (Isola et al. 2017) on paired images (mnist-8px: 8x8 digits -> "
        "28x28): U-Net G with depth from the image size, PatchGAN D on input and output "
        "stacked (34x34 patches at 28 px), non-saturating loss + L1 x 100, BatchNorm, "
        "dropout, Adam 2e-4 (0.5, 0.999) flat then linear decay over the second half",
        data=DataConfig(name="mnist-8px"),
        loss=LossConfig(name="ns"),
        optim=_translation_optim(),
        # The anchor trains with batch 1 for 200 epochs of a few hundred pairs; 28 px digits
        # are many and small, so batches of 16 over a few epochs see as many pixels.
        train=_translation_train(batch_size=16, epochs=6),
        # 32 channels (the anchor's 64 at 256 px): 28 px digits need less, and train 4x faster
        translation=TranslationConfig(mode="paired", generator="unet", g_channels=32,
                                      d_channels=32, norm="batch", dropout=True,
                                      l1_weight=100.0, pool_size=0),
    )


@_preset
def _cyclegan() -> Config:
    return Config(
        preset="cyclegan",
        description="CycleGAN (Zhu et al. 2017) on unpaired domains (digits2mnist: "
        "scikit-learn's 8x8 digits <-> MNIST) with a warp G (zoom-and-shift, then a local "
        "retouch of 3 residual blocks of 32 channels), PatchGAN D of 16x16 px patches, "
        "least-squares loss, cycle x 2, no identity term, a pool of 50 fakes, InstanceNorm, "
        "Adam 2e-4 (0.5, 0.999) flat then linear decay over the second half, 3,000 steps of "
        "batch 8",
        data=DataConfig(name="digits2mnist"),
        loss=LossConfig(name="lsgan"),
        optim=_translation_optim(),
        train=_translation_train(batch_size=8, steps=3000),
        # The anchor's ResNet G (any size: --set translation.generator=resnet) sees the whole
        # digit at its bottleneck and redraws 1s and 9s as other digits; the warp G can only
        # move the picture and retouch strokes where they are. Its cycle term is 2, not 10:
        # from the warp's identity start a cycle x 10 holds it there against D. D has one
        # stride-2 layer (16x16 px patches): a D that sees the whole 28 px digit (34x34, the
        # size rule's choice) pushes G to redraw 1s and 9s; on the training images
        # (bench/translation_validation.py) digits -> MNIST kept 0.88 of the labels against
        # 0.77-0.81. Larger images: --set translation.d_layers=0 (from the size) or 3 (70x70).
        translation=TranslationConfig(mode="unpaired", generator="warp", resnet_blocks=3,
                                      g_channels=32, d_channels=32, d_layers=1, norm="instance",
                                      dropout=False, cycle_weight=2.0, identity_weight=0.0,
                                      pool_size=50),
    )


def _cut_config(name: str, description: str, **changes) -> Config:
    """CUT's recipe at 32 px on emoji-styles (taesungp/contrastive-unpaired-translation's
    defaults where they fit a CPU): ResNet G, PatchGAN D, least-squares loss, PatchNCE on 5
    encoder layers with 256-wide MLP heads, 256 patches, tau 0.07, lambda_NCE 1 and the
    identity term; ``changes``: translation settings of a variant."""
    settings = dict(mode="contrastive", generator="resnet", g_channels=32, resnet_blocks=6,
                    d_channels=32, d_layers=0, norm="instance", dropout=False, pool_size=0,
                    nce_weight=1.0, nce_identity=True, nce_patches=256,
                    nce_temperature=0.07, nce_head=256)
    return Config(preset=name, description=description, data=DataConfig(name="emoji-styles"),
                  loss=LossConfig(name="lsgan"), optim=_translation_optim(),
                  # an EMA of G (half-life 2k images, 250 steps) against the speckles that a
                  # 32 px CUT's G still draws after 1,000-2,000 steps (docs/design.md)
                  train=replace(_translation_train(batch_size=8, steps=2000), ema_kimg=2.0),
                  translation=TranslationConfig(**{**settings, **changes}))


@_preset
def _cut() -> Config:
    return _cut_config(
        "cut", "CUT (Park et al. 2020), contrastive unpaired translation one way "
        "(emoji-styles: Google's emoji -> Twitter's, 32 px): ResNet G (32 channels, 6 "
        "blocks), PatchGAN D, least-squares loss + PatchNCE (5 encoder layers, MLP heads "
        "256 wide, 256 patches, tau 0.07, lambda 1) with the identity term, InstanceNorm, "
        "Adam 2e-4 (0.5, 0.999) flat then linear decay over the second half, 2,000 steps of "
        "batch 8, EMA of G")


@_preset
def _fastcut() -> Config:
    return _cut_config(
        "fastcut", "FastCUT: CUT without the identity PatchNCE term and lambda_NCE 10 "
        "(Park et al. 2020's lighter setting), otherwise the cut preset",
        nce_identity=False, nce_weight=10.0)
