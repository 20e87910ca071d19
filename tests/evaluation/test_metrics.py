"""The metric functions against independent, straightforward reference code."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from gankit.errors import UserError
from gankit.evaluation.metrics import (DIRECTIONS, METRICS, density_coverage, fid, grid_centers,
                            inception_score, kid, mode_counts, parse_metrics, parse_target,
                            precision_recall, ring_centers, target_reached, toy_mode_metrics)


@pytest.fixture
def features():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(300, 12))
    fake = rng.normal(size=(250, 12)) @ rng.normal(scale=0.4, size=(12, 12)) + 0.3
    return real, fake


def test_fid_matches_scipy_sqrtm(features):
    real, fake = features
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    assert fid(real, fake) == pytest.approx(expected, rel=1e-6)
    assert fid(real, real) == pytest.approx(0.0, abs=1e-8)


def _mmd2_reference(x, y):
    d = x.shape[1]
    k = lambda a, b: (a @ b / d + 1) ** 3  # noqa: E731
    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_matches_unbiased_mmd(features):
    real, fake = features[0][:40], features[1][:40]
    # One subset of all rows: a permutation, which MMD does not see.
    mean, std = kid(real, fake, num_subsets=1, subset_size=40)
    assert mean == pytest.approx(_mmd2_reference(fake, real), rel=1e-9)
    assert std == 0.0
    same, _ = kid(real, real, num_subsets=5, subset_size=40)
    assert abs(same) < 0.5 * mean


def _radii(x, k):
    return np.array([np.sort(np.linalg.norm(x - p, axis=1))[k] for p in x])


def test_precision_recall_matches_brute_force(features):
    real, fake = features[0][:60], features[1][:50]
    rr, rf = _radii(real, 3), _radii(fake, 3)
    precision = np.mean([any(np.linalg.norm(f - r) <= rr[j] for j, r in enumerate(real))
                         for f in fake])
    recall = np.mean([any(np.linalg.norm(r - f) <= rf[j] for j, f in enumerate(fake))
                      for r in real])
    assert precision_recall(real, fake, k=3) == pytest.approx((precision, recall), abs=1e-12)
    assert precision_recall(real, real, k=3) == (1.0, 1.0)


def test_density_coverage_matches_brute_force(features):
    real, fake = features[0][:60], features[1][:50]
    radii = _radii(real, 5)
    inside = np.array([[np.linalg.norm(f - r) <= radii[j] for j, r in enumerate(real)]
                       for f in fake])
    density = inside.sum() / (5 * len(fake))
    coverage = inside.any(0).mean()
    assert density_coverage(real, fake, k=5) == pytest.approx((density, coverage), abs=1e-12)


def test_inception_score_extremes():
    onehot = np.eye(10)[np.arange(1000) % 10]
    assert inception_score(onehot, splits=1) == (pytest.approx(10, rel=1e-6), 0.0)
    mean, std = inception_score(np.eye(10)[np.arange(20000) % 10])
    assert mean == pytest.approx(10, rel=0.01) and std < 0.1
    sorted_onehot = np.eye(10)[np.repeat(np.arange(10), 100)]  # class-sorted files too
    assert inception_score(sorted_onehot)[0] > 9
    assert inception_score(np.full((100, 10), 0.1))[0] == pytest.approx(1.0)


def test_mode_counts():
    probs = np.eye(10)[np.repeat(np.arange(10), 20)]
    assert mode_counts(probs, probs) == (10, pytest.approx(0.0))
    one = np.eye(10)[np.full(200, 3)]
    covered, kl = mode_counts(one, probs)
    assert covered == 1 and kl == pytest.approx(np.log(10))


def test_toy_mode_metrics():
    centers = ring_centers(8)
    rng = np.random.default_rng(0)
    good = centers[np.arange(800) % 8] + rng.normal(scale=0.02, size=(800, 2))
    scores = toy_mode_metrics(good, centers, sigma=0.02)
    assert scores["modes"] == 8 and scores["high_quality"] > 0.95
    assert scores["reverse_kl"] == pytest.approx(0.0, abs=1e-3)
    collapsed = np.repeat(centers[:1], 800, 0)
    scores = toy_mode_metrics(collapsed, centers, sigma=0.02)
    assert scores["modes"] == 1 and scores["reverse_kl"] == pytest.approx(np.log(8))
    noise = rng.uniform(-10, 10, size=(800, 2))
    assert toy_mode_metrics(noise, centers, 0.02)["high_quality"] < 0.01
    assert grid_centers(5).shape == (25, 2)


def test_registry_and_targets():
    assert set(METRICS) == {"fid", "kid", "is", "pr", "dc", "modes"}
    assert parse_metrics("fid, kid") == ["fid", "kid"]
    with pytest.raises(UserError):
        parse_metrics("fid,bogus")
    assert parse_target("fid=20") == ("fid", 20.0)
    for bad in ("fid", "nope=3", "fid=abc"):
        with pytest.raises(UserError):
            parse_target(bad)
    assert target_reached({"fid": 19.0}, "fid", 20) and not target_reached({"fid": 21}, "fid", 20)
    assert target_reached({"recall": 0.6}, "recall", 0.5) and DIRECTIONS["is"] == "max"


def test_the_seed_drives_kid_subsets_and_is_splits(features):
    """``gankit eval --seed`` reaches every random choice: the same seed gives the same
    KID and IS, another seed other subsets and splits (other values)."""
    from gankit.evaluation.evaluate import score

    real, fake = features
    probs = np.random.default_rng(1).dirichlet(np.ones(10), size=len(fake))
    one = score(real, fake, probs, probs, ["kid", "is"], seed=1)
    assert one == score(real, fake, probs, probs, ["kid", "is"], seed=1)
    other = score(real, fake, probs, probs, ["kid", "is"], seed=2)
    assert one["kid"] != other["kid"] and one["is_std"] != other["is_std"]
