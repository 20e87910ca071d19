"""The configuration tree: one frozen dataclass per section, and :class:`Config` holding them.

A run is fully described by a :class:`Config`. It is resolved once (preset, then config
file, then command-line flags, then ``--set`` overrides), validated, printed at start,
saved as ``run_dir/config.json`` and stored inside every checkpoint.

Each option is declared once, here: :func:`option` gives a field its default, its help
text and, where ``gankit train`` has a flag for it, the flag's spelling (and the Python
API's keyword). The train parser, ``gankit.train``'s keywords and the docs' reference of
config keys are built from these declarations (:mod:`gankit.config.options`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any


def option(default: Any, help: str, *, flag: str | None = None, metavar: str | None = None,
           choices: tuple | None = None, low: float | None = None, api: str | None = None
           ) -> Any:
    """A config field with its declaration: ``help`` (one line), and for the options that
    ``gankit train`` spells as a flag, ``flag`` ("--batch-size"), its ``metavar``, its
    ``choices``, ``low`` (the smallest value the flag accepts; ``low=1`` for counts that
    must be positive) and ``api``, the short keyword of ``gankit.train`` (default: the
    flag without dashes, with underscores)."""
    if flag is not None and api is None:
        api = flag.lstrip("-").replace("-", "_")
    return field(default=default, metadata={"help": help, "flag": flag, "metavar": metavar,
                                            "choices": choices, "low": low, "api": api})


@dataclass(frozen=True)
class DataConfig:
    """Which images to train on and how they are scaled."""

    name: str = option("mnist5k", "data set name (gankit list datasets), prepared data set or "
                       "image folder", flag="--data", metavar="NAME|FOLDER")
    root: str = option("data", "where named data sets live and download to",
                       flag="--root", metavar="DIR")
    image_size: int = option(0, "resize and centre-crop images to S x S (0: the data set's "
                             "own size; folders need one)", flag="--image-size", metavar="S",
                             low=0)
    channels: int = option(0, "1 grayscale, 3 RGB (0: the data set's own)", flag="--channels",
                           choices=(1, 3))
    value_range: str = option("tanh", "pixel range of the data: tanh ([-1, 1]) or unit "
                              "([0, 1], the Keras recipe)")
    download: bool = option(True, "download torchvision sets that are missing")
    memory_budget_gb: float = option(0.0, "a prepared set larger than this many GiB is "
                                     "streamed from its memory map, batch by batch (0: a "
                                     "quarter of the RAM)")
    mirror: bool = option(False, "random left-right flips of the real images, seeded per "
                          "batch (StyleGAN's --mirror)", flag="--mirror")


@dataclass(frozen=True)
class ModelConfig:
    """Generator and discriminator architecture (see ``gankit list models``)."""

    name: str = option("dcgan", "architecture of G and D (gankit list models)")
    latent_dim: int = option(100, "size of the noise vector z")
    g_hidden: tuple[int, ...] = option((256, 512, 1024), "mlp: hidden widths of G")
    d_hidden: tuple[int, ...] = option((512, 256), "mlp: hidden widths of D")
    d_activation: str = option("leaky_relu", "mlp D: leaky_relu (slope 0.2) or relu")
    g_channels: int = option(64, "conv nets: channels of G's last hidden layer")
    d_channels: int = option(64, "conv nets: channels of D's first layer")
    d_norm: str = option("none", "conv D: none, batch (BatchNorm after each strided conv but "
                         "the first, Radford et al.) or spectral (on every layer, Miyato "
                         "et al.)")
    output: str = option("tanh", "G's last activation: tanh for [-1, 1] data, sigmoid for "
                         "[0, 1]")
    init: str = option("default", "weight initialisation: default (PyTorch), glorot (Keras) "
                       "or dcgan (N(0, 0.02))")
    conditional: bool = option(False, "conv nets: condition G and D on the data's class "
                               "labels")
    mbstd: bool = option(False, "D: minibatch standard-deviation feature before the head "
                         "(Karras et al. 2018)")
    d_dropout: float = option(0.0, "mlp D: dropout after each hidden layer (Goodfellow et "
                              "al. 2014)")
    aux_classifier: bool = option(False, "conv D: ACGAN class head instead of the projection "
                                  "(conditional)")
    pack: int = option(1, "PacGAN (Lin et al. 2018): D judges M samples at once, 2..4 "
                       "typical; the batch size must divide by M (1: off)", flag="--pack",
                       metavar="M", low=1)


@dataclass(frozen=True)
class LossConfig:
    """Adversarial loss on D's logits (see ``gankit list losses``)."""

    name: str = option("ns", "adversarial loss (gankit list losses)")
    gp_weight: float = option(0.0, "WGAN-GP gradient penalty on interpolates (Gulrajani et "
                              "al. 2017: 10; 0: off)")
    r1_gamma: float = option(0.0, "R1 penalty gamma on real data (Mescheder et al. 2018; "
                             "0: off)")
    r1_every: int = option(16, "lazy R1: every N steps, scaled by N (StyleGAN2)")
    label_smoothing: float = option(0.0, "one-sided label smoothing: D's real target is "
                                    "1 - this (bce, ns, minimax, lsgan)")


@dataclass(frozen=True)
class OptimConfig:
    """Adam for both networks."""

    lr_g: float = option(2e-4, "G's learning rate")
    lr_d: float = option(2e-4, "D's learning rate")
    beta1: float = option(0.5, "Adam's beta1")
    beta2: float = option(0.999, "Adam's beta2")
    eps: float = option(1e-8, "Adam's epsilon")
    lr_decay: float = option(0.0, "linear decay of both rates to zero over this last "
                             "fraction of the run's steps (needs a step or epoch budget; "
                             "0: constant rates)")


@dataclass(frozen=True)
class TrainConfig:
    """Budgets, schedule and bookkeeping of the training loop."""

    batch_size: int = option(64, "real images per step", flag="--batch-size", metavar="N",
                             low=1)
    epochs: int = option(0, "epoch budget (0: none)", flag="--epochs", metavar="E", low=0)
    steps: int = option(0, "step budget (0: none)", flag="--steps", metavar="N", low=0)
    minutes: float = option(0.0, "wall-clock budget in minutes (0: none)", flag="--minutes",
                            metavar="M", low=0)
    seed: int = option(0, "seed of the run: weights, batches and noise", flag="--seed",
                       metavar="S")
    device: str = option("auto", "auto (default: cuda when PyTorch sees a GPU, else cpu), "
                         "cpu, cuda or cuda:N", flag="--device", metavar="DEVICE")
    drop_last: bool = option(True, "drop the last partial batch of an epoch (the tutorial's "
                             "DataLoader keeps it: false)")
    d_updates: str = option("joint", "joint: one D update on real and fake; separate: two, "
                            "as Keras' train_on_batch")
    g_fresh_noise: bool = option(False, "draw new z for the G step (Keras) instead of "
                                 "reusing the D step's fakes")
    ema_kimg: float = option(0.0, "half-life of the EMA of G in thousands of images (0: no "
                             "EMA)")
    log_every: int = option(50, "steps between log.jsonl lines")
    sample_every: int = option(500, "steps between sample grids (0: only at the end)")
    checkpoint_every: int = option(1000, "steps between checkpoints (0: only at the end)")
    keep_checkpoints: int = option(3, "checkpoints to keep", flag="--keep", metavar="K",
                                   low=1, api="keep_checkpoints")
    print_every_epochs: int = option(1, "epochs between the tutorial's 'Epoch [e/E], Loss "
                                     "D, Loss G' lines")
    grid_size: int = option(64, "images in each sample grid")
    tensorboard: bool = option(True, "write TensorBoard events when tensorboard is "
                               "installed")
    threads: int = option(0, "CPU threads for PyTorch (0: the cores not already busy, "
                          "following the machine's load)", flag="--threads", metavar="N",
                          low=0)
    precision: str = option("fp32", "autocast precision: fp32 (the exact maths), bf16, fp16 "
                            "(with a GradScaler) or auto (bf16 where the GPU or CPU has "
                            "native bf16, else fp32)", flag="--precision",
                            choices=("fp32", "bf16", "fp16", "auto"))
    compile: bool = option(False, "torch.compile G and D (eager, with a message, where "
                           "unavailable)", flag="--compile")
    cuda_graphs: bool = option(False, "CUDA only: compile G and D in torch.compile's "
                               "reduce-overhead mode, which replays their passes as CUDA "
                               "graphs", flag="--cuda-graphs")
    tf32: bool = option(True, "CUDA: TF32 float32 matrix products and convolutions (false: "
                        "IEEE fp32)")
    fast_mlp: bool = option(True, "CPU, fp32: the hand-written step for MLP G and D (same "
                            "maths, faster)")
    calibrate: bool = option(True, "CPU: time the eligible ways to step on first use and "
                             "keep the fastest, cached per machine (false: the fixed "
                             "choice)")
    deterministic: bool = option(False, "PyTorch's deterministic algorithms: same seed, same "
                                 "result", flag="--deterministic")
    divergence_retries: int = option(3, "on a non-finite loss: roll back this many times, "
                                     "then stop")
    divergence_lr_factor: float = option(0.5, "learning rates are multiplied by this at "
                                         "each rollback")
    eval_every: int = option(0, "steps between quality evaluations (FID, modes) in the log "
                             "(0: none)", flag="--eval-every", metavar="N", low=0)
    target: str = option("", "stop when a score reaches this, e.g. fid=20 (needs "
                         "--eval-every)", flag="--target", metavar="SCORE=VALUE")
    n_critic: int = option(1, "D updates (steps, one batch each) per G update (WGAN: 5)")
    diffaugment: str = option("", "DiffAugment policy for D's inputs, e.g. "
                              "translation,cutout,color ('' turns it off)",
                              flag="--diffaugment", metavar="POLICY")
    per_device_batch: int = option(0, "under torchrun: images per process, the global batch "
                                   "B x processes (0: the batch size split evenly)",
                                   flag="--per-device-batch", metavar="B", low=1)
    sync_batchnorm: bool = option(False, "under torchrun: BatchNorm statistics over the "
                                  "global batch", flag="--sync-batchnorm")


@dataclass(frozen=True)
class TranslationConfig:
    """Image-to-image translation (pix2pix, CycleGAN); mode "off" trains noise-to-image.

    The defaults are those of junyanz/pytorch-CycleGAN-and-pix2pix; the presets adapt them
    to 28 px.
    """

    mode: str = option("off", "off (noise to image), paired (pix2pix: A -> B with L1), "
                       "unpaired (CycleGAN: both ways) or contrastive (CUT: one way, "
                       "PatchNCE)")
    direction: str = option("AtoB", "AtoB or BtoA: paired: which domain is the input; "
                            "unpaired: the direction gankit translate and gankit eval use "
                            "by default")
    generator: str = option("unet", "unet (depth from the image size), resnet (residual "
                            "blocks) or warp (zoom-and-shift warp and a local retouch)")
    g_channels: int = option(64, "channels of G's first layer")
    resnet_blocks: int = option(9, "resnet G: residual blocks; warp G: the retouch's blocks")
    d_channels: int = option(64, "PatchGAN D: channels of its first layer")
    d_layers: int = option(0, "PatchGAN D: stride-2 layers (0: from the image size; 3: "
                           "70x70 patches)")
    norm: str = option("batch", "batch or instance normalisation")
    dropout: bool = option(True, "dropout in G's innermost layers (pix2pix's noise)")
    gan_weight: float = option(1.0, "weight of G's adversarial loss (0: L1 regression, no "
                               "D)")
    l1_weight: float = option(100.0, "paired: L1 to the target (lambda_L1)")
    cycle_weight: float = option(10.0, "unpaired: L1 of A -> B -> A and B -> A -> B "
                                 "(lambda)")
    identity_weight: float = option(0.5, "unpaired: identity L1, times cycle_weight")
    pool_size: int = option(50, "unpaired: the fakes D sees come from a history of this "
                            "many (0: none)")
    nce_weight: float = option(1.0, "contrastive: weight of the PatchNCE loss (lambda_NCE; "
                               "FastCUT: 10)")
    nce_identity: bool = option(True, "contrastive: the identity PatchNCE term on target "
                                "images (CUT: on; FastCUT: off)")
    nce_patches: int = option(256, "contrastive: patches sampled per layer and image")
    nce_temperature: float = option(0.07, "contrastive: PatchNCE temperature (tau)")
    nce_head: int = option(256, "contrastive: width of the MLP projection head per layer")
    semantic_weight: float = option(0.0, "unpaired, contrastive: CyCADA semantic "
                                    "consistency, weight of the source classifier's "
                                    "cross-entropy on translations (0: off; uses the "
                                    "training labels)")
    classifier_a: str = option("", "semantic consistency: domain A's classifier, an "
                               "extractor name or a file of `gankit extractor train --folder` "
                               "(empty: the built-in one of the domain: digits-cnn, mnist-cnn)")
    classifier_b: str = option("", "semantic consistency: domain B's classifier (as "
                               "classifier_a)")


@dataclass(frozen=True)
class Config:
    preset: str = "default"
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    translation: TranslationConfig = field(default_factory=TranslationConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


SECTIONS = ("data", "model", "loss", "optim", "train", "translation")

