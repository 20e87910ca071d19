"""``gankit eval`` for translation runs: does a translation keep what it should?

On the held-out images of the source domain (never trained on):

* **label preservation**: the accuracy of a classifier of the *target* domain on the
  translated images, against the source images' labels (mnist-cnn for -> MNIST,
  digits-cnn for -> digits), with the confusion matrix (rows: true class, columns: the
  class read in the translation) and the share of flipped labels;
* **FID** in that classifier's features between the translations and the held-out
  target images;
* paired runs: **L1** and **PSNR** against the ground truth (pixels in [0, 1]);
* unpaired runs: **cycle L1**, source -> target -> source against the source.

:func:`translation_scores` scores any set of outputs, so the benchmark scores its
baselines (resize only, hand-made reframing, L1 regression) with the same code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gankit import __version__
from gankit.evaluation.metrics.extractors import get_extractor
from gankit.evaluation.metrics.scores import fid

# the classifier that reads each built-in domain's digits
DOMAIN_CLASSIFIERS = {"mnist": "mnist-cnn", "digits": "digits-cnn"}


def _unit(images_u8: torch.Tensor) -> torch.Tensor:
    return images_u8.float() / 255.0


def pixel_scores(outputs_u8: torch.Tensor, truth_u8: torch.Tensor) -> dict[str, float]:
    """Mean L1 and mean per-image PSNR (dB) of outputs against the truth, pixels in [0, 1]."""
    diff = _unit(outputs_u8) - _unit(truth_u8)
    mse = diff.pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return {"l1": float(diff.abs().mean()), "psnr": float((10 * torch.log10(1 / mse)).mean())}


def translation_scores(outputs_u8: torch.Tensor, target_domain: str,
                       labels: torch.Tensor | None, targets_u8: torch.Tensor,
                       truth_u8: torch.Tensor | None = None, device: str = "cpu"
                       ) -> dict[str, Any]:
    """Scores of translations ``outputs_u8`` (N, C, H, W) into ``target_domain``.

    ``labels`` (N,): the source images' classes (None: no label preservation);
    ``targets_u8``: held-out real images of the target domain (the FID reference);
    ``truth_u8`` (N, ...): the ground truth of a paired set (L1, PSNR).
    """
    scores: dict[str, Any] = {}
    name = DOMAIN_CLASSIFIERS.get(target_domain)
    if name is not None and outputs_u8.shape[1] == 1:
        classifier = get_extractor(name, device=device)
        fake_features, probs = classifier(outputs_u8)
        real_features, _ = classifier(targets_u8)
        scores["classifier"] = name
        scores["fid"] = float(fid(real_features, fake_features))
        if labels is not None:
            predicted = probs.argmax(1)
            truth = labels.numpy()
            classes = probs.shape[1]
            confusion = np.zeros((classes, classes), dtype=np.int64)
            np.add.at(confusion, (truth, predicted), 1)
            scores["accuracy"] = float((predicted == truth).mean())
            scores["label_flips"] = 1.0 - scores["accuracy"]
            scores["confusion"] = confusion.tolist()
    if truth_u8 is not None:
        scores.update(pixel_scores(outputs_u8, truth_u8))
    return scores


def evaluate_translation(run, direction: str | None = None, device: str = "cpu",
                         ema: bool = True) -> dict[str, Any]:
    """Translate the run's held-out source images and score them (see the module doc).
    Returns ``{"scores": {...}, "provenance": {...}}`` like ``gankit eval``."""
    from gankit.data import load_translation

    cfg = run.config
    direction = direction or cfg.translation.direction
    d = cfg.data
    data = load_translation(d.name, image_size=d.image_size, channels=d.channels, root=d.root)
    forward = direction == "AtoB"
    source, target = (data.a_test, data.b_test) if forward else (data.b_test, data.a_test)
    labels = data.a_test_labels if forward else data.b_test_labels
    domain = data.b_domain if forward else data.a_domain
    outputs = run.translate(source, direction, ema=ema)
    paired = cfg.translation.mode == "paired"
    scores = translation_scores(outputs, domain, labels, target,
                                truth_u8=target if paired else None, device=device)
    if not paired:  # source -> target -> source
        back = run.translate(outputs, "BtoA" if forward else "AtoB", ema=ema)
        scores["cycle_l1"] = pixel_scores(back, source)["l1"]
    provenance = {"gankit_version": __version__, "run_step": run.step, "data": d.name,
                  "direction": direction, "n_translated": int(len(source)),
                  "n_reference": int(len(target)), "ema": ema,
                  "held_out": "never trained on (the data set's fixed test split)"}
    return {"scores": scores, "provenance": provenance}


def evaluate_translation_run(run, direction: str | None = None, device: str = "cpu",
                             **options: Any) -> dict[str, Any]:
    """``gankit eval`` of a loaded translation run (the kind's evaluation in
    :data:`gankit.evaluation.kinds.EVALUATION`): :func:`evaluate_translation` on its
    held-out images; the other options of the command are the noise-to-image kind's."""
    return evaluate_translation(run, direction, device=device)


def format_translation(result: dict[str, Any]) -> str:
    """The scores as lines, the confusion matrix last."""
    scores, prov = result["scores"], result["provenance"]
    lines = [f"{prov['n_translated']} held-out images of {prov['data']} translated "
             f"{prov['direction']} (step {prov['run_step']})"]
    better = {"accuracy": "higher", "label_flips": "lower", "fid": "lower", "l1": "lower",
              "psnr": "higher", "cycle_l1": "lower"}
    for key, way in better.items():
        if key in scores:
            lines.append(f"  {key:<12} {scores[key]:.4f}   ({way} is better)")
    if "confusion" in scores:
        lines.append(f"  confusion ({scores['classifier']}: rows true class, columns read):")
        lines += ["    " + " ".join(f"{v:4d}" for v in row) for row in scores["confusion"]]
    return "\n".join(lines)
