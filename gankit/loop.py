"""``train(cfg, run_dir)``: build, resume, step, log, sample, checkpoint, stop.

The loop is the tutorial's §4 loop (pick a real batch and a fake one, train D, train G,
repeat until the budget is spent) with the bookkeeping a real run needs around it.
"""

from __future__ import annotations

import copy
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch

from . import __version__
from .checkpoint import atomic_write_text, latest_checkpoint, list_checkpoints, save_checkpoint
from .config import Config, from_dict
from .data import EpochBatches, load_dataset, to_uint8
from .errors import UserError
from .losses import get_loss
from .models import build_models
from .report import plot_losses
from .sampling import save_grid
from .steps import d_step, ema_beta, ema_update, g_step


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
    # fused Adam is the fastest on CUDA; on the CPU the foreach version is.
    fast = {"fused": True} if device.type == "cuda" else {"foreach": True}
    opt_G = torch.optim.Adam(G.parameters(), lr=o.lr_g, betas=(o.beta1, o.beta2), eps=o.eps,
                             **fast)
    opt_D = torch.optim.Adam(D.parameters(), lr=o.lr_d, betas=(o.beta1, o.beta2), eps=o.eps,
                             **fast)
    return opt_G, opt_D


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
    """Train per ``cfg`` into ``run_dir`` and return it.

    ``resume=True`` continues from the newest good checkpoint in ``run_dir`` with that run's
    saved config (budgets from ``cfg`` apply). Writes config.json, log.jsonl,
    samples/step_XXXXXXX.png, samples/final.png, loss.png and checkpoints/.
    """
    run_dir = Path(run_dir)
    t = cfg.train

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
        (run_dir / "samples").mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "config.json", cfg.to_json())
    except OSError as exc:
        raise UserError(f"cannot write to {run_dir}: {exc.strerror or exc}") from None

    # --- device, data, networks, optimisers ----------------------------------------------
    device = pick_device(t.device)
    torch.manual_seed(t.seed)
    data = load_dataset(cfg.data)
    images = data.images.to(device)
    batches = EpochBatches(images, None, t.batch_size, t.drop_last, t.seed, cfg.data.value_range)
    G, D = build_models(cfg.model, data.shape, data.num_classes)
    G.to(device).train()
    D.to(device).train()
    G_ema = copy.deepcopy(G).eval().requires_grad_(False) if t.ema_kimg > 0 else None
    opt_G, opt_D = _make_optimisers(cfg, G, D, device)
    loss = get_loss(cfg.loss.name)
    beta = ema_beta(t.batch_size, t.ema_kimg)
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
        torch.set_rng_state(state["rng_cpu"])
        if device.type == "cuda" and state.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(state["rng_cuda"], device)
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

    def budget_spent() -> bool:
        return (total_steps and step >= total_steps) or time.monotonic() >= deadline

    # --- bookkeeping helpers --------------------------------------------------------------
    log_file = open(run_dir / "log.jsonl", "a", encoding="utf-8")
    board = _TensorBoard(run_dir, t.tensorboard)

    def write_grid(name: str) -> Path:
        net = G_ema if G_ema is not None else G
        was_training = net.training
        net.eval()
        with torch.no_grad():
            grid = to_uint8(net(fixed_z).float().cpu(), cfg.data.value_range)
        net.train(was_training)
        path = save_grid(grid, run_dir / "samples" / name)
        board.grid(step, path)
        return path

    def write_checkpoint() -> Path:
        return save_checkpoint(run_dir, {
            "version": __version__, "config": cfg.to_json(), "step": step, "epoch": epoch,
            "batch_in_epoch": batch_in_epoch, "images_seen": images_seen,
            "seconds": seconds_before + time.monotonic() - started,
            "image_shape": list(data.shape), "num_classes": data.num_classes,
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
        values = {k: float(v) for k, v in stats.items()}  # the one device sync
        if not all(math.isfinite(v) for v in values.values()):
            raise UserError(f"training diverged at step {step} (non-finite loss {values}); "
                            f"lower the learning rates and start again")
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

    # --- the tutorial's loop: real batch, fake batch, train D, train G, repeat -------------
    while not budget_spent():
        for real, _ in batches.epoch(epoch, start=batch_in_epoch):
            z = torch.randn(real.shape[0], cfg.model.latent_dim, device=device)
            fake = G(z)
            stats = d_step(D, opt_D, loss, real, fake, separate=t.d_updates == "separate")
            if t.g_fresh_noise:
                fake = G(torch.randn(real.shape[0], cfg.model.latent_dim, device=device))
            stats.update(g_step(D, opt_G, loss, fake))
            if G_ema is not None:
                ema_update(G_ema, G, beta)
            step += 1
            batch_in_epoch += 1
            images_seen += real.shape[0]
            window_images += real.shape[0]

            if t.log_every and step % t.log_every == 0:
                log_step()
            bar.update(1)
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
    write_grid(f"step_{step:07d}.png")
    ckpt_path = write_checkpoint()
    log_file.close()
    plot_losses(run_dir / "log.jsonl", run_dir / "loss.png")
    board.close()
    elapsed = time.monotonic() - started
    echo(f"trained {step} steps ({images_seen / 1000:.1f} kimg) in {elapsed:.0f} s; "
         f"samples: {grid_path}; checkpoint: {ckpt_path}")
    return run_dir
