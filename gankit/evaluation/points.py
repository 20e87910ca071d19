"""2-D point sets (ring8, grid25): scores and ``gankit sample``.

The toy sets are points, not images, so where an image run writes a sample grid, a point
run writes a scatter plot of its samples over the true modes
(:func:`gankit.data.pictures.save_scatter`); its quality is measured by
:func:`gankit.evaluation.metrics.scores.toy_mode_metrics` (modes covered, high-quality share
within 3 sigma, reverse KL of the mode histogram to the uniform one).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gankit.data.pictures import save_points_npz, save_scatter
from gankit.data.toy2d import toy_spec_or_none
from gankit.evaluation.metrics.scores import toy_mode_metrics

EVAL_POINTS = 2500  # samples per evaluation, as in VEEGAN and PacGAN


def point_scores(points, data_name: str) -> dict[str, float]:
    """modes, high_quality and reverse_kl of points (N, 2) against ``data_name``'s modes."""
    spec = toy_spec_or_none(data_name)
    scores = toy_mode_metrics(np.asarray(points, np.float64), spec.centers, spec.sigma)
    scores["num_modes"] = len(spec.centers)
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
