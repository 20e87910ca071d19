"""Sample-quality metrics: short pure functions on feature arrays.

Every function takes numpy arrays (or anything ``np.asarray`` accepts, torch tensors on the
CPU included) and computes in float64. ``real`` is the reference set, ``fake`` the generated
one; features are (N, D), class probabilities (N, K), 2-D points (N, 2).
"""

from __future__ import annotations

import numpy as np

# The modes of the 2-D toy sets live with the sets; importable from here as before.
from gankit.data.toy2d import grid_centers, ring_centers  # noqa: F401


def _f64(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    array = np.asarray(x, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D array (N, D), got shape {array.shape}")
    return array


# --- Fréchet and kernel distances ------------------------------------------------------------

def fid_from_stats(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
                   ) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (Heusel et al. 2017).

    ``|mu1 - mu2|² + tr(S1) + tr(S2) - 2 tr((S1 S2)^½)``, where ``tr((S1 S2)^½)`` is the sum
    of square roots of the eigenvalues of the symmetric ``S1^½ S2 S1^½`` (same spectrum,
    but no complex round-off as with a general matrix square root).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    w1, v1 = np.linalg.eigh(sigma1)
    root1 = (v1 * np.sqrt(np.clip(w1, 0, None))) @ v1.T
    middle = root1 @ sigma2 @ root1
    eig = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_sqrt = np.sqrt(np.clip(eig, 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)


def feature_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), covariance (D, D)) of features (N, D), unbiased (N - 1) covariance."""
    x = _f64(features)
    return x.mean(0), np.cov(x, rowvar=False)


def fid(real, fake) -> float:
    """Fréchet distance between the Gaussians fitted to features (N, D) and (M, D)."""
    return fid_from_stats(*feature_stats(real), *feature_stats(fake))


def kid(real, fake, num_subsets: int = 100, subset_size: int = 1000, seed: int = 0
        ) -> tuple[float, float]:
    """Kernel Inception Distance (Bińkowski et al. 2018): (mean, std) over subsets.

    Unbiased MMD² with the cubic polynomial kernel ``k(x, y) = (x·y / D + 1)³`` on random
    subsets of ``min(subset_size, N, M)`` rows each.
    """
    x_all, y_all = _f64(fake), _f64(real)
    d = x_all.shape[1]
    m = min(subset_size, len(x_all), len(y_all))
    if m < 2:
        raise ValueError("KID needs at least 2 samples on each side")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(num_subsets):
        x = x_all[rng.choice(len(x_all), m, replace=False)]
        y = y_all[rng.choice(len(y_all), m, replace=False)]
        kxx, kyy, kxy = (x @ x.T / d + 1), (y @ y.T / d + 1), (x @ y.T / d + 1)
        kxx, kyy, kxy = kxx * kxx * kxx, kyy * kyy * kyy, kxy * kxy * kxy  # cubed, fast
        values.append((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                      + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())
    return float(np.mean(values)), float(np.std(values))


# --- Inception Score --------------------------------------------------------------------------

def inception_score(probs, splits: int = 10, seed: int = 0) -> tuple[float, float]:
    """Inception Score (Salimans et al. 2016): (mean, std) of exp(E KL(p(y|x) || p(y))) over splits.

    probs: class probabilities (N, K), rows summing to 1. Rows are shuffled (seeded) before
    splitting, so that files sorted by class (real data often is) do not score ~1.
    """
    p = _f64(probs)
    p = p[np.random.default_rng(seed).permutation(len(p))]
    scores = []
    for part in np.array_split(p, min(splits, len(p))):
        marginal = part.mean(0, keepdims=True)
        kl = (part * (np.log(part + 1e-12) - np.log(marginal + 1e-12))).sum(1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


# --- nearest-neighbour manifolds ------------------------------------------------------------

def _pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances (len(a), len(b)) in float64."""
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.clip(sq, 0, None))


def _chunks(a: np.ndarray, size: int = 1024):
    """(start, rows) blocks of a, so that distance matrices stay within a few hundred MB."""
    for start in range(0, len(a), size):
        yield start, a[start:start + size]


def _knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row of x (N, D) to its k-th nearest other row."""
    # Column 0 of the partition is the point itself (distance 0).
    return np.concatenate([np.partition(_pairwise_distances(rows, x), k, axis=1)[:, k]
                           for _, rows in _chunks(x)])


def precision_recall(real, fake, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019).

    precision: share of fake samples inside some real sample's k-NN ball (the real manifold);
    recall: share of real samples inside some fake sample's k-NN ball.
    """
    x, y = _f64(real), _f64(fake)
    r_real, r_fake = _knn_radii(x, k), _knn_radii(y, k)
    in_real = np.zeros(len(y), bool)
    in_fake = np.zeros(len(x), bool)
    for start, rows in _chunks(y):
        d = _pairwise_distances(rows, x)  # (fake block, real)
        in_real[start:start + len(rows)] = (d <= r_real[None, :]).any(1)
        in_fake |= (d <= r_fake[start:start + len(rows), None]).any(0)
    return float(in_real.mean()), float(in_fake.mean())


def density_coverage(real, fake, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020).

    density: mean over fake samples of (number of real k-NN balls holding it) / k;
    coverage: share of real samples whose k-NN ball holds at least one fake sample.
    """
    x, y = _f64(real), _f64(fake)
    radii = _knn_radii(x, k)
    hits, covered = 0, np.zeros(len(x), bool)
    for _, rows in _chunks(y):
        inside = _pairwise_distances(rows, x) <= radii[None, :]  # (fake block, real)
        hits += int(inside.sum())
        covered |= inside.any(0)
    return float(hits / (k * len(y))), float(covered.mean())


# --- modes ------------------------------------------------------------------------------------

def class_histogram(probs, num_classes: int | None = None) -> np.ndarray:
    """Share of samples whose most probable class is each class: (K,), sums to 1."""
    p = _f64(probs)
    k = num_classes or p.shape[1]
    counts = np.bincount(p.argmax(1), minlength=k).astype(np.float64)
    return counts / max(counts.sum(), 1)


def mode_counts(fake_probs, real_probs=None, min_share: float | None = None
                ) -> tuple[int, float]:
    """(modes covered, KL(generated class histogram || reference histogram)).

    A class is covered when at least ``min_share`` of the samples are classified as it
    (default: a tenth of the uniform share, 0.01 for 10 classes). The reference histogram is
    that of ``real_probs`` (uniform when None); reference classes are floored at 1e-6 so the
    KL stays finite.
    """
    fake_hist = class_histogram(fake_probs)
    k = len(fake_hist)
    min_share = 0.1 / k if min_share is None else min_share
    covered = int((fake_hist >= min_share).sum())
    ref_hist = class_histogram(real_probs, k) if real_probs is not None else np.full(k, 1 / k)
    ref_hist = np.clip(ref_hist, 1e-6, None)
    ref_hist /= ref_hist.sum()
    present = fake_hist > 0
    kl = float((fake_hist[present] * np.log(fake_hist[present] / ref_hist[present])).sum())
    return covered, kl


# --- 2-D toy sets -----------------------------------------------------------------------------

def toy_mode_metrics(points, centers, sigma: float, min_count: int | None = None
                     ) -> dict[str, float]:
    """Mode-collapse scores of 2-D samples (N, 2) against Gaussian modes ``centers`` (M, 2).

    A sample is high quality when it lies within 3 sigma of its nearest centre; a mode is
    covered when it holds at least ``min_count`` high-quality samples (default: a fifth of
    the count it would hold if samples were spread evenly, at least 1). ``reverse_kl`` is
    KL(generated mode histogram || uniform) over the high-quality samples (Srivastava et al.
    2017, VEEGAN).
    """
    x, c = _f64(points), _f64(centers)
    d = _pairwise_distances(x, c)
    nearest = d.argmin(1)
    good = d[np.arange(len(x)), nearest] <= 3 * sigma
    counts = np.bincount(nearest[good], minlength=len(c)).astype(np.float64)
    min_count = max(1, len(x) // (5 * len(c))) if min_count is None else min_count
    share = counts / max(counts.sum(), 1)
    present = share > 0
    reverse_kl = float((share[present] * np.log(share[present] * len(c))).sum()) \
        if counts.sum() else float("inf")
    return {"modes": int((counts >= min_count).sum()), "high_quality": float(good.mean()),
            "reverse_kl": reverse_kl}
