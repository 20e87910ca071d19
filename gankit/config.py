"""One frozen configuration tree: presets, dotted overrides, validation, JSON round trip.

A run is fully described by a :class:`Config`. It is resolved once (preset, then config
file, then command-line flags, then ``--set`` overrides), validated, printed at start,
saved as ``run_dir/config.json`` and stored inside every checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_type_hints

from gankit.errors import UserError, first_line


@dataclass(frozen=True)
class DataConfig:
    """Which images to train on and how they are scaled."""

    name: str = "mnist5k"  # a registered data set name, or a path to a folder of images
    root: str = "data"  # where torchvision data sets are looked for (and downloaded to)
    image_size: int = 0  # 0 keeps the data set's own size; folders need one
    channels: int = 0  # 0 keeps the data set's own; 1 grayscale, 3 RGB
    value_range: str = "tanh"  # "tanh": pixels in [-1, 1]; "unit": pixels in [0, 1] (Keras recipe)
    download: bool = True  # try to download torchvision sets that are missing


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
    precision: str = "fp32"  # fp32 | bf16 | fp16: autocast for the passes (fp16: GradScaler)
    compile: bool = False  # torch.compile G and D (eager, with a message, where unavailable)
    # CUDA graphs: torch.compile's "reduce-overhead" mode records the compiled passes of G
    # and D once per batch shape and replays them (implies compile; CUDA only)
    cuda_graphs: bool = False
    tf32: bool = True  # CUDA: TF32 float32 matrix products and convolutions (false: IEEE fp32)
    # CPU, fp32: the hand-written step for MLP G and D (gankit.training.fast_mlp; same maths, faster)
    fast_mlp: bool = True
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
class Config:
    preset: str = "default"
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


SECTIONS = ("data", "model", "loss", "optim", "train")


# --- presets ------------------------------------------------------------------------------

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


def _cgan_projection() -> Config:
    return replace(
        _default(), preset="cgan-projection",
        description="class-conditional DCGAN: one-hot class in G, projection D (Miyato & "
        "Koyama 2018), EMA, batch 32, non-saturating loss, Adam 2e-4 (0.5, 0.999); sample "
        "with --class K (the same recipe as the default preset)")


def _acgan() -> Config:
    base = _default()
    return replace(
        base, preset="acgan",
        description="ACGAN (Odena et al. 2017): conditional DCGAN G, D with an auxiliary "
        "classifier (cross-entropy on real labels for D, on requested labels for G), EMA, "
        "batch 32, Adam 2e-4 (0.5, 0.999)",
        model=replace(base.model, name="acgan", conditional=True, aux_classifier=True))


def _seed_mlp_stable() -> Config:
    base = _seed_mlp()
    return replace(
        base, preset="seed-mlp-stable",
        description="tutorial §4's MLPs, BCE, lr 2e-4, batch 64, 100 epochs, with the "
        "remedies: Adam beta1 0.5, one-sided label smoothing 0.1, lazy R1 (gamma 10, every "
        "4 steps), a minibatch std-dev feature in D, EMA of G",
        model=replace(base.model, mbstd=True),
        loss=replace(base.loss, label_smoothing=0.1, r1_gamma=10.0, r1_every=4),
        optim=replace(base.optim, beta1=0.5),
        train=replace(base.train, ema_kimg=10.0))


PRESETS: dict[str, Any] = {
    "default": _default,
    "dcgan": _dcgan,
    "wgan-gp": _wgan_gp,
    "sngan-hinge": _sngan_hinge,
    "lsgan": _lsgan,
    "cgan-projection": _cgan_projection,
    "acgan": _acgan,
    "seed-mlp": _seed_mlp,
    "seed-keras": _seed_keras,
    "seed-tutorial": _seed_tutorial,
    "seed-mlp-stable": _seed_mlp_stable,
    "toy-pacgan": _toy_pacgan,
}


def preset(name: str) -> Config:
    """Return the named preset's config; unknown names raise :class:`UserError`."""
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}; choose one of: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]()


# --- overrides and files ------------------------------------------------------------------

def _coerce(value: Any, kind: Any, key: str) -> Any:
    """Turn ``value`` (often a string from the command line) into the field's type."""
    text = value if isinstance(value, str) else None
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            if text is not None and text.lower() in ("1", "true", "yes", "on"):
                return True
            if text is not None and text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value) if not isinstance(value, str) else int(text.replace("_", ""))
        if kind is float:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
            if not math.isfinite(number):
                raise ValueError
            return number
        if kind is str:
            if not isinstance(value, str):
                raise ValueError
            return value
        if kind == tuple[int, ...]:
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(_coerce(item, int, key) for item in items if str(item).strip() != "")
    except (ValueError, TypeError, AttributeError):
        pass
    type_name = getattr(kind, "__name__", "list of integers")
    raise UserError(f"bad value {value!r} for {key}: expected {type_name}")


def _field_types(section_cls: type) -> dict[str, Any]:
    return get_type_hints(section_cls)


def valid_keys() -> list[str]:
    """Every ``section.key`` that ``--set`` accepts."""
    keys = []
    for section in SECTIONS:
        section_cls = type(getattr(Config(), section))
        keys += [f"{section}.{f.name}" for f in fields(section_cls)]
    return keys


def apply_overrides(cfg: Config, overrides: dict[str, Any]) -> Config:
    """Return ``cfg`` with dotted keys (``train.batch_size``) set; unknown keys are errors."""
    for key, value in overrides.items():
        section, _, name = key.partition(".")
        if section not in SECTIONS or not name:
            raise UserError(f"unknown config key {key!r}; keys look like train.batch_size "
                            f"(see `gankit train --dry-run`)")
        section_obj = getattr(cfg, section)
        types = _field_types(type(section_obj))
        if name not in types:
            names = ", ".join(types)
            raise UserError(f"unknown config key {key!r}; {section} has: {names}")
        section_obj = replace(section_obj, **{name: _coerce(value, types[name], key)})
        cfg = replace(cfg, **{section: section_obj})
    return cfg


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 1}}`` -> ``{"train.lr": 1}`` (lists are leaves)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML, TOML or JSON config file into flat dotted overrides.

    The file may name a ``preset`` at its top; the other top-level keys are sections.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix in (".toml",):
            tree = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            import yaml

            tree = yaml.safe_load(text) or {}
        elif path.suffix == ".json":
            tree = json.loads(text)
        else:
            raise UserError(f"config file {path} must end in .yaml, .yml, .toml or .json")
    except UserError:
        raise
    except Exception as exc:  # any parser's error is the user's file being malformed
        raise UserError(f"cannot parse config file {path}: {first_line(exc)}") from None
    if not isinstance(tree, dict):
        raise UserError(f"config file {path} must hold a mapping of sections")
    return flatten(tree)


def from_dict(tree: dict[str, Any]) -> Config:
    """Rebuild a :class:`Config` from :meth:`Config.to_dict` output (JSON round trip)."""
    flat = flatten({k: v for k, v in tree.items() if k in SECTIONS})
    cfg = Config(preset=str(tree.get("preset", "default")),
                 description=str(tree.get("description", "")))
    return apply_overrides(cfg, flat)


def resolve(preset_name: str = "default", file_overrides: dict[str, Any] | None = None,
            overrides: dict[str, Any] | None = None) -> Config:
    """Preset, then config-file keys, then explicit overrides; validated."""
    file_overrides = dict(file_overrides or {})
    preset_name = str(file_overrides.pop("preset", preset_name))
    cfg = preset(preset_name)
    file_overrides.pop("description", None)
    cfg = apply_overrides(cfg, file_overrides)
    cfg = apply_overrides(cfg, overrides or {})
    validate(cfg)
    return cfg


# --- validation ---------------------------------------------------------------------------

def _check(condition: bool, message: str) -> None:
    if not condition:
        raise UserError(message)


def validate(cfg: Config) -> None:
    """Reject values no run could use; names are checked against the registries."""
    from gankit.core.losses import LOSSES
    from gankit.core.models import MODELS

    from gankit.data import DATASETS

    d, m, o, t = cfg.data, cfg.model, cfg.optim, cfg.train
    _check(d.name in DATASETS or Path(d.name).expanduser().is_dir(),
           f"unknown data set {d.name!r}: not a folder, and not one of "
           f"{', '.join(sorted(DATASETS))}")
    _check(d.value_range in ("tanh", "unit"), f"data.value_range must be tanh or unit, "
           f"not {d.value_range!r}")
    _check(d.image_size >= 0, f"data.image_size must be >= 0, not {d.image_size}")
    _check(d.channels in (0, 1, 3), f"data.channels must be 1 or 3 (0 = native), "
           f"not {d.channels}")
    _check(m.name in MODELS, f"unknown model {m.name!r}; choose one of: "
           f"{', '.join(sorted(MODELS))}")
    _check(m.latent_dim > 0, f"model.latent_dim must be > 0, not {m.latent_dim}")
    _check(all(w > 0 for w in m.g_hidden) and all(w > 0 for w in m.d_hidden),
           "model.g_hidden and model.d_hidden widths must be > 0")
    _check(m.g_channels > 0 and m.d_channels > 0, "model.g_channels and model.d_channels "
           "must be > 0")
    _check(m.d_activation in ("leaky_relu", "relu"), f"model.d_activation must be leaky_relu "
           f"or relu, not {m.d_activation!r}")
    _check(m.d_norm in ("none", "batch", "spectral"), f"model.d_norm must be none, batch or "
           f"spectral, not {m.d_norm!r}")
    _check(m.output in ("tanh", "sigmoid"), f"model.output must be tanh or sigmoid, "
           f"not {m.output!r}")
    _check(m.init in ("default", "glorot", "dcgan"), f"model.init must be default, glorot or "
           f"dcgan, not {m.init!r}")
    _check(cfg.loss.name in LOSSES, f"unknown loss {cfg.loss.name!r}; choose one of: "
           f"{', '.join(sorted(LOSSES))}")
    _check(o.lr_g > 0 and o.lr_d > 0, f"learning rates must be > 0 (lr_g={o.lr_g}, "
           f"lr_d={o.lr_d})")
    _check(0 <= o.beta1 < 1 and 0 <= o.beta2 < 1, f"Adam betas must lie in [0, 1) "
           f"(beta1={o.beta1}, beta2={o.beta2})")
    _check(o.eps > 0, f"optim.eps must be > 0, not {o.eps}")
    _check(0 <= o.lr_decay <= 1, f"optim.lr_decay must lie in [0, 1], not {o.lr_decay}")
    _check(o.lr_decay == 0 or t.steps > 0 or t.epochs > 0,
           "optim.lr_decay needs a step or epoch budget (--steps or --epochs)")
    _check(t.batch_size > 0, f"batch size must be > 0, not {t.batch_size}")
    _check(t.per_device_batch >= 0, f"train.per_device_batch must be >= 0, "
           f"not {t.per_device_batch}")
    for name in ("epochs", "steps", "log_every", "sample_every", "checkpoint_every"):
        _check(getattr(t, name) >= 0, f"train.{name} must be >= 0, not {getattr(t, name)}")
    _check(t.minutes >= 0, f"train.minutes must be >= 0, not {t.minutes}")
    _check(t.epochs or t.steps or t.minutes, "give a budget: train.epochs, train.steps or "
           "train.minutes must be > 0")
    _check(t.ema_kimg >= 0, f"train.ema_kimg must be >= 0, not {t.ema_kimg}")
    _check(t.eval_every >= 0, f"train.eval_every must be >= 0, not {t.eval_every}")
    if t.target:
        from gankit.evaluation.metrics import parse_target

        parse_target(t.target)
        _check(t.eval_every > 0, "train.target needs train.eval_every > 0 (--eval-every N)")
    _check(t.keep_checkpoints >= 1, f"train.keep_checkpoints must be >= 1, "
           f"not {t.keep_checkpoints}")
    _check(t.print_every_epochs >= 1, "train.print_every_epochs must be >= 1")
    _check(t.divergence_retries >= 0, f"train.divergence_retries must be >= 0, "
           f"not {t.divergence_retries}")
    _check(0 < t.divergence_lr_factor <= 1, f"train.divergence_lr_factor must lie in (0, 1], "
           f"not {t.divergence_lr_factor}")
    _check(t.grid_size >= 1, f"train.grid_size must be >= 1, not {t.grid_size}")
    _check(t.threads >= 0, f"train.threads must be >= 0 (0: auto), not {t.threads}")
    _check(t.precision in ("fp32", "bf16", "fp16"), f"train.precision must be fp32, bf16 or "
           f"fp16, not {t.precision!r}")
    _check(t.d_updates in ("joint", "separate"), f"train.d_updates must be joint or "
           f"separate, not {t.d_updates!r}")
    _check(t.device == "auto" or t.device == "cpu" or t.device.startswith("cuda"),
           f"device must be auto, cpu or cuda[:N], not {t.device!r}")
    _validate_points_and_pack(cfg)
    _validate_zoo(cfg)
    if m.output == "sigmoid" and d.value_range == "tanh":
        raise UserError("model.output=sigmoid makes images in [0, 1]: set data.value_range=unit")
    if m.output == "tanh" and d.value_range == "unit":
        raise UserError("data.value_range=unit needs model.output=sigmoid")


def _validate_points_and_pack(cfg: Config) -> None:
    """PacGAN packing divides the batch; the 2-D toy sets (points) need the toy-mlp model."""
    from gankit.data.toy2d import is_points
    from gankit.core.models.packing import check_pack

    check_pack(cfg.model.pack, cfg.train.batch_size, cfg.model.conditional)
    points, toy_model = is_points(cfg.data.name), cfg.model.name == "toy-mlp"
    _check(points or not toy_model, f"model toy-mlp models 2-D points (ring8, grid25), not "
           f"{cfg.data.name!r}")
    _check(toy_model or not points, f"{cfg.data.name} holds 2-D points: use --preset "
           f"toy-pacgan or --set model.name=toy-mlp (not {cfg.model.name})")
    _check(not (points and cfg.model.conditional), "toy-mlp is unconditional: set "
           "model.conditional=false")


def _validate_zoo(cfg: Config) -> None:
    """Penalties, schedules, DiffAugment and D options (issue 4)."""
    from gankit.core.augment import parse_policy
    from gankit.core.penalties import SMOOTHABLE

    lo, t, m = cfg.loss, cfg.train, cfg.model
    _check(lo.gp_weight >= 0, f"loss.gp_weight must be >= 0, not {lo.gp_weight}")
    _check(lo.r1_gamma >= 0, f"loss.r1_gamma must be >= 0, not {lo.r1_gamma}")
    _check(lo.r1_every >= 1, f"loss.r1_every must be >= 1, not {lo.r1_every}")
    _check(0 <= lo.label_smoothing < 1, f"loss.label_smoothing must lie in [0, 1), "
           f"not {lo.label_smoothing}")
    _check(not lo.label_smoothing or lo.name in SMOOTHABLE, f"loss.label_smoothing needs a "
           f"loss with targets ({', '.join(SMOOTHABLE)}), not {lo.name!r}")
    _check(t.n_critic >= 1, f"train.n_critic must be >= 1, not {t.n_critic}")
    parse_policy(t.diffaugment)
    penalised = lo.gp_weight or lo.r1_gamma or m.aux_classifier or m.name == "acgan"
    _check(not (penalised and t.d_updates == "separate"), "gradient penalties and auxiliary "
           "classifiers need train.d_updates=joint")
    _check(not (lo.gp_weight and m.d_norm == "batch"), "the gradient penalty is per sample: "
           "it cannot be used with model.d_norm=batch")
    _check(not (m.aux_classifier and m.name == "mlp"), "model.aux_classifier needs a conv "
           "model (dcgan, resnet, acgan)")
