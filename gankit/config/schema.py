"""The configuration tree: one frozen dataclass per section, and :class:`Config` holding them.

A run is fully described by a :class:`Config`. It is resolved once (preset, then config
file, then command-line flags, then ``--set`` overrides), validated, printed at start,
saved as ``run_dir/config.json`` and stored inside every checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DataConfig:
    """Which images to train on and how they are scaled."""

    name: str = "mnist5k"  # a registered data set name, a prepared data set or a folder of images
    root: str = "data"  # where torchvision data sets are looked for (and downloaded to)
    image_size: int = 0  # 0 keeps the data set's own size; folders need one
    channels: int = 0  # 0 keeps the data set's own; 1 grayscale, 3 RGB
    value_range: str = "tanh"  # "tanh": pixels in [-1, 1]; "unit": pixels in [0, 1] (Keras recipe)
    download: bool = True  # try to download torchvision sets that are missing
    # A prepared set (gankit data prepare) larger than this many GiB is read through its
    # memory map batch by batch instead of being loaded whole; 0: a quarter of the RAM
    memory_budget_gb: float = 0.0
    mirror: bool = False  # random left-right flips of the real images (StyleGAN's --mirror)


@dataclass(frozen=True)
class ModelConfig:
    """Generator and discriminator architecture (see ``gankit list models``)."""

    name: str = "dcgan"
    latent_dim: int = 100
    g_hidden: tuple[int, ...] = (256, 512, 1024)  # mlp: hidden widths of G
    d_hidden: tuple[int, ...] = (512, 256)  # mlp: hidden widths of D
    d_activation: str = "leaky_relu"  # mlp: "leaky_relu" (slope 0.2) or "relu"
    g_channels: int = 64  # conv nets: channels of G's last hidden layer
    d_channels: int = 64  # conv nets: channels of D's first layer
    d_norm: str = "none"  # conv D: "none", "batch" (BatchNorm after each strided conv but the
    # first, as in Radford et al.) or "spectral" (spectral norm on every layer, Miyato et al.)
    output: str = "tanh"  # G's last activation: "tanh" for [-1, 1] data, "sigmoid" for [0, 1]
    init: str = "default"  # "default" (PyTorch), "glorot" (Keras), "dcgan" (N(0, 0.02))
    conditional: bool = False  # conv nets: condition G and D on the data's class labels
    mbstd: bool = False  # D: minibatch standard-deviation feature before the head (Karras 2018)
    d_dropout: float = 0.0  # mlp D: dropout after each hidden layer (Goodfellow et al. 2014)
    aux_classifier: bool = False  # conv D: ACGAN class head instead of projection (conditional)
    pack: int = 1  # PacGAN (Lin et al. 2018): D judges this many samples at once (1: off)


@dataclass(frozen=True)
class LossConfig:
    """Adversarial loss on D's logits (see ``gankit list losses``)."""

    name: str = "ns"
    gp_weight: float = 0.0  # WGAN-GP gradient penalty λ on interpolates (Gulrajani 2017: 10)
    r1_gamma: float = 0.0  # R1 penalty γ on real data (Mescheder et al. 2018); 0: off
    r1_every: int = 16  # lazy R1: every N steps, scaled by N (StyleGAN2)
    label_smoothing: float = 0.0  # one-sided: D's real target is 1 - ε (bce/ns/minimax/lsgan)


@dataclass(frozen=True)
class OptimConfig:
    """Adam for both networks."""

    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    eps: float = 1e-8
    # Linear decay to zero over this last fraction of the run's steps (needs --steps or
    # --epochs); 0: constant learning rates. Lets G settle on the modes it found.
    lr_decay: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    """Budgets, schedule and bookkeeping of the training loop."""

    batch_size: int = 64
    epochs: int = 0  # 0: no epoch limit
    steps: int = 0  # 0: no step limit
    minutes: float = 0.0  # 0: no time limit
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    drop_last: bool = True  # the tutorial's DataLoader keeps the last partial batch (False)
    d_updates: str = "joint"  # "joint": one D update on real+fake; "separate": Keras' two
    g_fresh_noise: bool = False  # draw new z for the G step (Keras) or reuse the D step's fakes
    ema_kimg: float = 0.0  # half-life of the EMA of G in thousands of images; 0: no EMA
    log_every: int = 50  # steps between JSONL log lines
    sample_every: int = 500  # steps between sample grids; 0: only at the end
    checkpoint_every: int = 1000  # steps between checkpoints; 0: only at the end
    keep_checkpoints: int = 3
    print_every_epochs: int = 1  # the tutorial's "Epoch [e/E], Loss D, Loss G" line
    grid_size: int = 64  # images in each sample grid
    tensorboard: bool = True  # write TensorBoard events when tensorboard is installed
    threads: int = 0  # CPU threads for PyTorch; 0: auto (the cores not already busy, >= 1)
    # fp32 | bf16 | fp16: autocast for the passes (fp16: GradScaler) | auto: bf16 where the
    # GPU or CPU runs it natively (AVX512-BF16/AMX), else fp32
    precision: str = "fp32"
    compile: bool = False  # torch.compile G and D (eager, with a message, where unavailable)
    # CUDA graphs: torch.compile's "reduce-overhead" mode records the compiled passes of G
    # and D once per batch shape and replays them (implies compile; CUDA only)
    cuda_graphs: bool = False
    tf32: bool = True  # CUDA: TF32 float32 matrix products and convolutions (false: IEEE fp32)
    # CPU, fp32: the hand-written step for MLP G and D (gankit.training.fast_mlp; same maths, faster)
    fast_mlp: bool = True
    # CPU: time the eligible ways to step (hand-written or general step, oneDNN or MKL
    # products, automatic thread count or half) on first use and keep the fastest,
    # cached per machine (gankit.training.calibrate); false: the fixed choice
    calibrate: bool = True
    deterministic: bool = False  # PyTorch's deterministic algorithms: same seed, same result
    divergence_retries: int = 3  # on a non-finite loss: roll back this many times, then stop
    divergence_lr_factor: float = 0.5  # learning rates are multiplied by this at each rollback
    eval_every: int = 0  # steps between quality evaluations (FID, modes) in the log; 0: none
    target: str = ""  # stop when a score reaches this, e.g. "fid=20" (needs eval_every)
    n_critic: int = 1  # D updates (steps, one batch each) per G update (WGAN: 5)
    diffaugment: str = ""  # DiffAugment policy for D's inputs, e.g. "translation,cutout,color"
    per_device_batch: int = 0  # torchrun/DDP: images per process (global = this x processes);
    # 0: the global batch is batch_size, split evenly across the processes
    sync_batchnorm: bool = False  # torchrun/DDP: BatchNorm statistics over the global batch


@dataclass(frozen=True)
class TranslationConfig:
    """Image-to-image translation (pix2pix, CycleGAN); mode "off" trains noise-to-image.

    The anchor's defaults are pytorch-CycleGAN-and-pix2pix's; presets adapt them to 28 px.
    """

    mode: str = "off"  # off | paired (pix2pix: A -> B with L1) | unpaired (CycleGAN: both ways)
    direction: str = "AtoB"  # AtoB | BtoA: paired: which domain is the input; unpaired: the
    # direction `gankit translate` and `gankit eval` use by default
    generator: str = "unet"  # unet (depth from the image size) | resnet (n residual blocks)
    # | warp (zoom-and-shift warp + a local retouch of resnet_blocks blocks)
    g_channels: int = 64  # channels of G's first layer
    resnet_blocks: int = 9  # resnet G: residual blocks; warp G: the retouch's blocks
    d_channels: int = 64  # PatchGAN D: channels of its first layer
    d_layers: int = 0  # PatchGAN D: stride-2 layers; 0: from the image size (3: 70x70 patches)
    norm: str = "batch"  # batch | instance
    dropout: bool = True  # dropout in G's innermost layers (pix2pix's noise)
    gan_weight: float = 1.0  # weight of G's adversarial loss (0: L1 regression, no D)
    l1_weight: float = 100.0  # paired: L1 to the target (lambda_L1)
    cycle_weight: float = 10.0  # unpaired: L1 of A -> B -> A and B -> A -> B (lambda)
    identity_weight: float = 0.5  # unpaired: identity L1, times cycle_weight
    pool_size: int = 50  # unpaired: fakes D sees come from a history of this many (0: none)


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

    @property
    def translates(self) -> bool:
        """Whether this is an image-to-image translation run."""
        return self.translation.mode != "off"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


SECTIONS = ("data", "model", "loss", "optim", "train", "translation")

