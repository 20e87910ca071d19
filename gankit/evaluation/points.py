"""2-D point sets (ring8, grid25): scatter plots, npz files and the mode-coverage monitor.

The toy sets are points, not images, so where an image run writes a sample grid, a point
run writes a scatter plot of its samples over the true modes; its quality is measured by
:func:`gankit.evaluation.metrics.scores.toy_mode_metrics` (modes covered, high-quality share within
3 sigma, reverse KL of the mode histogram to the uniform one).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from gankit.evaluation.metrics.scores import toy_mode_metrics

EVAL_POINTS = 2500  # samples per evaluation, as in VEEGAN and PacGAN


def is_points_shape(shape) -> bool:
    """Whether a run's sample shape is that of points (D,) rather than images (C, H, W)."""
    return len(tuple(shape)) == 1


def save_scatter(points, path: str | Path, data_name: str = "", title: str = "",
                 real=None) -> Path:
    """Scatter plot PNG of points (N, 2), over the true modes of ``data_name`` when known."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    points = np.asarray(points.detach().cpu() if hasattr(points, "detach") else points)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    if real is not None:
        real = np.asarray(real)
        ax.scatter(real[:, 0], real[:, 1], s=2, c="#bbbbbb", lw=0, label="real")
    ax.scatter(points[:, 0], points[:, 1], s=2, c="#1f77b4", lw=0, alpha=0.6, label="generated")
    spec = _spec(data_name)
    if spec is not None:
        ax.scatter(spec.centers[:, 0], spec.centers[:, 1], s=25, marker="x", c="#d62728",
                   label="modes")
        span = np.abs(spec.centers).max() + 1.5
        ax.set_xlim(-span, span)
        ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def save_points_npz(points, path: str | Path) -> Path:
    """Save points (N, D) as npz with key ``points`` (float32)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    array = points.detach().cpu().numpy() if hasattr(points, "detach") else np.asarray(points)
    np.savez_compressed(path, points=array.astype(np.float32))
    return path


def _spec(data_name: str):
    from gankit.data.toy2d import is_points, toy_spec

    return toy_spec(data_name) if is_points(data_name) else None


def point_scores(points, data_name: str) -> dict[str, float]:
    """modes, high_quality and reverse_kl of points (N, 2) against ``data_name``'s modes."""
    spec = _spec(data_name)
    scores = toy_mode_metrics(np.asarray(points, np.float64), spec.centers, spec.sigma)
    scores["num_modes"] = len(spec.centers)
    return scores


class ToyMonitor:
    """The quality monitor of a point run: scores on fixed noise every ``every`` steps.

    Same interface as :class:`gankit.evaluation.monitor.QualityMonitor`: ``check(G, step, log,
    say) -> stop?``; ``train.target`` may name ``modes`` (e.g. ``modes=25``).
    """

    def __init__(self, data_name: str, latent_dim: int, every: int, target: str = "",
                 n: int = EVAL_POINTS, seed: int = 0, device="cpu"):
        from gankit.evaluation.metrics import parse_target

        self.data_name, self.every, self.device = data_name, every, torch.device(device)
        self.target = parse_target(target) if target else None
        generator = torch.Generator().manual_seed(seed + 12345)
        self.z = torch.randn(n, latent_dim, generator=generator)
        self.reached: tuple[str, float, int] | None = None
        self.last: dict[str, float] = {}

    @classmethod
    def create(cls, cfg, data, device) -> "ToyMonitor":
        t = cfg.train
        every = t.eval_every or t.sample_every or 500
        return cls(data.name, cfg.model.latent_dim, every, t.target, seed=t.seed, device=device)

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
        if step % self.every:
            return False
        scores = self.scores(G)
        log({"step": step, **{k: round(float(v), 6) for k, v in scores.items()}})
        if self.target:
            from gankit.evaluation.metrics import target_reached

            name, value = self.target
            if target_reached(scores, name, value):
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
        (run_dir / "toy_metrics.json").write_text(json.dumps(record, indent=2) + "\n")
        say(f"{self.data_name}: {scores['modes']}/{scores['num_modes']} modes, "
            f"{scores['high_quality']:.1%} high quality, reverse KL {scores['reverse_kl']:.3f}")
        return scores


def write_points(points, out: Path, fmt: str, data_name: str, step: int) -> str:
    """``gankit sample`` for point runs: ``grid`` -> scatter PNG, ``npz`` -> key ``points``."""
    from gankit.errors import UserError

    try:
        if fmt == "npz":
            if out.suffix != ".npz":
                raise UserError(f"--format npz writes a .npz file, not {out}")
            path = save_points_npz(points, out)
        elif fmt == "grid":
            path = save_scatter(points, out, data_name, f"{len(points)} samples, step {step}")
        else:
            raise UserError("this run makes 2-D points: use --format grid (a scatter plot) or "
                            "npz (key points)")
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    return f"wrote {len(points)} points from step {step} to {path}"
