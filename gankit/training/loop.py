"""``train(cfg, run_dir)``: build, resume, step, log, sample, checkpoint, stop.

The loop is the tutorial's §4 loop (pick a real batch and a fake one, train D, train G,
repeat until the budget is spent) with the bookkeeping a real run needs around it.
"""

from __future__ import annotations

import copy
from dataclasses import replace
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

from gankit import __version__
from gankit.training import distributed
from gankit.training.checkpoint import (atomic_write_text, checkpoint_path, latest_checkpoint, list_checkpoints,
                         save_checkpoint)
from gankit.config import Config, from_dict
from gankit.data import load_dataset, to_uint8
from gankit.errors import UserError
from gankit.core.losses import get_loss
from gankit.evaluation.monitor import QualityMonitor
from gankit.core.models import build_models
from gankit.training.plots import plot_losses, truncate_log
from gankit.apps.sampling import save_grid
from gankit.training.signals import GracefulStop
from gankit.training.accel import (channels_last, compile_mode, compile_models, configure_cuda, grad_scalers,
                    set_threads, with_precision)
from gankit.training.fast_mlp import fast_mlp_step
from gankit.core.steps import d_step, ema_beta, ema_update, g_step, lr_factor
from gankit.core.augment import maybe_augment
from gankit.core.penalties import g_due, regularisers_for, smooth_labels


class Diverged(Exception):
    """Raised inside the loop when a loss or weight stops being finite."""

    def __init__(self, step: int):
        super().__init__(f"non-finite values at step {step}")
        self.step = step


def _all_finite(values) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in values)


def _scalars_finite(values) -> bool:
    """Whether every 0-d tensor in ``values`` is finite (one check for all of them)."""
    return bool(torch.stack(list(values)).isfinite().all())


def set_deterministic(enabled: bool) -> None:
    """PyTorch's documented switches for reproducible results (see the README)."""
    if enabled:
        import os

        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name!r} asked for, but PyTorch sees no CUDA GPU here")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"bad device {name!r}") from None


def _make_optimisers(cfg: Config, G, D, device):
    o = cfg.optim

    def adam(params, lr):
        # Fused Adam (one kernel per tensor) is the fastest on CUDA and on the CPU (measured
        # on 2 cores: seed-mlp ~15% faster than foreach); foreach where fused is unsupported.
        params = list(params)
        try:
            return torch.optim.Adam(params, lr=lr, betas=(o.beta1, o.beta2), eps=o.eps,
                                    fused=True)
        except (RuntimeError, ValueError):
            return torch.optim.Adam(params, lr=lr, betas=(o.beta1, o.beta2), eps=o.eps,
                                    foreach=True)

    return adam(G.parameters(), o.lr_g), adam(D.parameters(), o.lr_d)


def _check_same_model(saved: Config, cfg: Config, run_dir: Path) -> None:
    for section in ("model", "data"):
        if getattr(saved, section) != getattr(cfg, section):
            raise UserError(f"{run_dir} was trained with a different {section} config; resume "
                            f"without changing {section}.* or use a new --out")


class _TensorBoard:
    """Scalars and grids to TensorBoard when it is installed; silently nothing otherwise."""

    def __init__(self, run_dir: Path, enabled: bool):
        self.writer = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                return
            self.writer = SummaryWriter(str(run_dir / "tensorboard"))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if self.writer:
            for key, value in values.items():
                self.writer.add_scalar(f"train/{key}", value, step)

    def grid(self, step: int, path: Path) -> None:
        if self.writer:
            import numpy as np
            from PIL import Image

            self.writer.add_image("samples", np.asarray(Image.open(path).convert("RGB")), step,
                                  dataformats="HWC")

    def close(self) -> None:
        if self.writer:
            self.writer.close()


def train(cfg: Config, run_dir: str | Path, resume: bool = False, progress: bool = True,
          echo=print) -> Path:
    """Train per ``cfg`` into ``run_dir`` and return it (see :func:`_train`).

    Under ``torchrun`` every process calls this; they train one model with
    DistributedDataParallel, and rank 0 alone prints and writes (:mod:`gankit.training.distributed`).
    """
    ctx = distributed.start(pick_device(cfg.train.device))
    if not ctx.is_main:
        progress, echo = False, (lambda *args, **kwargs: None)
    try:
        result = _train_with_retries(cfg, run_dir, resume, progress, echo, ctx)
        ctx.barrier()  # rank 0 has written everything: leave the process group together
        return result
    finally:
        ctx.close()


def _train_with_retries(cfg: Config, run_dir: str | Path, resume: bool, progress: bool, echo,
                        ctx: distributed.Context) -> Path:
    """:func:`_train`, rolled back and retried on divergence.

    A first SIGINT/SIGTERM finishes the current step, writes a checkpoint and returns.
    A non-finite loss or weight rolls back to the last good checkpoint with the learning
    rates multiplied by ``train.divergence_lr_factor``, at most ``train.divergence_retries``
    times; then training stops with a clear message.
    """
    with GracefulStop() as stop:
        for attempt in range(cfg.train.divergence_retries + 1):
            try:
                return _train(cfg, Path(run_dir), resume, progress, echo, stop, ctx)
            except OSError as exc:
                # A full disk or a folder that turned read-only mid-run: checkpoints are
                # written atomically, so the last good one is intact.
                raise UserError(f"cannot write to {run_dir}: {exc.strerror or exc}; the last "
                                f"good checkpoint is kept - fix that, then continue with: "
                                f"gankit train --resume {run_dir}") from None
            except Diverged as diverged:
                if attempt == cfg.train.divergence_retries:
                    raise UserError(f"training diverged (non-finite values at step "
                                    f"{diverged.step}) after {attempt} rollbacks; lower the "
                                    f"learning rates or change the loss") from None
                factor = cfg.train.divergence_lr_factor
                cfg = replace(cfg, optim=replace(cfg.optim, lr_g=cfg.optim.lr_g * factor,
                                                 lr_d=cfg.optim.lr_d * factor))
                echo(f"warning: non-finite values at step {diverged.step}; rolling back to the "
                     f"last checkpoint with learning rates x{factor} (lr_g={cfg.optim.lr_g:.3g}, "
                     f"lr_d={cfg.optim.lr_d:.3g})")
                resume = True
    raise AssertionError("unreachable")


def _train(cfg: Config, run_dir: Path, resume: bool, progress: bool, echo,
           stop: GracefulStop, ctx: distributed.Context | None = None) -> Path:
    """Train per ``cfg`` into ``run_dir`` and return it.

    ``resume=True`` continues from the newest good checkpoint in ``run_dir`` with that run's
    saved config (budgets from ``cfg`` apply). Writes config.json, log.jsonl,
    samples/step_XXXXXXX.png, samples/final.png, loss.png and checkpoints/.
    """
    run_dir = Path(run_dir)
    t = cfg.train
    ctx = ctx or distributed.Context(device=pick_device(t.device))

    # --- the run directory: never overwrite earlier work --------------------------------
    state: dict[str, Any] | None = None
    if resume:
        state = latest_checkpoint(run_dir, "cpu", warn=echo)
        saved = from_dict(json.loads(state["config"]))
        _check_same_model(saved, cfg, run_dir)
    elif list_checkpoints(run_dir):
        raise UserError(f"{run_dir} already holds a run; add --resume to continue it or "
                        f"choose another --out")
    try:
        if ctx.is_main:
            (run_dir / "samples").mkdir(parents=True, exist_ok=True)
            atomic_write_text(run_dir / "config.json", cfg.to_json())
    except OSError as exc:
        raise UserError(f"cannot write to {run_dir}: {exc.strerror or exc}") from None
    ctx.barrier()  # every rank has looked for earlier work before rank 0 writes any

    # --- device, data, networks, optimisers ----------------------------------------------
    device = ctx.device
    set_deterministic(t.deterministic)
    torch.manual_seed(t.seed)
    data = load_dataset(cfg.data)
    images = data.images.to(device)
    conditional = cfg.model.conditional and data.labels is not None and data.num_classes > 1
    if cfg.model.conditional and not conditional:
        echo(f"note: {data.name} has no class labels; training unconditionally")
    labels = data.labels.to(device) if conditional else None
    # PacGAN packing splits every batch into packs of model.pack: keep batches whole.
    # Under torchrun each rank gets its strided share of every global batch.
    global_batch, local_batch = ctx.batch_sizes(t.batch_size, t.per_device_batch)
    batches = ctx.epoch_batches(images, labels, global_batch, t.drop_last or cfg.model.pack > 1,
                                t.seed, cfg.data.value_range)
    points = data.kind == "points"  # the 2-D toy sets: scatter plots instead of grids
    if cfg.model.pack > 1 and local_batch % cfg.model.pack:
        raise UserError(f"--pack {cfg.model.pack} must divide the per-process batch "
                        f"({local_batch})")
    if cfg.model.pack > 1 and len(images) < global_batch:
        raise UserError(f"--pack needs at least one full batch: {data.name} holds "
                        f"{len(images)} samples, the batch size is {t.batch_size}")
    num_classes = data.num_classes if conditional else 0
    G, D = build_models(cfg.model, data.shape, num_classes)
    G.to(device).train()
    D.to(device).train()
    cuda_switches = configure_cuda(device, t.deterministic, t.tf32)
    if channels_last(device, G, D):
        cuda_switches.append("channels_last")
    if cuda_switches:
        echo("cuda: " + ", ".join(cuda_switches))
    if t.sync_batchnorm:  # DDP: BatchNorm statistics of the global batch
        G, D = ctx.sync_batchnorm(G), ctx.sync_batchnorm(D)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False) if t.ema_kimg > 0 else None
    opt_G, opt_D = _make_optimisers(cfg, G, D, device)
    # Speed (train.threads, .precision, .compile); fp32 eager is the tutorial's exact maths.
    # The automatic thread count follows the machine's load, so a deterministic run keeps
    # PyTorch's own count unless --threads names one.
    if t.threads or (device.type == "cpu" and not t.deterministic):
        set_threads(t.threads)
    graphs = t.cuda_graphs and device.type == "cuda"
    if t.cuda_graphs and not graphs:
        echo(f"--cuda-graphs: CUDA graphs need a CUDA device ({device.type} here); "
             f"compiling without them")
    if t.compile or t.cuda_graphs:
        graphs = compile_models(G, D, device=device, echo=echo,
                                mode=compile_mode(device, t.cuda_graphs)) and graphs
    # DDP averages the gradients across ranks; EMA and checkpoints use the unwrapped G, D.
    G_ddp, D_ddp = ctx.wrap(G), ctx.wrap(D)
    G_run, D_run = (with_precision(net, device, t.precision) for net in (G_ddp, D_ddp))
    scaler_D, scaler_G = grad_scalers(device, t.precision)
    loss = smooth_labels(get_loss(cfg.loss.name), cfg.loss.label_smoothing, cfg.loss.name)
    D_run = maybe_augment(D_run, t.diffaugment)  # DiffAugment: D sees transformed images
    # G (and so its EMA) changes once every n_critic steps.
    beta = ema_beta(global_batch * t.n_critic, t.ema_kimg)
    # Fixed noise for the sample grids: the same images-to-be at every step and on resume.
    fixed_z = torch.randn(t.grid_size, cfg.model.latent_dim,
                          generator=torch.Generator().manual_seed(t.seed + 1)).to(device)

    step, epoch, batch_in_epoch, images_seen, seconds_before = 0, 0, 0, 0, 0.0
    if state is not None:
        G.load_state_dict(state["G"])
        D.load_state_dict(state["D"])
        if G_ema is not None and state.get("G_ema") is not None:
            G_ema.load_state_dict(state["G_ema"])
        opt_G.load_state_dict(state["opt_G"])
        opt_D.load_state_dict(state["opt_D"])
        # The config's learning rates win over the saved ones (rollbacks lower them).
        for opt, lr in ((opt_G, cfg.optim.lr_g), (opt_D, cfg.optim.lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr
        step, epoch = int(state["step"]), int(state["epoch"])
        batch_in_epoch, images_seen = int(state["batch_in_epoch"]), int(state["images_seen"])
        seconds_before = float(state.get("seconds", 0.0))
        echo(f"resuming {run_dir} at step {step} (epoch {epoch + 1})")

    # --- budget -------------------------------------------------------------------------
    steps_per_epoch = len(batches)
    limits = [n for n in (t.steps, t.epochs * steps_per_epoch) if n > 0]
    total_steps = min(limits) if limits else 0
    total_epochs = math.ceil(total_steps / steps_per_epoch) if total_steps else 0
    deadline = time.monotonic() + t.minutes * 60 if t.minutes > 0 else math.inf

    # Ranks stop together: time, target and signals are agreed on by an all-reduce, every
    # step on the CPU, every 10th on GPUs (reading the flag back waits for the device).
    agree_every = 10 if ctx.enabled and device.type == "cuda" else 1

    def budget_spent() -> bool:
        if total_steps and step >= total_steps:
            return True
        wants_stop = time.monotonic() >= deadline or target_reached or stop.requested
        if not ctx.enabled:
            return wants_stop
        return step % agree_every == 0 and ctx.any(wants_stop)

    # --- bookkeeping helpers --------------------------------------------------------------
    if state is not None and ctx.is_main:
        # Lines logged after the checkpoint belong to steps that will be trained again.
        truncate_log(run_dir / "log.jsonl", step)
    # Rank 0 alone logs, samples, evaluates and checkpoints.
    log_file = open(run_dir / "log.jsonl" if ctx.is_main else os.devnull, "a", encoding="utf-8")
    board = _TensorBoard(run_dir, t.tensorboard and ctx.is_main)
    # Scores every train.eval_every steps, train.target, and the mode-collapse monitor; for
    # images every process generates its share of the samples (gathered for one score).
    if points:
        from gankit.evaluation.points import ToyMonitor

        quality = ToyMonitor.create(cfg, data, device) if ctx.is_main else None
    else:
        quality = QualityMonitor.create(cfg, data, device, ctx)
    target_reached = False

    def log_quality(record: dict[str, Any]) -> None:
        log_file.write(json.dumps(record) + "\n")
        log_file.flush()
        board.scalars(step, {k: v for k, v in record.items() if k != "step"})

    def write_grid(name: str) -> Path:
        if not ctx.is_main:
            return run_dir / "samples" / name
        net = G_ema if G_ema is not None else G
        was_training = net.training
        net.eval()
        with torch.no_grad():
            out = net(fixed_z).float().cpu()
        net.train(was_training)
        if points:
            from gankit.evaluation.points import save_scatter

            path = save_scatter(out, run_dir / "samples" / name, data.name, f"step {step}")
        else:
            path = save_grid(to_uint8(out, cfg.data.value_range), run_dir / "samples" / name)
        board.grid(step, path)
        return path

    def write_checkpoint() -> Path:
        # A checkpoint with non-finite weights is never written: roll back instead.
        nets = [G, D] + ([G_ema] if G_ema is not None else [])
        if not _all_finite(p for net in nets for p in net.parameters()):
            raise Diverged(step)
        if not ctx.is_main:
            return checkpoint_path(run_dir, step)
        return save_checkpoint(run_dir, {
            "version": __version__, "config": cfg.to_json(), "step": step, "epoch": epoch,
            "batch_in_epoch": batch_in_epoch, "images_seen": images_seen,
            "seconds": seconds_before + time.monotonic() - started,
            "image_shape": list(data.shape), "num_classes": num_classes,
            "G": G.state_dict(), "D": D.state_dict(),
            "G_ema": G_ema.state_dict() if G_ema is not None else None,
            "opt_G": opt_G.state_dict(), "opt_D": opt_D.state_dict(),
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        }, keep=t.keep_checkpoints)

    from tqdm import tqdm

    bar = tqdm(total=total_steps or None, initial=step, unit="step", dynamic_ncols=True,
               disable=not progress or None, file=sys.stderr)
    say = bar.write if not bar.disable else echo
    started = time.monotonic()
    window_start, window_images = started, 0
    stats: dict[str, torch.Tensor] = {}

    def log_step() -> None:
        nonlocal window_start, window_images
        now = time.monotonic()
        # the one device sync; under DDP the losses of the global batch (mean over ranks)
        values = {k: float(v) for k, v in ctx.mean(stats).items()}
        if ctx.any(not all(math.isfinite(v) for v in values.values())):
            raise Diverged(step)
        record = {"step": step, "epoch": epoch + 1, "kimg": images_seen / 1000,
                  "seconds": round(seconds_before + now - started, 3),
                  "images_per_s": round(window_images / max(now - window_start, 1e-9), 1),
                  **{k: round(v, 6) for k, v in values.items()}}
        log_file.write(json.dumps(record) + "\n")
        log_file.flush()
        board.scalars(step, values)
        bar.set_postfix(D=f"{values['loss_d']:.3f}", G=f"{values['loss_g']:.3f}",
                        Dx=f"{values['d_real']:.2f}", DGz=f"{values['d_fake']:.2f}",
                        img_s=f"{record['images_per_s']:.0f}", refresh=False)
        window_start, window_images = now, 0

    if state is not None:
        # Restored last: building things above (e.g. the quality monitor's extractor) draws
        # random numbers, and a resumed run must draw the same z as an uninterrupted one.
        torch.set_rng_state(state["rng_cpu"])
        if device.type == "cuda" and state.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(state["rng_cuda"], device)
    ctx.sync_rng()  # all ranks draw the same global z from here on

    check_each_step = device.type == "cpu"
    if state is None:
        write_checkpoint()  # step 0: the state a divergence before the first checkpoint returns to

    def general_step(real, classes, z, update_g: bool) -> dict[str, torch.Tensor]:
        """d_step, then g_step when due, through the networks as wrapped above: any model,
        loss, penalty, precision and process count."""
        with torch.set_grad_enabled(update_g and not t.g_fresh_noise):
            fake = G_run(z) if classes is None else G_run(z, classes)
        reg = regularisers_for(step, cfg.loss.gp_weight, cfg.loss.r1_gamma, cfg.loss.r1_every)
        stats = d_step(D_run, opt_D, loss, real, fake, separate=t.d_updates == "separate",
                       scaler=scaler_D, real_labels=classes, fake_labels=classes, reg=reg)
        if update_g and t.g_fresh_noise:
            z = ctx.noise(real.shape[0], cfg.model.latent_dim, device)
            fake = G_run(z) if classes is None else G_run(z, classes)
        if update_g:
            with ctx.no_sync(D_ddp):  # D is frozen in G's step: no gradients to average
                stats.update(g_step(D_run, opt_G, loss, fake, scaler=scaler_G,
                                    fake_labels=classes))
        return stats

    # The seed MLPs on the CPU take the hand-written step (same maths, 9-16 % faster).
    fast_step = fast_mlp_step(cfg, G_run, D_run, opt_G, opt_D, loss, device, conditional,
                              ctx.world_size)

    # --- the tutorial's loop: real batch, fake batch, train D, train G, repeat -------------
    while not budget_spent():
        for real, classes in batches.epoch(epoch, start=batch_in_epoch):
            # Conditional models make fakes of the real batch's classes (classes is None
            # for unconditional ones).
            # With train.n_critic > 1 G updates after every n_critic-th D update only, and
            # the other steps' fakes need no graph.
            if graphs:  # a new iteration: outputs of the previous replays may be reused
                torch.compiler.cudagraph_mark_step_begin()
            update_g = g_due(step, t.n_critic)
            if cfg.optim.lr_decay > 0:
                scale = lr_factor(step, total_steps, cfg.optim.lr_decay)
                for opt, lr in ((opt_G, cfg.optim.lr_g), (opt_D, cfg.optim.lr_d)):
                    for group in opt.param_groups:
                        group["lr"] = lr * scale
            z = ctx.noise(real.shape[0], cfg.model.latent_dim, device)
            if fast_step is not None:
                stats = {**stats, **fast_step(real, z, update_g)}
            else:
                stats = {**stats, **general_step(real, classes, z, update_g)}
            # On the CPU reading a loss back is free, so divergence is caught at its step;
            # on a GPU that would stall the queue, so it is checked when logging.
            if check_each_step and ctx.any(not _scalars_finite(stats.values())):
                raise Diverged(step + 1)
            if G_ema is not None and update_g:
                ema_update(G_ema, G, beta)
            step += 1
            batch_in_epoch += 1
            images_seen += real.shape[0] * ctx.world_size
            window_images += real.shape[0] * ctx.world_size

            if t.log_every and step % t.log_every == 0:
                log_step()
            bar.update(1)
            if quality is not None:
                target_reached = quality.check(G_ema if G_ema is not None else G, step,
                                               log_quality, say)
            if t.sample_every and step % t.sample_every == 0:
                write_grid(f"step_{step:07d}.png")
            if t.checkpoint_every and step % t.checkpoint_every == 0:
                write_checkpoint()
            if budget_spent():
                break
        if batch_in_epoch >= steps_per_epoch:
            # A whole epoch is done: the tutorial's line, then the next epoch.
            epoch += 1
            batch_in_epoch = 0
            if epoch % t.print_every_epochs == 0 and stats:
                of = f"/{total_epochs}" if total_epochs else ""
                say(f"Epoch [{epoch}{of}], Loss D: {float(stats['loss_d']):.4f}, "
                    f"Loss G: {float(stats['loss_g']):.4f}")
    bar.close()
    if stats and not (t.log_every and step % t.log_every == 0):
        log_step()  # the last step is always in the log

    # --- the end: final grid, checkpoint, loss plot ----------------------------------------
    grid_path = write_grid("final.png")
    # modes covered, high-quality share, reverse KL -> log and toy_metrics.json (rank 0)
    if points and quality is not None:
        quality.final(G_ema if G_ema is not None else G, step, run_dir, log_quality, echo)
    write_grid(f"step_{step:07d}.png")
    ckpt_path = write_checkpoint()
    log_file.close()
    if ctx.is_main:
        plot_losses(run_dir / "log.jsonl", run_dir / "loss.png")
    board.close()
    elapsed = time.monotonic() - started
    echo(f"trained {step} steps ({images_seen / 1000:.1f} kimg) in {elapsed:.0f} s; "
         f"samples: {grid_path}; checkpoint: {ckpt_path}")
    if stop.requested:
        echo(f"stopped by {stop.signal_name} at step {step}; continue with: "
             f"gankit train --resume {run_dir}")
    return run_dir
