"""Quality checks during training: ``train.eval_every``, ``train.target``, mode collapse.

:func:`generation_monitors` gives the callbacks a noise-to-image run's config asks for: a
:class:`QualityMonitor` for images (FID and mode counts every ``eval_every`` steps, the
target, the mode-collapse probe on digit sets) or a
:class:`~gankit.evaluation.toy_monitor.ToyMonitor` for 2-D points.
Each scores the generator on a fixed batch of noise when due, emits the scores as an
``eval`` event (the log, TensorBoard and a sweep's pruner take them from there) and asks
the trainer to stop when the target is reached.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from gankit.core.models.conditioning import proportional_labels
from gankit.data import is_points_shape
from gankit.evaluation.evaluate import score
from gankit.evaluation.metrics import DIRECTIONS, metric_for_score, parse_target, target_reached
from gankit.evaluation.metrics.extractors import default_extractor, get_extractor
from gankit.evaluation.metrics.scores import mode_counts
from gankit.training.trainer import Callback, Trainer

# Data sets whose classes mnist-cnn recognises: the collapse monitor runs on these.
_DIGITS = ("mnist5k", "mnist")
PROBE_SIZE = 500
# Trained images between two collapse probes, at least: a probe (500 samples through the
# classifier) then costs the tutorial's MLPs a few percent of their time, not a third.
PROBE_IMAGES = 40_000


class QualityMonitor(Callback):
    """Evaluates the generator every ``every`` steps on ``n`` fixed-noise samples.

    real_u8: uint8 (N, C, H, W) training images (the reference); value_range: "tanh" or
    "unit" (the generator's output range); data_name: the configured data set, which picks
    the extractor (emoji-cnn for the emoji sets, ...); class_counts: the data's class sizes
    (K,) for a conditional G, whose samples are then drawn in the data's proportions.
    """

    def __init__(self, real_u8: torch.Tensor, latent_dim: int, value_range: str, every: int, *,
                 target: str = "", metrics: tuple[str, ...] = ("fid", "modes"), n: int = 2000,
                 collapse: bool = False, seed: int = 0, device: str | torch.device = "cpu",
                 ctx=None, data_name: str | None = None,
                 class_counts: torch.Tensor | None = None):
        self.every, self.value_range, self.device = every, value_range, torch.device(device)
        # Under DDP (a gankit.training.distributed.Context) each process generates and embeds its
        # share of the samples; the features are gathered and every process scores them.
        self.ctx = ctx if ctx is not None and ctx.enabled else None
        self.target = parse_target(target) if target else None
        names = list(metrics)
        if self.target and metric_for_score(self.target[0]) not in names:
            names.append(metric_for_score(self.target[0]))
        self.metrics = names
        self.collapse = collapse
        # data_name (the configured data set) picks the extractor as `gankit eval` does
        self.extractor = get_extractor(default_extractor(tuple(real_u8.shape[1:]), data_name),
                                       device=str(self.device))
        self.n = min(n if names else PROBE_SIZE, len(real_u8))
        generator = torch.Generator().manual_seed(seed + 12345)
        rows = torch.randperm(len(real_u8), generator=generator)[:self.n]
        # The reference's features are computed at the first check, not here: a short run
        # (`gankit train --steps 1`) that never checks saves the extractor pass (~0.2-0.3 s).
        self._real = (real_u8, rows)
        self._reference: tuple[torch.Tensor, torch.Tensor] | None = None
        self.z = torch.randn(max(self.n, PROBE_SIZE), latent_dim, generator=generator)
        self.labels = None if class_counts is None else \
            proportional_labels(len(self.z), class_counts)
        self.best_modes = 0
        self.best_step = 0
        self.last_modes: int | None = None
        self.low_streak = 0  # consecutive checks covering at most half the classes
        self.reached: tuple[str, float, int] | None = None
        self.network: Callable[[], Any] = lambda: None  # the generator to score (set by monitors)

    @classmethod
    def create(cls, cfg, data, device, ctx=None) -> "QualityMonitor | None":
        """The monitor a config asks for, or None (no eval, no target, data not digits).
        Without ``eval_every`` the collapse probe runs once an epoch, but at most once per
        ``PROBE_IMAGES`` trained images."""
        t = cfg.train
        collapse = data.name in _DIGITS and data.samples.shape[1] == 1
        conditional = cfg.model.conditional and data.labels is not None and data.num_classes > 1
        if not t.eval_every and not t.target and not collapse:
            return None
        every = t.eval_every or max(1, -(-len(data.samples) // t.batch_size),
                                    PROBE_IMAGES // t.batch_size)
        metrics = ("fid", "modes") if t.eval_every else ()
        return cls(data.samples, cfg.model.latent_dim, cfg.data.value_range, every,
                   target=t.target, metrics=metrics, collapse=collapse, seed=t.seed,
                   device=device, ctx=ctx, data_name=cfg.data.name,
                   class_counts=torch.bincount(data.labels.cpu(), minlength=data.num_classes)
                   if conditional else None)

    def on_step_end(self, trainer: Trainer) -> None:
        """Score when due; an ``eval`` event carries the scores; stop at the target."""
        emit = lambda record: trainer.emit("eval", scores=record)  # noqa: E731
        if self.check(self.network(), trainer.state.counters.step, emit, trainer.say):
            trainer.request_stop("target reached")

    def reference(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(features, class probabilities) of the ``n`` real images scored against, computed
        once, at the first call."""
        if self._reference is None:
            real_u8, rows = self._real
            self._reference = self.extractor(real_u8[rows.to(real_u8.device)].cpu())
            self._real = None
        return self._reference

    @torch.no_grad()
    def _generate(self, G, count: int) -> torch.Tensor:
        """This process's share of the ``count`` probe images: rows rank::world of the noise
        (all of it in a single process)."""
        from gankit.data import to_uint8

        was_training = G.training
        G.eval()
        rows = torch.arange(count)[self.ctx.rank::self.ctx.world_size] if self.ctx else \
            torch.arange(count)
        out = []
        for chunk in rows.split(500):
            z = self.z[chunk].to(self.device)
            fake = G(z) if self.labels is None else G(z, self.labels[chunk].to(self.device))
            out.append(fake.float().cpu())
        G.train(was_training)
        return to_uint8(torch.cat(out), self.value_range)

    def check(self, G, step: int, log: Callable[[dict[str, Any]], None],
              say: Callable[[str], None]) -> bool:
        """Evaluate if ``step`` is due; log the scores; return True when training should stop."""
        if step % self.every:
            return False
        count = self.n if self.metrics else PROBE_SIZE
        real_features, real_probs = self.reference()
        fake_features, fake_probs = self.extractor(self._generate(G, count))
        if self.ctx is not None:  # under DDP each process made its share: gather them all
            fake_features = self.ctx.gather_rows(fake_features)
            fake_probs = self.ctx.gather_rows(fake_probs)
        scores = score(real_features, fake_features, real_probs, fake_probs, self.metrics)
        scores.pop("num_classes", None)
        if self.collapse:
            probe = fake_probs[:PROBE_SIZE]
            modes, kl = mode_counts(probe, real_probs)
            scores.update(probe_modes=modes, probe_mode_kl=kl)
            classes = probe.shape[1]
            share = np.bincount(probe.argmax(1), minlength=classes).max() / len(probe)
            # Two signs: coverage fell by 2+ classes from its best, or it has stayed at half
            # the classes or fewer for 5 checks (a run that never spreads out; early checks
            # of a healthy run are often low, hence the streak). Each is said once, not at
            # every check; a persistent state is repeated every 20 checks.
            self.low_streak = self.low_streak + 1 if modes <= classes // 2 else 0
            dropped = modes <= self.best_modes - 2 and (self.last_modes is None
                                                        or modes < self.last_modes)
            stuck = self.low_streak == 5 or (self.low_streak > 5 and self.low_streak % 20 == 0)
            if dropped:
                say(f"warning: possible mode collapse at step {step}: the probe batch covers "
                    f"{modes}/{classes} classes (it covered {self.best_modes} at step "
                    f"{self.best_step}); the commonest class holds {share:.0%} of it")
            elif stuck:
                say(f"warning: possible mode collapse at step {step}: the probe batch has "
                    f"covered at most {classes // 2}/{classes} classes for {self.low_streak} "
                    f"checks (now {modes}); the commonest class holds {share:.0%} of it")
            if dropped or stuck:
                scores["collapse_warning"] = 1
            if modes > self.best_modes:
                self.best_modes, self.best_step = modes, step
            self.last_modes = modes
        log({"step": step, **{k: round(float(v), 6) for k, v in scores.items()}})
        if self.metrics:
            say(f"step {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in scores.items()
                                             if k in DIRECTIONS))
        if self.target and target_reached(scores, *self.target):
            name, value = self.target
            self.reached = (name, float(scores[name]), step)
            say(f"target {name}={value:g} reached at step {step} ({name} {scores[name]:.4g}); "
                f"stopping")
            return True
        return False


def generation_monitors(setup, cfg, ctx) -> list[Callback]:
    """The quality callbacks a noise-to-image ``cfg`` asks for (the kind's monitors in
    :data:`gankit.evaluation.kinds.EVALUATION`, a ``CallbackFactory`` of the training
    driver). Under DDP every process takes part in an image monitor (each generates its
    share of the samples); a point monitor runs on the main process only."""
    data, device = setup.data, ctx.device
    if is_points_shape(data.shape):
        from gankit.evaluation.toy_monitor import ToyMonitor

        monitor = ToyMonitor.create(cfg, data, device, setup.run_dir) if ctx.is_main else None
    else:
        monitor = QualityMonitor.create(cfg, data, device, ctx)
    if monitor is None:
        return []
    monitor.network = setup.evaluated
    return [monitor]
