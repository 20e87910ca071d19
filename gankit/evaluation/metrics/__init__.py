"""Quality metrics and the feature extractors they run on, registered by name.

``METRICS[name].compute(real_features, fake_features, real_probs, fake_probs, seed)``
returns a dict of named scores (``seed`` drives every random choice: KID's subsets, IS's
splits); ``DIRECTIONS[score]`` says whether lower ("min") or higher ("max")
is better, which ``--target fid=20`` relies on (both live in :mod:`gankit.config.targets`,
which config validation uses). See :mod:`gankit.evaluation.metrics.scores` for the
pure functions and :mod:`gankit.evaluation.metrics.extractors` for the extractors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from gankit.config.targets import DIRECTIONS, parse_target
from gankit.errors import UserError
from gankit.registry import Registry
from gankit.evaluation.metrics.extractors import EXTRACTORS, Extractor, get_extractor
from gankit.evaluation.metrics.scores import (class_histogram, density_coverage, feature_stats, fid, fid_from_stats,
                     grid_centers, inception_score, kid, mode_counts, precision_recall,
                     ring_centers, toy_mode_metrics)


@dataclass(frozen=True)
class Metric:
    """A registered metric: which scores it yields and how it computes them."""

    name: str
    description: str
    scores: tuple[str, ...]
    compute: Callable[..., dict[str, float]]
    needs_probs: bool = False


def _fid(rf, ff, rp, fp, seed=0):
    return {"fid": fid(rf, ff)}


def _kid(rf, ff, rp, fp, seed=0):
    mean, std = kid(rf, ff, seed=seed)
    return {"kid": mean, "kid_std": std}


def _is(rf, ff, rp, fp, seed=0):
    mean, std = inception_score(fp, seed=seed)
    return {"is": mean, "is_std": std}


def _pr(rf, ff, rp, fp, seed=0):
    precision, recall = precision_recall(rf, ff, k=3)
    return {"precision": precision, "recall": recall}


def _dc(rf, ff, rp, fp, seed=0):
    density, coverage = density_coverage(rf, ff, k=5)
    return {"density": density, "coverage": coverage}


def _modes(rf, ff, rp, fp, seed=0):
    covered, kl = mode_counts(fp, rp)
    return {"modes": covered, "mode_kl": kl, "num_classes": int(np.asarray(fp).shape[1])}


METRICS: Registry[Metric] = Registry("metric")
for _metric in (
    Metric("fid", "Fréchet distance of extractor features (Heusel et al. 2017); lower is "
           "better", ("fid",), _fid),
    Metric("kid", "Kernel distance, unbiased MMD² with a cubic kernel, mean ± std over 100 "
           "subsets (Bińkowski et al. 2018); lower is better", ("kid", "kid_std"), _kid),
    Metric("is", "Inception Score from class probabilities, mean ± std over 10 splits "
           "(Salimans et al. 2016); higher is better", ("is", "is_std"), _is, True),
    Metric("pr", "improved precision and recall, k=3 (Kynkäänniemi et al. 2019); higher is "
           "better", ("precision", "recall"), _pr),
    Metric("dc", "density and coverage, k=5 (Naeem et al. 2020); higher is better",
           ("density", "coverage"), _dc),
    Metric("modes", "classes holding >= 1/(10 K) of the samples, and KL of the class "
           "histogram to the reference's; more modes and lower KL are better",
           ("modes", "mode_kl", "num_classes"), _modes, True),
):
    METRICS.add(_metric.name, _metric, _metric.description)
del _metric


def parse_metrics(text: str | list[str] | tuple[str, ...]) -> list[str]:
    """``"fid,kid"`` -> ``["fid", "kid"]``; unknown names raise UserError."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise UserError(f"unknown metric {', '.join(unknown) or '(none)'}; choose from: "
                        f"{', '.join(METRICS)}")
    return names


def target_reached(scores: dict[str, float], name: str, value: float) -> bool:
    """True when ``scores[name]`` is at least as good as ``value`` in its direction."""
    if name not in scores:
        return False
    return scores[name] <= value if DIRECTIONS[name] == "min" else scores[name] >= value


def metric_for_score(score: str) -> str:
    """The registered metric that yields ``score`` (``precision`` -> ``pr``)."""
    for metric in METRICS.values():
        if score in metric.scores:
            return metric.name
    raise UserError(f"no metric yields the score {score!r}")


__all__ = ["METRICS", "DIRECTIONS", "EXTRACTORS", "Extractor", "Metric", "get_extractor",
           "parse_metrics", "parse_target", "target_reached", "metric_for_score", "fid",
           "fid_from_stats", "feature_stats", "kid", "inception_score", "precision_recall",
           "density_coverage", "mode_counts", "class_histogram", "toy_mode_metrics",
           "ring_centers", "grid_centers"]
