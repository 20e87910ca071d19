"""The image-to-image translation training kind: pix2pix (paired), CycleGAN (unpaired) and
CUT (contrastive: unpaired, one way).

:func:`setup` builds a :class:`~gankit.training.kinds.Setup` like the noise-to-image kind
does, through the same driver and callbacks. Its state holds the generators (``G_AB`` and,
unpaired, ``G_BA``), the discriminators (``D_B``, unpaired also ``D_A``), CUT's PatchNCE
heads (``H_AB``), their EMA copies when ``train.ema_kimg`` is set, both optimisers and,
unpaired, the two image pools; all of them are registered, so checkpoints and exact resume
need nothing more. A run with semantic consistency gets labelled batches here and its
source classifiers from the evaluation layer (:mod:`gankit.evaluation.semantic`), which owns
the classifiers.
:func:`translation_networks` is the one place that builds a translation run's networks,
for training and for loading a finished run (:func:`load_run`, the kind's loader in
:data:`gankit.training.kinds.TRAINING`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch

from gankit.config import Config
from gankit.core.losses import get_loss
from gankit.core.models.translation import (build_generator, build_patch_discriminator,
                                            receptive_field)
from gankit.core.patch_nce import PatchHeads
from gankit.core.pool import ImagePool
from gankit.core.steps import ema_beta
from gankit.data import load_translation, to_uint8
from gankit.data.batches import to_model_range
from gankit.data.pair_batches import TwoDomainBatches
from gankit.data.pictures import save_grid
from gankit.errors import UserError
from gankit.training.distributed import Context
from gankit.training.noise_to_image import make_adam, set_deterministic
from gankit.training.kinds import Setup
from gankit.training.state import TrainingState
from gankit.training.strategies import LinearDecay
from gankit.training.trainer import Budget
from gankit.training.translation_steps import CUTStep, CycleGANStep, Pix2PixStep

PICTURE_ROWS = 8  # held-out inputs in each sample picture


def translation_networks(cfg: Config, shape_a: tuple[int, int, int],
                         shape_b: tuple[int, int, int], device: torch.device,
                         ema: bool = False) -> TrainingState:
    """A state with the run's generators and discriminators (and EMA copies), built from
    the config and the two domains' image shapes (C, H, W); a size the networks cannot
    take is a :class:`UserError`."""
    tr, size = cfg.translation, shape_a[1]
    paired = tr.mode == "paired"
    if one_way(cfg) and tr.direction == "BtoA":  # one generator, from the input domain
        shape_a, shape_b = shape_b, shape_a

    def generator(c_in: int, c_out: int):
        return build_generator(tr.generator, c_in, c_out, size, base_channels=tr.g_channels,
                               norm=tr.norm, dropout=tr.dropout, n_blocks=tr.resnet_blocks)

    def discriminator(c_in: int):
        return build_patch_discriminator(c_in, size, base_channels=tr.d_channels,
                                         n_layers=tr.d_layers, norm=tr.norm)

    state = TrainingState(device)
    try:
        nets = {"G_AB": generator(shape_a[0], shape_b[0])}
        if paired and tr.gan_weight > 0:  # D sees the input and the output stacked
            nets["D_B"] = discriminator(shape_a[0] + shape_b[0])
        elif tr.mode == "contrastive":
            nets["D_B"] = discriminator(shape_b[0])
            nets["H_AB"] = patch_heads(nets["G_AB"], shape_a, tr.nce_head)
        elif not paired:
            nets.update(G_BA=generator(shape_b[0], shape_a[0]), D_A=discriminator(shape_a[0]),
                        D_B=discriminator(shape_b[0]))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    for name, net in nets.items():
        state.register(name, net.to(device))
    for name in ("G_AB", "G_BA"):
        if name in nets:
            copy_ = copy.deepcopy(nets[name]).eval().requires_grad_(False) if ema else None
            state.register(f"{name}_ema", copy_, optional=True)
    return state


def one_way(cfg: Config) -> bool:
    """Whether the run trains one generator, from its direction's input domain (pix2pix,
    CUT), rather than both (CycleGAN)."""
    return cfg.translation.mode in ("paired", "contrastive")


def patch_heads(G: torch.nn.Module, shape: tuple[int, int, int], width: int) -> PatchHeads:
    """CUT's MLP heads for the channels of ``G``'s PatchNCE layers on (C, H, W) inputs."""
    with torch.no_grad():
        channels = [f.shape[1] for f in G.nce_features(torch.zeros(1, *shape))]
    return PatchHeads(channels, width)


def generators(state: TrainingState) -> list[str]:
    return [name for name in ("G_AB", "G_BA") if name in state]


def _load_data(cfg: Config, ctx: Context):
    if ctx.enabled:
        raise UserError("translation runs train in one process for now: drop --nproc/torchrun")
    d = cfg.data
    data = load_translation(d.name, image_size=d.image_size, channels=d.channels, root=d.root)
    paired = cfg.translation.mode == "paired"
    if paired and not data.paired:
        raise UserError(f"{d.name} holds unpaired domains; the {cfg.preset} recipe needs "
                        f"pairs: use --set translation.mode=unpaired (e.g. --preset cyclegan)")
    for name, images in (("A", data.a), ("B", data.b)):
        if len(images) == 0:
            raise UserError(f"{d.name}: domain {name} holds no training images")
    if cfg.translation.semantic_weight > 0 and (data.a_labels is None or data.b_labels is None):
        why = " (its labels are for evaluation only)" if data.a_test_labels is not None else ""
        raise UserError(f"translation.semantic_weight needs class labels of both domains' "
                        f"training images, and {d.name} has none{why}; a folder gives them "
                        f"by class subfolders: trainA/<class>/, trainB/<class>/")
    return data


def _picture(cfg: Config, state: TrainingState, data, device: torch.device):
    """``draw(path, step)``: rows of held-out input | output | reconstruction (CycleGAN) or
    input | output | held-out target image (pix2pix, CUT: the true target where the set is
    paired), from the EMA generators where kept."""
    reverse = cfg.translation.direction == "BtoA"
    source, target = (data.b_test, data.a_test) if reverse else (data.a_test, data.b_test)
    inputs = to_model_range(source[:PICTURE_ROWS], "tanh").to(device)
    targets = to_model_range(target[:PICTURE_ROWS], "tanh").to(device)
    # a one-way run's only generator is G_AB, from its direction's input domain
    forward, backward = ("G_BA", "G_AB") if reverse and not one_way(cfg) else ("G_AB", "G_BA")

    def net(name: str):
        return state.first(f"{name}_ema", name)

    def draw(path: Path, step: int) -> Path:
        with eval_mode(state):
            out = net(forward)(inputs)
            third = net(backward)(out) if backward in state else targets
        columns = [inputs, out, third]
        channels = max(c.shape[1] for c in columns)
        columns = [c.expand(-1, channels, -1, -1) for c in columns]
        grid = torch.stack(columns, 1).flatten(0, 1)  # row by row: input, output, third
        return save_grid(to_uint8(grid.float().cpu(), "tanh"), path, nrow=3)

    return draw


class eval_mode:
    """Every network of ``state`` in eval mode without gradients, restored afterwards."""

    def __init__(self, state: TrainingState):
        self.nets = [state[n] for n in state.names()
                     if isinstance(state.get(n), torch.nn.Module)]

    def __enter__(self):
        self.modes = [net.training for net in self.nets]
        self.grad = torch.no_grad()
        self.grad.__enter__()
        for net in self.nets:
            net.eval()

    def __exit__(self, *exc):
        for net, mode in zip(self.nets, self.modes):
            net.train(mode)
        self.grad.__exit__(*exc)


def _strategy(cfg: Config, state: TrainingState, total_steps: int):
    tr, o = cfg.translation, cfg.optim
    gens = generators(state)
    discs = [n for n in ("D_A", "D_B") if n in state]
    # CUT's heads learn with G (one Adam over both is CUT's two: Adam is per parameter)
    trained_with_g = gens + [n for n in ("H_AB",) if n in state]
    opt_G = make_adam(cfg, [p for n in trained_with_g for p in state[n].parameters()], o.lr_g)
    state.register("opt_G", opt_G)
    opt_D = None
    if discs:
        opt_D = make_adam(cfg, [p for n in discs for p in state[n].parameters()], o.lr_d)
        state.register("opt_D", opt_D)
    rates = [(opt_G, o.lr_g)] + ([(opt_D, o.lr_d)] if opt_D is not None else [])
    ema_pairs = [(state[f"{n}_ema"], state[n]) for n in gens if f"{n}_ema" in state]
    # CycleGAN trains both ways whatever its direction (which only picks what gankit
    # translate and eval do by default); one-way runs take the direction's input as A
    shared = dict(schedule=LinearDecay(rates, total_steps, o.lr_decay),
                  loss=get_loss(cfg.loss.name), opt_G=opt_G, opt_D=opt_D,
                  reverse=one_way(cfg) and tr.direction == "BtoA",
                  ema=(ema_pairs, ema_beta(cfg.train.batch_size, cfg.train.ema_kimg))
                  if ema_pairs else None)
    return _step_of(tr, state, shared), rates


def _step_of(tr, state: TrainingState, shared: dict):
    """The mode's step strategy on the state's networks (``shared``: the arguments every
    strategy takes)."""
    if tr.mode == "paired":
        return Pix2PixStep(G=state["G_AB"], D=state.get("D_B"), gan_weight=tr.gan_weight,
                           l1_weight=tr.l1_weight, **shared)
    if tr.mode == "contrastive":
        return CUTStep(G=state["G_AB"], D=state["D_B"], heads=state["H_AB"],
                       nce_weight=tr.nce_weight, nce_identity=tr.nce_identity,
                       patches=tr.nce_patches, temperature=tr.nce_temperature, **shared)
    pools = {name: ImagePool(tr.pool_size) for name in ("pool_A", "pool_B")}
    for name, pool in pools.items():
        state.register(name, pool)
    return CycleGANStep(G_AB=state["G_AB"], G_BA=state["G_BA"], D_A=state["D_A"],
                        D_B=state["D_B"], cycle_weight=tr.cycle_weight,
                        identity_weight=tr.identity_weight, **pools, **shared)


def setup(cfg: Config, ctx: Context, echo) -> Setup:
    """Everything a translation run needs before its first step."""
    t, device = cfg.train, ctx.device
    set_deterministic(t.deterministic)
    torch.manual_seed(t.seed)
    data = _load_data(cfg, ctx)
    shape_a, shape_b = tuple(data.a.shape[1:]), tuple(data.b.shape[1:])
    state = translation_networks(cfg, shape_a, shape_b, device, ema=t.ema_kimg > 0)
    for name in state.names():
        if name.startswith(("G_", "D_")) and not name.endswith("_ema"):
            state[name].train()
    if "D_B" in state:
        layers = state["D_B"].n_layers
        echo(f"PatchGAN D: {layers} stride-2 layers, {receptive_field(layers)}x"
             f"{receptive_field(layers)} px patches on {shape_a[1]} px images")
    labels = None  # only semantic consistency reads the training labels
    if cfg.translation.semantic_weight > 0:
        labels = (data.a_labels.to(device), data.b_labels.to(device))
    batches = TwoDomainBatches(data.a.to(device), data.b.to(device), t.batch_size,
                               data.paired and cfg.translation.mode == "paired", t.seed,
                               labels=labels)
    limits = [n for n in (t.steps, t.epochs * len(batches)) if n > 0]
    total_steps = min(limits) if limits else 0
    strategy, rates = _strategy(cfg, state, total_steps)
    header = {"shape_a": list(shape_a), "shape_b": list(shape_b), "image_shape": list(shape_a)}
    return Setup(state=state, strategy=strategy, batches=batches,
                 budget=Budget(total_steps=total_steps, minutes=t.minutes), header=header,
                 draw=_picture(cfg, state, data, device), learning_rates=rates, data=data,
                 total_epochs=-(-total_steps // len(batches)) if total_steps else 0)


@dataclass
class TranslationRun:
    """A trained translation run: its networks (eval mode), config and where it stopped."""

    nets: TrainingState
    config: Config
    step: int
    shape_a: tuple[int, int, int]
    shape_b: tuple[int, int, int]
    run_dir: Path | None = None
    kind: str = "translation"

    def translator(self, direction: str | None = None, ema: bool = True) -> torch.nn.Module:
        """The generator for ``direction`` (default: the run's): a paired or contrastive
        (CUT) run translates the way it was trained; a CycleGAN run both ways."""
        tr = self.config.translation
        direction = direction or tr.direction
        if direction not in ("AtoB", "BtoA"):
            raise UserError(f"direction must be AtoB or BtoA, not {direction!r}")
        if one_way(self.config):
            if direction != tr.direction:
                raise UserError(f"this {tr.mode} run was trained {tr.direction} (one way); "
                                f"it cannot translate {direction}")
            name = "G_AB"
        else:
            name = "G_AB" if direction == "AtoB" else "G_BA"
        return self.nets.first(f"{name}_ema", name) if ema else self.nets[name]

    @torch.no_grad()
    def translate(self, images_u8: torch.Tensor, direction: str | None = None,
                  ema: bool = True, batch_size: int = 64) -> torch.Tensor:
        """uint8 images (N, C, H, W) of the input size and channels -> uint8 translations
        (N, C_out, H, W) by the generator for ``direction`` (default: the run's)."""
        G = self.translator(direction, ema=ema)
        expected = self.input_shape(direction)
        if images_u8.dim() != 4 or tuple(images_u8.shape[1:]) != expected:
            raise UserError(f"images of shape {tuple(images_u8.shape[1:])} given; this run "
                            f"translates {expected[0]}-channel {expected[1]}x{expected[2]} "
                            f"images")
        device = next(G.parameters()).device
        out = [G(to_model_range(chunk, "tanh").to(device)).float().cpu()
               for chunk in images_u8.split(batch_size)]
        return to_uint8(torch.cat(out), "tanh") if out else images_u8[:0]

    def input_shape(self, direction: str | None = None) -> tuple[int, int, int]:
        """(C, H, W) of the images ``direction`` takes."""
        return self.shape_b if (direction or self.config.translation.direction) == "BtoA" \
            else self.shape_a


def load_run(cfg: Config, saved: dict, device: torch.device,
             run_dir: Path | None) -> TranslationRun:
    """The translation run a checkpoint holds: everything is rebuilt from the checkpoint's
    config and shapes, so no flag has to be repeated at inference time."""
    shape_a = tuple(int(s) for s in saved["shape_a"])
    shape_b = tuple(int(s) for s in saved["shape_b"])
    has_ema = any(saved.get(f"{n}_ema") is not None for n in ("G_AB", "G_BA"))
    nets = translation_networks(cfg, shape_a, shape_b, device, ema=has_ema)
    nets.load_state_dict(saved, rng=False, only=tuple(nets.names()))
    for name in nets.names():
        if isinstance(nets.get(name), torch.nn.Module):
            nets[name].eval()
    return TranslationRun(nets, cfg, nets.counters.step, shape_a, shape_b, run_dir)
