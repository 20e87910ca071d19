"""Validation of a resolved :class:`Config`: every value a run could not use is a one-line
:class:`UserError`.

Each section's own values are checked here; the options that only some components read are
checked by those components (their registry entry's ``check``, which raises ``ValueError``
and is reported here as a user error); the rules that tie several sections or fields
together are in :func:`check_cross_rules` (those of plain values) and
:func:`check_data_rules` (those that need the data registry), and nowhere else, but for
those of one training kind: its declaration's ``check`` (:mod:`gankit.config.kinds`),
which :func:`check_cross_rules` runs.

The plain values are checked first: they need neither the model code nor torch, so that
most mistakes are answered at once. Only then are names looked up in the registries, whose
modules import torch.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from gankit.config.kinds import kind_named, kind_of
from gankit.config.schema import Config
from gankit.config.targets import parse_target
from gankit.core.augment_policy import parse_policy
from gankit.errors import UserError, first_line


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise UserError(message)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Components raise plain ``ValueError``; for the user each is a one-line error."""
    try:
        yield
    except ValueError as exc:
        raise UserError(first_line(exc)) from None


def validate(cfg: Config) -> None:
    """Reject values no run could use; names are checked against the registries."""
    _validate_data(cfg.data)
    _validate_model(cfg.model)
    _validate_loss(cfg.loss)
    _validate_optim(cfg.optim)
    _validate_train(cfg.train)
    _validate_translation(cfg.translation)
    check_cross_rules(cfg)
    _validate_components(cfg)
    check_data_rules(cfg)


def _validate_components(cfg: Config) -> None:
    """The names and options that only the registered components know (imports torch)."""
    from gankit.core.losses import LOSSES
    from gankit.core.models import MODELS

    with _user_errors():
        MODELS.get(cfg.model.name).validate(cfg.model)
        LOSSES.get(cfg.loss.name).validate(cfg.loss)


def _validate_data(d) -> None:
    _check(d.value_range in ("tanh", "unit"), f"data.value_range must be tanh or unit, "
           f"not {d.value_range!r}")
    _check(d.image_size >= 0, f"data.image_size must be >= 0, not {d.image_size}")
    _check(d.channels in (0, 1, 3), f"data.channels must be 1 or 3 (0 = native), "
           f"not {d.channels}")
    _check(d.memory_budget_gb >= 0, f"data.memory_budget_gb must be >= 0 (0: a quarter of the "
           f"RAM), not {d.memory_budget_gb}")


def _validate_model(m) -> None:
    _check(m.latent_dim > 0, f"model.latent_dim must be > 0, not {m.latent_dim}")
    _check(all(w > 0 for w in m.g_hidden) and all(w > 0 for w in m.d_hidden),
           "model.g_hidden and model.d_hidden widths must be > 0")
    _check(m.g_channels > 0 and m.d_channels > 0, "model.g_channels and model.d_channels "
           "must be > 0")
    _check(m.d_activation in ("leaky_relu", "relu"), f"model.d_activation must be leaky_relu "
           f"or relu, not {m.d_activation!r}")
    _check(m.d_norm in ("none", "batch", "spectral"), f"model.d_norm must be none, batch or "
           f"spectral, not {m.d_norm!r}")
    _check(0 <= m.d_dropout < 1, f"model.d_dropout must lie in [0, 1), not {m.d_dropout}")
    _check(m.d_dropout == 0 or m.name == "mlp", f"model.d_dropout is an option of the mlp "
           f"model, not of {m.name!r}")
    _check(m.output in ("tanh", "sigmoid"), f"model.output must be tanh or sigmoid, "
           f"not {m.output!r}")
    _check(m.init in ("default", "glorot", "dcgan"), f"model.init must be default, glorot or "
           f"dcgan, not {m.init!r}")


def _validate_loss(lo) -> None:
    _check(lo.gp_weight >= 0, f"loss.gp_weight must be >= 0, not {lo.gp_weight}")
    _check(lo.r1_gamma >= 0, f"loss.r1_gamma must be >= 0, not {lo.r1_gamma}")
    _check(lo.r1_every >= 1, f"loss.r1_every must be >= 1, not {lo.r1_every}")
    _check(0 <= lo.label_smoothing < 1, f"loss.label_smoothing must lie in [0, 1), "
           f"not {lo.label_smoothing}")


def _validate_optim(o) -> None:
    _check(o.lr_g > 0 and o.lr_d > 0, f"learning rates must be > 0 (lr_g={o.lr_g}, "
           f"lr_d={o.lr_d})")
    _check(0 <= o.beta1 < 1 and 0 <= o.beta2 < 1, f"Adam betas must lie in [0, 1) "
           f"(beta1={o.beta1}, beta2={o.beta2})")
    _check(o.eps > 0, f"optim.eps must be > 0, not {o.eps}")
    _check(0 <= o.lr_decay <= 1, f"optim.lr_decay must lie in [0, 1], not {o.lr_decay}")


def _validate_train(t) -> None:
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
        parse_target(t.target)
    _check(t.keep_checkpoints >= 1, f"train.keep_checkpoints must be >= 1, "
           f"not {t.keep_checkpoints}")
    _check(t.print_every_epochs >= 1, "train.print_every_epochs must be >= 1")
    _check(t.divergence_retries >= 0, f"train.divergence_retries must be >= 0, "
           f"not {t.divergence_retries}")
    _check(0 < t.divergence_lr_factor <= 1, f"train.divergence_lr_factor must lie in (0, 1], "
           f"not {t.divergence_lr_factor}")
    _check(t.grid_size >= 1, f"train.grid_size must be >= 1, not {t.grid_size}")
    _check(t.threads >= 0, f"train.threads must be >= 0 (0: auto), not {t.threads}")
    _check(t.precision in ("fp32", "bf16", "fp16", "auto"), f"train.precision must be fp32, "
           f"bf16, fp16 or auto, not {t.precision!r}")
    _check(t.d_updates in ("joint", "separate"), f"train.d_updates must be joint or "
           f"separate, not {t.d_updates!r}")
    _check(t.device == "auto" or t.device == "cpu" or t.device.startswith("cuda"),
           f"device must be auto, cpu or cuda[:N], not {t.device!r}")
    _check(t.n_critic >= 1, f"train.n_critic must be >= 1, not {t.n_critic}")
    with _user_errors():
        parse_policy(t.diffaugment)


def _validate_translation(tr) -> None:
    _check(tr.mode in ("off", "paired", "unpaired", "contrastive"), f"translation.mode must be "
           f"off, paired, unpaired or contrastive, not {tr.mode!r}")
    _check(tr.direction in ("AtoB", "BtoA"), f"translation.direction must be AtoB or BtoA, "
           f"not {tr.direction!r}")
    _check(tr.generator in ("unet", "resnet", "warp"), f"translation.generator must be unet, "
           f"resnet or warp, "
           f"not {tr.generator!r}")
    _check(tr.norm in ("batch", "instance"), f"translation.norm must be batch or instance, "
           f"not {tr.norm!r}")
    for name in ("g_channels", "d_channels", "resnet_blocks"):
        _check(getattr(tr, name) >= 1, f"translation.{name} must be >= 1, "
               f"not {getattr(tr, name)}")
    _check(0 <= tr.d_layers <= 5, f"translation.d_layers must lie in 0..5 (0: from the image "
           f"size), not {tr.d_layers}")
    for name in ("gan_weight", "l1_weight", "cycle_weight", "identity_weight", "nce_weight",
                 "semantic_weight"):
        _check(getattr(tr, name) >= 0, f"translation.{name} must be >= 0, "
               f"not {getattr(tr, name)}")
    _check(tr.pool_size >= 0, f"translation.pool_size must be >= 0, not {tr.pool_size}")
    for name in ("nce_patches", "nce_head"):
        _check(getattr(tr, name) >= 1, f"translation.{name} must be >= 1, "
               f"not {getattr(tr, name)}")
    _check(tr.nce_temperature > 0, f"translation.nce_temperature must be > 0, "
           f"not {tr.nce_temperature}")


def _check_data_name(cfg: Config) -> None:
    """The data set is a folder or one of the names its training kind knows (a
    noise-to-image run names a data set, a translation run a two-domain set)."""
    if Path(cfg.data.name).expanduser().is_dir():
        return
    data_sets = kind_named(kind_of(cfg)).data_sets
    if data_sets is None:  # the kind checks its data itself
        return
    word, known = data_sets()
    _check(cfg.data.name in known, f"unknown {word} {cfg.data.name!r}: not a folder, and not "
           f"one of {', '.join(sorted(known))}")


def check_pack(pack: int, batch_size: int, conditional: bool = False) -> None:
    """PacGAN packing: D's packs split the batch, and a packed D takes no labels."""
    _check(pack >= 1, f"model.pack must be >= 1, not {pack}")
    _check(pack == 1 or batch_size % pack == 0, f"--pack {pack} needs a batch size divisible "
           f"by {pack}, not {batch_size}")
    _check(pack == 1 or not conditional, "--pack needs an unconditional model: set "
           "model.conditional=false")


def check_cross_rules(cfg: Config) -> None:
    """The rules that tie fields of several sections (or several fields) together, but for
    those that need the data registry (:func:`check_data_rules`)."""
    d, m, lo, o, t = cfg.data, cfg.model, cfg.loss, cfg.optim, cfg.train
    kind = kind_named(kind_of(cfg))
    if kind.check is not None:  # the rules of the config's training kind
        kind.check(cfg)
    _check(o.lr_decay == 0 or t.steps > 0 or t.epochs > 0,
           "optim.lr_decay needs a step or epoch budget (--steps or --epochs)")
    _check(not t.target or t.eval_every > 0,
           "train.target needs train.eval_every > 0 (--eval-every N)")
    check_pack(m.pack, t.batch_size, m.conditional)
    penalised = lo.gp_weight or lo.r1_gamma or m.aux_classifier or m.name == "acgan"
    _check(not (penalised and t.d_updates == "separate"), "gradient penalties and auxiliary "
           "classifiers need train.d_updates=joint")
    _check(not (lo.gp_weight and m.d_norm == "batch"), "the gradient penalty is per sample: "
           "it cannot be used with model.d_norm=batch")
    _check(not (m.output == "sigmoid" and d.value_range == "tanh"),
           "model.output=sigmoid makes images in [0, 1]: set data.value_range=unit")
    _check(not (m.output == "tanh" and d.value_range == "unit"),
           "data.value_range=unit needs model.output=sigmoid")


def check_data_rules(cfg: Config) -> None:
    """The data set's name, and what 2-D point sets (ring8, grid25) cannot take (imports the
    data registry, and so torch)."""
    from gankit.data.toy2d import is_points

    d, m = cfg.data, cfg.model
    _check_data_name(cfg)
    points, toy_model = is_points(d.name), m.name == "toy-mlp"
    _check(points or not toy_model, f"model toy-mlp models 2-D points (ring8, grid25), not "
           f"{d.name!r}")
    _check(toy_model or not points, f"{d.name} holds 2-D points: use --preset "
           f"toy-pacgan or --set model.name=toy-mlp (not {m.name})")
    _check(not (points and m.conditional), "toy-mlp is unconditional: set "
           "model.conditional=false")
    _check(not (points and d.mirror), f"{d.name} holds 2-D points: --mirror flips images")
