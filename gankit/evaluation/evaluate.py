"""``gankit eval``: score generated images against a real reference set, with provenance.

Images come from a run (its EMA generator) or from a file (``.npz`` with key ``images``,
uint8 N x H x W x C as ``gankit sample --format npz`` writes) or a folder of images. Real
reference features are cached per (data set, split, extractor, image content) under
``$GANKIT_CACHE`` (default ``~/.cache/gankit``).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit import __version__
from gankit.errors import UserError
from gankit.evaluation.metrics import DIRECTIONS, METRICS, Extractor, get_extractor, parse_metrics
from gankit.evaluation.metrics.extractors import default_extractor


# --- inputs --------------------------------------------------------------------------------

def load_samples(path: str | Path) -> torch.Tensor:
    """Images from an ``.npz`` (key ``images``, or its only array) or a folder: uint8 (N, C, H, W).

    npz arrays may be (N, H, W), (N, H, W, C) or (N, C, H, W) with C in {1, 3}, dtype uint8.
    """
    path = Path(path)
    if path.is_dir():
        from gankit.data.folder import load_folder

        return load_folder(path).samples
    if not path.is_file():
        raise UserError(f"--samples {path}: no such file or folder")
    if path.suffix != ".npz":
        raise UserError(f"--samples {path}: give a .npz file or a folder of images")
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.keys())
            key = "images" if "images" in keys else (keys[0] if len(keys) == 1 else None)
            if key is None:
                raise UserError(f"{path} holds arrays {keys}; name the images array 'images'")
            array = archive[key]
    except UserError:
        raise
    except Exception as exc:  # zip/format errors: the file is not a usable npz
        raise UserError(f"cannot read {path}: {str(exc).splitlines()[0][:160]}") from None
    if array.dtype != np.uint8:
        raise UserError(f"{path}: images must be uint8 (0..255), got {array.dtype}")
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4 and array.shape[-1] in (1, 3) and array.shape[1] not in (1, 3):
        array = array.transpose(0, 3, 1, 2)
    if array.ndim != 4 or array.shape[1] not in (1, 3) or len(array) < 2:
        raise UserError(f"{path}: expected at least 2 images shaped N x H x W x C (C 1 or 3), "
                        f"got {array.shape}")
    return torch.from_numpy(np.ascontiguousarray(array))


def reference_set(data: str, split: str = "train", root: str = "data"):
    """The real data set ``data`` (name or folder) as an ImageData: images uint8 (N, C, H,
    W), labels, ...

    ``split`` is "train" or "test"; sets without a test split (mnist5k, folders) refuse
    "test" rather than silently scoring against training images.
    """
    from gankit.config import DataConfig
    from gankit.data import DATASETS, load_dataset

    if split not in ("train", "test"):
        raise UserError(f"--reference must be train or test, not {split!r}")
    if split == "test" and (data == "mnist5k" or data not in DATASETS):
        raise UserError(f"{data} has no test split; use --reference train")
    return load_dataset(DataConfig(name=data, root=root, download=False),
                        train=split == "train")


def class_counts(data, num_classes: int) -> torch.Tensor | None:
    """The class sizes (K,) of a labelled reference set whose K classes are a conditional
    G's, so that its samples are drawn in the data's proportions (FID compares whole
    distributions); None when G is unconditional or the classes do not match."""
    if not num_classes or data.labels is None or data.num_classes != num_classes:
        return None
    return torch.bincount(data.labels.cpu(), minlength=num_classes)


# --- features, with a cache for the real side ----------------------------------------------

def cache_dir() -> Path:
    return Path(os.environ.get("GANKIT_CACHE", Path.home() / ".cache" / "gankit"))


def reference_features(images_u8: torch.Tensor, extractor: Extractor, key: dict[str, Any],
                       use_cache: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Features of real images, computed once per (key, extractor sha256, image bytes)."""
    digest = hashlib.sha256(json.dumps({**key, "extractor": extractor.name,
                                        "sha256": extractor.sha256,
                                        "features": extractor.features}, sort_keys=True).encode())
    digest.update(images_u8.contiguous().numpy().tobytes())
    path = cache_dir() / "reference" / f"{digest.hexdigest()[:32]}.npz"
    if use_cache and path.is_file():
        try:
            with np.load(path) as saved:
                return saved["features"], (saved["probs"] if saved["probs"].size else None)
        except Exception:
            pass  # a damaged cache entry is recomputed
    features, probs = extractor(images_u8)
    if use_cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, features=features, probs=probs if probs is not None else np.empty(0))
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only home still evaluates, just without the cache
    return features, probs


def score(real_features: np.ndarray, fake_features: np.ndarray, real_probs: np.ndarray | None,
          fake_probs: np.ndarray | None, metrics: list[str], seed: int = 0) -> dict[str, float]:
    """Run the named metrics on precomputed features; returns {score name: value}.

    The one scoring loop: ``gankit eval`` and the training-time quality monitor both call
    it. ``seed`` drives every random choice of the metrics (KID's subsets, IS's splits).
    """
    scores: dict[str, float] = {}
    for name in metrics:
        metric = METRICS[name]
        if metric.needs_probs and fake_probs is None:
            raise UserError(f"metric {name} needs class probabilities; this extractor has none")
        scores.update(metric.compute(real_features, fake_features, real_probs, fake_probs,
                                     seed))
    return scores


# --- the command -----------------------------------------------------------------------------

def _images_to_score(run_dir, samples, data, n, *, reference, seed, device, root):
    """(generated uint8 images, the real reference set, its name, the source's provenance)."""
    if run_dir is not None:
        from gankit.training.finished_run import load, sample

        loaded = not isinstance(run_dir, (str, Path))
        run = run_dir if loaded else load(run_dir, device=device)
        if data is None:  # the run's own data set, where the run found it
            data, root = run.config.data.name, run.config.data.root
        reference_data = reference_set(data, reference, root)
        counts = class_counts(reference_data, run.num_classes)
        fake = sample(run, n=n or 5000, seed=seed, ema=True, class_counts=counts)
        source = {"run_dir": str(run.run_dir if loaded else run_dir), "step": run.step,
                  "generator": "G_ema" if run.G_ema is not None else "G"}
        if counts is not None:
            source["classes"] = "in the reference's proportions"
        return fake, reference_data, data, source
    if data is None:
        raise UserError("--samples needs --data NAME (the real set to compare with)")
    fake = load_samples(samples)
    if n is not None:
        if n > len(fake):
            raise UserError(f"-n {n} asks for more images than {samples} holds ({len(fake)})")
        fake = fake[:n]
    return fake, reference_set(data, reference, root), data, {"samples": str(samples)}


def evaluate(run_dir: str | Path | None = None, samples: str | Path | None = None, *,
             data: str | None = None, n: int | None = None,
             metrics: str | list[str] = "fid,kid,is,pr,dc,modes", reference: str = "train",
             extractor: str | None = None, extractor_weights: str | None = None, seed: int = 0,
             device: str = "cpu", root: str = "data", use_cache: bool = True,
             progress: bool = False) -> dict[str, Any]:
    """Score a run's EMA generator (``run_dir``: its folder or checkpoint, or the run
    loaded) or an image file/folder (``samples``).

    Returns ``{"scores": {...}, "provenance": {...}}``; the provenance names the gankit
    version, extractor (name, sha256), n generated, n reference, reference set and split,
    the seed, and the source of the images. ``progress``: a bar over the four stages
    (images, real features, generated features, scores) on a terminal.
    """
    from gankit.data.decoding import progress_bar

    names = parse_metrics(metrics)
    if (run_dir is None) == (samples is None):
        raise UserError("give either RUN_DIR or --samples FILE (not both)")
    with progress_bar(4, "eval", "stage", progress, leave=False) as bar:
        bar.set_postfix_str("images")
        fake, reference_data, data, source = _images_to_score(
            run_dir, samples, data, n, reference=reference, seed=seed, device=device, root=root)
        real = reference_data.samples
        extractor_name = extractor or default_extractor(tuple(real.shape[1:]), str(data))
        net = get_extractor(extractor_name, extractor_weights, device)
        bar.update()
        bar.set_postfix_str("real features")
        real_features, real_probs = reference_features(
            real, net, {"data": data, "split": reference}, use_cache)
        bar.update()
        bar.set_postfix_str("generated features")
        fake_features, fake_probs = net(fake)
        bar.update()
        bar.set_postfix_str("scores")
        scores = score(real_features, fake_features, real_probs, fake_probs, names, seed)
        bar.update()
    provenance = {"gankit_version": __version__,
                  "extractor": {"name": net.name, "sha256": net.sha256,
                                "features": net.features},
                  "n_generated": int(len(fake)), "n_reference": int(len(real)),
                  "reference": {"data": data, "split": reference}, "seed": seed,
                  "metrics": names, **source}
    return {"scores": scores, "provenance": provenance}


def evaluate_generation(run, direction: str | None = None, **options: Any) -> dict[str, Any]:
    """``gankit eval`` of a loaded noise-to-image run (the kind's evaluation in
    :data:`gankit.evaluation.kinds.EVALUATION`): :func:`evaluate` with the command's
    options; ``direction`` is translation's."""
    return evaluate(run_dir=run, **options)


def format_table(result: dict[str, Any]) -> str:
    """The scores as an aligned table, with which way is better."""
    scores, prov = result["scores"], result["provenance"]
    lines = [f"{prov['n_generated']} images vs {prov['n_reference']} real "
             f"({prov['reference']['data']} {prov['reference']['split']}), extractor "
             f"{prov['extractor']['name']} ({prov['extractor']['sha256'][:12]})"]
    for key, value in scores.items():
        if key.endswith("_std") or key == "num_classes":
            continue
        text = f"{value:.4f}" if isinstance(value, float) else str(value)
        if f"{key}_std" in scores:
            text += f" ± {scores[key + '_std']:.4f}"
        if key == "modes" and "num_classes" in scores:
            text += f" / {scores['num_classes']}"
        arrow = {"min": "lower is better", "max": "higher is better"}.get(DIRECTIONS.get(key, ""), "")
        lines.append(f"  {key:<10} {text:<22} {arrow}")
    return "\n".join(lines)


def write_json(result: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
