"""The quality monitor of a 2-D point run (ring8, grid25): modes covered, high-quality
share and reverse KL on fixed noise every ``every`` steps, and once more at the end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import torch

from gankit.evaluation.metrics import parse_target, target_reached
from gankit.evaluation.points import EVAL_POINTS, point_scores
from gankit.training.trainer import Callback, Trainer


class ToyMonitor(Callback):
    """Scores the generator's points every ``every`` steps (``check``) and at the end of the
    run (``final``: also ``run_dir/toy_metrics.json``); ``train.target`` may name ``modes``
    (e.g. ``modes=25``)."""

    def __init__(self, data_name: str, latent_dim: int, every: int, *, target: str = "",
                 n: int = EVAL_POINTS, seed: int = 0, device="cpu", run_dir: Path | None = None):
        self.data_name, self.every, self.device = data_name, every, torch.device(device)
        self.target = parse_target(target) if target else None
        generator = torch.Generator().manual_seed(seed + 12345)
        self.z = torch.randn(n, latent_dim, generator=generator)
        self.reached: tuple[str, float, int] | None = None
        self.last: dict[str, float] = {}
        self.run_dir = run_dir
        self.network: Callable[[], Any] = lambda: None  # the generator to score

    @classmethod
    def create(cls, cfg, data, device, run_dir: Path | None = None) -> "ToyMonitor":
        t = cfg.train
        every = t.eval_every or t.sample_every or 500
        return cls(data.name, cfg.model.latent_dim, every, target=t.target, seed=t.seed,
                   device=device, run_dir=run_dir)

    @torch.no_grad()
    def scores(self, G) -> dict[str, float]:
        was_training = G.training
        G.eval()
        points = G(self.z.to(self.device)).float().cpu()
        G.train(was_training)
        self.last = point_scores(points.numpy(), self.data_name)
        return self.last

    def check(self, G, step: int, log: Callable[[dict[str, Any]], None],
              say: Callable[[str], None]) -> bool:
        """Score if ``step`` is due; log the scores; True when the target is reached."""
        if step % self.every:
            return False
        scores = self.scores(G)
        log({"step": step, **{k: round(float(v), 6) for k, v in scores.items()}})
        if self.target and target_reached(scores, *self.target):
            name, value = self.target
            self.reached = (name, float(scores[name]), step)
            say(f"target {name}={value:g} reached at step {step}; stopping")
            return True
        return False

    def final(self, G, step: int, run_dir: Path, log: Callable[[dict[str, Any]], None],
              say: Callable[[str], None]) -> dict[str, float]:
        """Score the final G, log it and write ``run_dir/toy_metrics.json``."""
        scores = self.scores(G)
        record = {"step": step, **{k: round(float(v), 6) for k, v in scores.items()}}
        log(record)
        (Path(run_dir) / "toy_metrics.json").write_text(json.dumps(record, indent=2) + "\n")
        say(f"{self.data_name}: {scores['modes']}/{scores['num_modes']} modes, "
            f"{scores['high_quality']:.1%} high quality, reverse KL {scores['reverse_kl']:.3f}")
        return scores

    def on_step_end(self, trainer: Trainer) -> None:
        emit = lambda record: trainer.emit("eval", scores=record)  # noqa: E731
        if self.check(self.network(), trainer.state.counters.step, emit, trainer.say):
            trainer.request_stop("target reached")

    def on_end(self, trainer: Trainer) -> None:
        if self.run_dir is not None:
            self.final(self.network(), trainer.state.counters.step, self.run_dir,
                       lambda record: trainer.emit("eval", scores=record), trainer.say)
