"""The noise-to-image training kind (images, and the 2-D point sets): what a run builds
from its config before the trainer takes over.

:func:`setup` returns a :class:`~gankit.training.kinds.Setup`: the data's batches, the
networks, EMA and optimisers in a :class:`TrainingState`, the general step strategy, the
budget and how to draw the fixed-noise sample picture, and what the speed machinery may
tune (:class:`~gankit.training.strategies.Tunable`: the driver hands it over and may get a
faster step back). :func:`networks_state` is the one place that builds the networks of a
run, for training and for loading a finished run alike.
"""

from __future__ import annotations

import copy
import itertools
import math
from pathlib import Path

import torch
from torch import nn

from gankit.config import Config
from gankit.core.augment import maybe_augment
from gankit.core.losses import get_loss
from gankit.core.models import build_models
from gankit.core.penalties import smooth_labels
from gankit.core.steps import ema_beta
from gankit.data import is_points_shape, load_dataset, to_uint8
from gankit.data.pictures import save_grid, save_scatter
from gankit.data.streaming import fits_in_memory, memory_budget_bytes
from gankit.errors import UserError
from gankit.training.accel import (channels_last, compile_mode, compile_models, configure_cuda,
                                   grad_scalers, with_precision)
from gankit.training.distributed import Context
from gankit.training.kinds import Setup
from gankit.training.state import TrainingState
from gankit.training.strategies import GeneralStep, LinearDecay, NoiseToImage, Phase, Tunable
from gankit.training.trainer import Budget

NETWORKS = ("G", "D", "G_ema")


def networks_state(cfg: Config, image_shape: tuple[int, ...], num_classes: int,
                   device: torch.device, ema: bool) -> TrainingState:
    """A state holding G, D and (with ``ema``) G_ema, built for ``image_shape``; a shape
    the model cannot take is a :class:`UserError`."""
    try:
        G, D = build_models(cfg.model, image_shape, num_classes)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    state = TrainingState(device)
    state.register("G", G.to(device))
    state.register("D", D.to(device))
    G_ema = copy.deepcopy(G).eval().requires_grad_(False) if ema else None
    state.register("G_ema", G_ema, optional=True)  # older runs without EMA wrote None
    return state


def make_adam(cfg: Config, params, lr: float) -> torch.optim.Optimizer:
    """Adam with the config's betas and eps: fused (one kernel per tensor, the fastest on
    CUDA and the CPU) where the build has it, else foreach."""
    o, params = cfg.optim, list(params)
    try:
        return torch.optim.Adam(params, lr=lr, betas=(o.beta1, o.beta2), eps=o.eps, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.Adam(params, lr=lr, betas=(o.beta1, o.beta2), eps=o.eps,
                                foreach=True)


def make_optimisers(cfg: Config, G: nn.Module, D: nn.Module):
    """Adam for G and D with the config's rates."""
    return make_adam(cfg, G.parameters(), cfg.optim.lr_g), \
        make_adam(cfg, D.parameters(), cfg.optim.lr_d)


def set_deterministic(enabled: bool) -> None:
    """PyTorch's documented switches for reproducible results (see the README)."""
    if enabled:
        import os

        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def _place_data(data, labels, cfg: Config, ctx: Context, echo):
    """(samples, labels, stream): the data on the training device (the way for any set
    that fits the memory budget), or, for a memory-mapped prepared set over the budget,
    left in its map to be streamed batch by batch (:mod:`gankit.data.streaming`)."""
    device = ctx.device
    if not data.mapped:
        return data.samples.to(device), labels.to(device) if labels is not None else None, False
    nbytes = data.samples.numel()
    # On the CPU every process holds its own copy; on a GPU the host copy is transient.
    copies = ctx.world_size if device.type == "cpu" else 1
    if fits_in_memory(nbytes, cfg.data.memory_budget_gb, copies):
        # .to() of a CPU map is the map itself; a copy reads the file once, in order
        samples = data.samples.clone() if device.type == "cpu" else data.samples.to(device)
        return samples, labels.to(device) if labels is not None else None, False
    budget = memory_budget_bytes(cfg.data.memory_budget_gb) / 2 ** 30
    echo(f"data: {data.name} ({nbytes / 2 ** 30:.1f} GiB x {copies} process(es)) is over the "
         f"memory budget of {budget:.1f} GiB (data.memory_budget_gb): batches are read from "
         f"its memory map in a background thread")
    return data.samples, labels, True


def _load_data(cfg: Config, ctx: Context, echo):
    """The data set, its batches for this process, and its class count (0: unconditional)."""
    t = cfg.train
    data = load_dataset(cfg.data)
    if data.note:
        echo(data.note)
    conditional = cfg.model.conditional and data.labels is not None and data.num_classes > 1
    if cfg.model.conditional and not conditional:
        echo(f"note: {data.name} has no class labels; training unconditionally")
    samples, labels, stream = _place_data(data, data.labels if conditional else None, cfg,
                                          ctx, echo)
    global_batch, local_batch = ctx.batch_sizes(t.batch_size, t.per_device_batch)
    # PacGAN packing splits every batch into packs of model.pack: keep batches whole.
    batches = ctx.epoch_batches(samples, labels, global_batch, t.drop_last or cfg.model.pack > 1,
                                t.seed, cfg.data.value_range, mirror=cfg.data.mirror,
                                stream=stream)
    if cfg.model.pack > 1 and local_batch % cfg.model.pack:
        raise UserError(f"--pack {cfg.model.pack} must divide the per-process batch "
                        f"({local_batch})")
    if cfg.model.pack > 1 and len(samples) < global_batch:
        raise UserError(f"--pack needs at least one full batch: {data.name} holds "
                        f"{len(samples)} samples, the batch size is {t.batch_size}")
    return data, batches, (data.num_classes if conditional else 0), global_batch


def _device_settings(cfg: Config, ctx: Context, G: nn.Module, D: nn.Module, echo) -> bool:
    """CUDA switches, memory format, compilation; True when CUDA graphs are in use. fp32
    eager is the tutorial's exact maths; everything else is opt-in or numerically neutral."""
    t, device = cfg.train, ctx.device
    switches = configure_cuda(device, t.deterministic, t.tf32)
    if channels_last(device, G, D):
        switches.append("channels_last")
    if switches:
        echo("cuda: " + ", ".join(switches))
    graphs = t.cuda_graphs and device.type == "cuda"
    if t.cuda_graphs and not graphs:
        echo(f"--cuda-graphs: CUDA graphs need a CUDA device ({device.type} here); "
             f"compiling without them")
    if t.compile or t.cuda_graphs:
        graphs = compile_models(G, D, device=device, echo=echo,
                                mode=compile_mode(device, t.cuda_graphs)) and graphs
    return graphs


def _general_step(cfg: Config, ctx: Context, entries, total_steps: int, global_batch: int,
                  graphs: bool) -> GeneralStep:
    """The run's step, ``d_step`` then ``g_step``, built on ``entries`` (the run's state, or
    a mapping of copies of its G, D and optimisers for the speed machinery's calibration)."""
    t, lo, device = cfg.train, cfg.loss, ctx.device
    G, D, opt_G, opt_D = entries["G"], entries["D"], entries["opt_G"], entries["opt_D"]
    G_ddp, D_ddp = ctx.wrap(G), ctx.wrap(D)  # DDP averages gradients; EMA uses G itself
    G_run, D_run = (with_precision(net, device, t.precision) for net in (G_ddp, D_ddp))
    loss = smooth_labels(get_loss(lo.name), lo.label_smoothing, lo.name)
    D_run = maybe_augment(D_run, t.diffaugment)  # DiffAugment: D sees transformed images
    return GeneralStep(
        phases={"D": Phase("D"), "G": Phase("G", t.n_critic), "R1": Phase("R1", lo.r1_every)},
        schedule=LinearDecay([(opt_G, cfg.optim.lr_g), (opt_D, cfg.optim.lr_d)], total_steps,
                             cfg.optim.lr_decay),
        noise=lambda batch: ctx.noise(batch, cfg.model.latent_dim, device),
        # G (and so its EMA) changes once every n_critic steps
        ema=((entries["G_ema"], G, ema_beta(global_batch * t.n_critic, t.ema_kimg))
             if "G_ema" in entries else None),
        mark_step=torch.compiler.cudagraph_mark_step_begin if graphs else None,
        G=G_run, D=D_run, opt_G=opt_G, opt_D=opt_D, loss=loss,
        D_sync_off=lambda: ctx.no_sync(D_ddp), scalers=grad_scalers(device, t.precision),
        separate_d_updates=t.d_updates == "separate", fresh_noise_for_g=t.g_fresh_noise,
        gp_weight=lo.gp_weight, r1_gamma=lo.r1_gamma)


def _trial(cfg: Config, ctx: Context, data_shape, global_batch: int, num_classes: int):
    """``trial(strategy)``: one update of ``strategy`` (built on copies of the run's state)
    on a random batch of the run's shapes, a step counter of its own deciding G's phase
    (for the calibration; the run's data and state are not touched)."""
    generator = torch.Generator().manual_seed(0)
    real = torch.rand(global_batch, *data_shape, generator=generator)
    real = (real * 2 - 1 if cfg.data.value_range == "tanh" else real).to(ctx.device)
    z = torch.randn(global_batch, cfg.model.latent_dim, generator=generator).to(ctx.device)
    classes = (torch.randint(num_classes, (global_batch,), generator=generator).to(ctx.device)
               if num_classes else None)

    def trial(strategy: NoiseToImage):
        steps = itertools.count()

        def step() -> None:
            i = next(steps)
            strategy.update(i, real, classes, z, strategy.phases["G"].due(i))
        return step

    return trial


def _tunable(cfg: Config, ctx: Context, state: TrainingState, strategy: GeneralStep, *, build,
             data_shape, global_batch: int, num_classes: int) -> Tunable:
    """What the speed machinery may tune in this run (see :class:`Tunable`)."""
    return Tunable(
        entries={name: state[name] for name in ("G", "D", "opt_G", "opt_D")},
        networks=[state[name] for name in NETWORKS if state.get(name) is not None],
        called=(strategy.G, strategy.D), loss=strategy.loss, conditional=num_classes > 0,
        key={"model": cfg.model.name, "batch": global_batch, "data_shape": list(data_shape),
             "classes": num_classes, "n_critic": cfg.train.n_critic, "loss": cfg.loss.name},
        rebuild=build, trial=_trial(cfg, ctx, data_shape, global_batch, num_classes))


def _picture(cfg: Config, state: TrainingState, data, device: torch.device):
    """``draw(path, step)``: the EMA generator (else G) on fixed noise, as an image grid or,
    for point sets, a scatter plot; the same noise at every step and after a resume."""
    fixed_z = torch.randn(cfg.train.grid_size, cfg.model.latent_dim,
                          generator=torch.Generator().manual_seed(cfg.train.seed + 1))
    fixed_z = fixed_z.to(device)

    def draw(path: Path, step: int) -> Path:
        net = state.first("G_ema", "G")
        was_training = net.training
        net.eval()
        with torch.no_grad():
            out = net(fixed_z).float().cpu()
        net.train(was_training)
        if is_points_shape(data.shape):
            return save_scatter(out, path, data.name, f"step {step}")
        return save_grid(to_uint8(out, cfg.data.value_range), path)

    return draw


def setup(cfg: Config, ctx: Context, echo) -> Setup:
    """Everything a noise-to-image run needs before its first step; ``cfg.train.precision``
    is a resolved one (the driver's speed hook resolves ``auto``)."""
    t, device = cfg.train, ctx.device
    set_deterministic(t.deterministic)
    torch.manual_seed(t.seed)
    data, batches, num_classes, global_batch = _load_data(cfg, ctx, echo)
    state = networks_state(cfg, data.shape, num_classes, device, ema=False)
    G, D = state["G"].train(), state["D"].train()
    graphs = _device_settings(cfg, ctx, G, D, echo)
    if t.sync_batchnorm:  # DDP: BatchNorm statistics of the global batch
        G, D = ctx.sync_batchnorm(G), ctx.sync_batchnorm(D)
        state.replace("G", G)
        state.replace("D", D)
    if t.ema_kimg > 0:  # copied last: in G's final memory format and layers
        state.replace("G_ema", copy.deepcopy(G).eval().requires_grad_(False))
    opt_G, opt_D = make_optimisers(cfg, G, D)
    state.register("opt_G", opt_G)
    state.register("opt_D", opt_D)
    limits = [n for n in (t.steps, t.epochs * len(batches)) if n > 0]
    total_steps = min(limits) if limits else 0

    def build(entries):  # on the run's state, or copies of it (the speed machinery's)
        return _general_step(cfg, ctx, entries, total_steps, global_batch, graphs)

    strategy = build(state)
    # the precision in use (train.precision=auto: this machine's choice)
    header = {"image_shape": list(data.shape), "num_classes": num_classes,
              "precision": t.precision}
    return Setup(state=state, strategy=strategy, batches=batches,
                 budget=Budget(total_steps=total_steps, minutes=t.minutes),
                 total_epochs=math.ceil(total_steps / len(batches)) if total_steps else 0,
                 draw=_picture(cfg, state, data, device), header=header, data=data,
                 learning_rates=[(opt_G, cfg.optim.lr_g), (opt_D, cfg.optim.lr_d)],
                 evaluated=lambda: state.first("G_ema", "G"),
                 tunable=_tunable(cfg, ctx, state, strategy, build=build,
                                  data_shape=data.shape, global_batch=global_batch,
                                  num_classes=num_classes))
