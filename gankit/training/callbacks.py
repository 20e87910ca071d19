"""The standard callbacks of a run: log, TensorBoard, progress bar, the tutorial's epoch
line, sample pictures, checkpoints, the divergence guard and the loss plot.

Each one does one job on the trainer's events (see :mod:`gankit.training.trainer`) and
releases what it opened in ``close()``, which the trainer calls however the run ends.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import torch

from gankit.training.checkpoint import checkpoint_path, save_checkpoint
from gankit.training.charts import plot_losses
from gankit.training.run_log import truncate_log
from gankit.training.trainer import Callback, Trainer


class Diverged(Exception):
    """A loss or weight stopped being finite at ``step``: roll back and retry."""

    def __init__(self, step: int):
        super().__init__(f"non-finite values at step {step}")
        self.step = step


def _finite(values) -> bool:
    """Whether every tensor in ``values`` is finite (one stacked check for 0-d tensors)."""
    values = list(values)
    if all(v.dim() == 0 for v in values):
        return bool(torch.stack(values).isfinite().all())
    return all(bool(torch.isfinite(v).all()) for v in values)


class DivergenceGuard(Callback):
    """Raises :class:`Diverged` when a step's statistics are not finite. On the CPU reading
    them back is free, so it checks every step; on a GPU that would stall the queue, and
    :class:`LogCollector` checks the interval's means instead."""

    def __init__(self, agree: Callable[[bool], bool]):
        self.agree = agree

    def on_step_end(self, trainer: Trainer) -> None:
        if trainer.step_stats and self.agree(not _finite(trainer.step_stats.values())):
            raise Diverged(trainer.state.counters.step)


class LogCollector(Callback):
    """Every ``every`` steps (and at the end) collects the interval's mean statistics
    (averaged over the processes by ``mean``) and emits them as a ``log`` event."""

    def __init__(self, every: int, mean: Callable, agree: Callable[[bool], bool]):
        self.every, self.mean, self.agree = every, mean, agree
        self.window_start, self.window_images, self.logged_step = 0.0, 0, -1

    def on_start(self, trainer: Trainer) -> None:
        self.window_start, self.window_images = time.monotonic(), 0

    def on_step_end(self, trainer: Trainer) -> None:
        self.window_images += trainer.step_images
        if self.every and trainer.state.counters.step % self.every == 0:
            self.collect(trainer)

    def on_end(self, trainer: Trainer) -> None:
        if trainer.stats and self.logged_step != trainer.state.counters.step:
            self.collect(trainer, reset=False)  # the last step is always in the log

    def collect(self, trainer: Trainer, reset: bool = True) -> None:
        counters, now = trainer.state.counters, time.monotonic()
        values = {k: float(v) for k, v in self.mean(trainer.stats.collect(reset)).items()}
        if self.agree(not all(math.isfinite(v) for v in values.values())):
            raise Diverged(counters.step)
        record = {"step": counters.step, "epoch": counters.epoch + 1,
                  "kimg": counters.images_seen / 1000, "seconds": round(trainer.seconds, 3),
                  "images_per_s": round(self.window_images / max(now - self.window_start,
                                                                 1e-9), 1),
                  **{k: round(v, 6) for k, v in values.items()}}
        self.window_start, self.window_images = now, 0
        self.logged_step = counters.step
        trainer.emit("log", record=record)


class JsonlLog(Callback):
    """Appends every ``log`` and ``eval`` record to ``run_dir/log.jsonl`` (one JSON a line).
    On resume the lines after the checkpoint's step are dropped first: they belong to
    steps that will be trained again."""

    def __init__(self, path: Path, resumed_at: int | None):
        self.path, self.resumed_at = Path(path), resumed_at
        self.file = None

    def on_start(self, trainer: Trainer) -> None:
        if self.resumed_at is not None:
            truncate_log(self.path, self.resumed_at)
        self.file = open(self.path, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()

    def on_log(self, trainer: Trainer, record: dict[str, Any]) -> None:
        self.write(record)

    def on_eval(self, trainer: Trainer, scores: dict[str, Any]) -> None:
        self.write(scores)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


class TensorBoard(Callback):
    """Scalars and sample pictures to TensorBoard when it is installed, else nothing."""

    def __init__(self, folder: Path):
        self.folder, self.writer = Path(folder), None

    def on_start(self, trainer: Trainer) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return
        self.writer = SummaryWriter(str(self.folder))

    def _scalars(self, record: dict[str, Any]) -> None:
        if self.writer is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.writer.add_scalar(f"train/{key}", value, record["step"])

    def on_log(self, trainer: Trainer, record: dict[str, Any]) -> None:
        self._scalars({k: v for k, v in record.items()
                       if k not in ("epoch", "kimg", "seconds", "images_per_s")})

    def on_eval(self, trainer: Trainer, scores: dict[str, Any]) -> None:
        self._scalars(scores)

    def on_picture(self, trainer: Trainer, path: Path) -> None:
        if self.writer is not None:
            import numpy as np
            from PIL import Image

            self.writer.add_image("samples", np.asarray(Image.open(path).convert("RGB")),
                                  trainer.state.counters.step, dataformats="HWC")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class ProgressBar(Callback):
    """A tqdm bar on stderr with the last logged losses; while it shows, messages go
    through it (``trainer.say``) so they do not break the bar. The bar stays off when
    stderr is not a terminal (:func:`~gankit.data.decoding.progress_bar`)."""

    def __init__(self, total_steps: int):
        self.total_steps, self.bar, self.previous_say = total_steps, None, None

    def on_start(self, trainer: Trainer) -> None:
        from gankit.data.decoding import progress_bar

        self.bar = progress_bar(self.total_steps or None, unit="step",
                                initial=trainer.state.counters.step)
        self.previous_say, trainer.say = trainer.say, self.bar.write

    def on_step_end(self, trainer: Trainer) -> None:
        self.bar.update(1)

    def on_log(self, trainer: Trainer, record: dict[str, Any]) -> None:
        shown = {"D": "loss_d", "G": "loss_g", "Dx": "d_real", "DGz": "d_fake"}
        post = {label: f"{record[key]:.3f}" for label, key in shown.items() if key in record}
        self.bar.set_postfix(**post, img_s=f"{record['images_per_s']:.0f}", refresh=False)

    def on_end(self, trainer: Trainer) -> None:
        self.close(trainer)

    def close(self, trainer: Trainer | None = None) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
            if trainer is not None and self.previous_say is not None:
                trainer.say = self.previous_say


class EpochLine(Callback):
    """The tutorial's line after every ``every`` epochs: the last batch's losses."""

    def __init__(self, every: int, total_epochs: int):
        self.every, self.total_epochs = every, total_epochs

    def on_epoch_end(self, trainer: Trainer) -> None:
        stats, epoch = trainer.last_stats, trainer.state.counters.epoch
        if epoch % self.every == 0 and "loss_d" in stats and "loss_g" in stats:
            of = f"/{self.total_epochs}" if self.total_epochs else ""
            trainer.say(f"Epoch [{epoch}{of}], Loss D: {float(stats['loss_d']):.4f}, "
                        f"Loss G: {float(stats['loss_g']):.4f}")


class SamplePictures(Callback):
    """``samples/step_XXXXXXX.png`` every ``every`` steps, and ``final.png`` plus the last
    step's picture at the end, drawn by ``draw(path)`` (the same noise every time); emits
    a ``picture`` event for each."""

    def __init__(self, folder: Path, every: int, draw: Callable[[Path, int], Path]):
        self.folder, self.every, self.draw = Path(folder), every, draw

    def write(self, trainer: Trainer, name: str) -> Path:
        path = self.draw(self.folder / name, trainer.state.counters.step)
        trainer.emit("picture", path=path)
        return path

    def on_step_end(self, trainer: Trainer) -> None:
        if self.every and trainer.state.counters.step % self.every == 0:
            self.write(trainer, f"step_{trainer.state.counters.step:07d}.png")

    def on_end(self, trainer: Trainer) -> None:
        final = trainer.outputs["samples"] = self.write(trainer, "final.png")
        step = trainer.state.counters.step
        if not (self.every and step % self.every == 0):  # the same picture: copied
            shutil.copyfile(final, self.folder / f"step_{step:07d}.png")


class Checkpoints(Callback):
    """Writes the training state every ``every`` steps, at the end, and at step 0 of a new
    run (what a divergence before the first checkpoint returns to). A state with
    non-finite weights is never written: :class:`Diverged` rolls back instead. Only the
    main process writes; every process checks."""

    def __init__(self, run_dir: Path, every: int, keep: int, *, header: Callable[[], dict],
                 write: bool, new_run: bool, mean: Callable | None = None):
        self.run_dir, self.every, self.keep, self.header = Path(run_dir), every, keep, header
        self.writes, self.new_run, self.mean = write, new_run, mean

    def save(self, trainer: Trainer) -> Path:
        state, step = trainer.state, trainer.state.counters.step
        weights = [p for name in state.names() if isinstance(state.get(name), torch.nn.Module)
                   for p in state[name].parameters()]
        if weights and not _finite(weights):
            raise Diverged(step)
        if self.mean is not None:  # the open log window of the global batch, not rank 0's
            trainer.stats.average(self.mean)
        if not self.writes:
            return checkpoint_path(self.run_dir, step)
        path = save_checkpoint(self.run_dir, {**self.header(), **state.state_dict(),
                                              "seconds": trainer.seconds}, keep=self.keep)
        trainer.emit("checkpoint", path=path)
        return path

    def on_start(self, trainer: Trainer) -> None:
        if self.new_run:
            self.save(trainer)

    def on_step_end(self, trainer: Trainer) -> None:
        if self.every and trainer.state.counters.step % self.every == 0:
            self.save(trainer)

    def on_end(self, trainer: Trainer) -> None:
        trainer.outputs["checkpoint"] = self.save(trainer)


class LossPlot(Callback):
    """``loss.png`` from the log at the end of the run."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)

    def on_end(self, trainer: Trainer) -> None:
        plot_losses(self.run_dir / "log.jsonl", self.run_dir / "loss.png")
