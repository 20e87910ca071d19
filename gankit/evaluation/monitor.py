"""Quality checks during training: ``train.eval_every``, ``train.target``, mode collapse.

The loop builds one :class:`QualityMonitor` (or ``None`` when there is nothing to do) and
calls :meth:`QualityMonitor.check` after each step; the monitor decides whether this step is
due, evaluates the generator on a fixed batch of noise, logs the scores, warns when the
probe batch's class coverage drops, and says whether a target has been reached.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from gankit.errors import UserError
from gankit.evaluation.metrics import DIRECTIONS, METRICS, metric_for_score, parse_target, target_reached
from gankit.evaluation.metrics.extractors import default_extractor, get_extractor
from gankit.evaluation.metrics.scores import mode_counts

# Data sets whose classes mnist-cnn recognises: the collapse monitor runs on these.
_DIGITS = ("mnist5k", "mnist")
PROBE_SIZE = 500
PROBE_IMAGES = 40_000  # trained images between collapse probes, at least (speed, issue 5)


class QualityMonitor:
    """Evaluates the generator every ``every`` steps on ``n`` fixed-noise samples.

    real_u8: uint8 (N, C, H, W) training images (the reference); value_range: "tanh" or
    "unit" (the generator's output range).
    """

    def __init__(self, real_u8: torch.Tensor, latent_dim: int, value_range: str, every: int,
                 target: str = "", metrics: tuple[str, ...] = ("fid", "modes"), n: int = 2000,
                 collapse: bool = False, seed: int = 0, device: str | torch.device = "cpu",
                 ctx=None):
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
        self.extractor = get_extractor(default_extractor(tuple(real_u8.shape[1:])),
                                       device=str(self.device))
        self.n = min(n if names else PROBE_SIZE, len(real_u8))
        generator = torch.Generator().manual_seed(seed + 12345)
        rows = torch.randperm(len(real_u8), generator=generator)[:self.n]
        self.real_features, self.real_probs = self.extractor(real_u8[rows.to(real_u8.device)].cpu())
        self.z = torch.randn(max(self.n, PROBE_SIZE), latent_dim, generator=generator)
        self.best_modes = 0
        self.best_step = 0
        self.last_modes: int | None = None
        self.low_streak = 0  # consecutive checks covering at most half the classes
        self.reached: tuple[str, float, int] | None = None

    @classmethod
    def create(cls, cfg, data, device, ctx=None) -> "QualityMonitor | None":
        """The monitor a config asks for, or None (no eval, no target, data not digits)."""
        t = cfg.train
        eval_every = getattr(t, "eval_every", 0)
        target = getattr(t, "target", "")
        collapse = data.name in _DIGITS and data.images.shape[1] == 1
        if not eval_every and not target and not collapse:
            return None
        if target and not eval_every:
            raise UserError("a target (--target) needs --eval-every N to say how often to check")
        # Else the collapse probe: once an epoch, but at most once per PROBE_IMAGES trained
        # images; a probe (500 samples through the classifier) costs ~0.3 s on 2 CPU cores,
        # which once an epoch of mnist5k would slow seed-mlp by ~30%; this keeps it near 5%.
        every = eval_every or max(1, -(-len(data.images) // t.batch_size),
                                  PROBE_IMAGES // t.batch_size)
        metrics = ("fid", "modes") if eval_every else ()
        return cls(data.images, cfg.model.latent_dim, cfg.data.value_range, every, target,
                   metrics, collapse=collapse, seed=t.seed, device=device, ctx=ctx)

    @torch.no_grad()
    def _generate(self, G, count: int) -> torch.Tensor:
        """This process's share of the ``count`` probe images: rows rank::world of the noise
        (all of it in a single process)."""
        from gankit.data import to_uint8

        was_training = G.training
        G.eval()
        mine = self.z[:count][self.ctx.rank::self.ctx.world_size] if self.ctx else self.z[:count]
        out = [G(z.to(self.device)).float().cpu() for z in mine.split(500)]
        G.train(was_training)
        return to_uint8(torch.cat(out), self.value_range)

    def check(self, G, step: int, log: Callable[[dict[str, Any]], None],
              say: Callable[[str], None]) -> bool:
        """Evaluate if ``step`` is due; log the scores; return True when training should stop."""
        if step % self.every:
            return False
        count = self.n if self.metrics else PROBE_SIZE
        fake_features, fake_probs = self.extractor(self._generate(G, count))
        if self.ctx is not None:  # under DDP each process made its share: gather them all
            fake_features = self.ctx.gather_rows(fake_features)
            fake_probs = self.ctx.gather_rows(fake_probs)
        scores: dict[str, float] = {}
        for name in self.metrics:
            scores.update(METRICS[name].compute(self.real_features, fake_features,
                                                self.real_probs, fake_probs))
        scores.pop("num_classes", None)
        if self.collapse:
            probe = fake_probs[:PROBE_SIZE]
            modes, kl = mode_counts(probe, self.real_probs)
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
