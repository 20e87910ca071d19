"""``gankit eval`` for translation runs: does a translation keep what it should?

On the held-out images of the source domain (never trained on):

* **label preservation**: the accuracy of a classifier of the *target* domain on the
  translated images, against the source images' labels (mnist-cnn for -> MNIST,
  digits-cnn for -> digits; emoji-cnn for -> google or twitter emoji, where it is the
  **category agreement**: emoji-cnn was trained on both styles, so it reads content more
  than style), with the confusion matrix (rows: true class, columns: the class read in the
  translation) and the share of flipped labels;
* **FID** in that classifier's features between the translations and the held-out
  target images;
* data whose held-out images are paired (``data.paired``), paired or unpaired run alike:
  **L1**, **PSNR** and **SSIM** against the true target (pixels in [0, 1]);
* unpaired (CycleGAN) runs: **cycle L1**, source -> target -> source against the source;
* sets paired by name (emoji-styles: the same emoji in two styles): the **style share**,
  the share of translations that a style judge (:mod:`gankit.evaluation.style_judge`,
  trained on the training split) assigns to the target domain, and the **real-vs-real
  floor** (:func:`real_floor`): the same scores with real target images standing in for
  the translations.

:func:`translation_scores` scores any set of outputs, so the benchmark scores its
baselines (:mod:`gankit.evaluation.translation_baselines`, resize only, hand-made
reframing, L1 regression) with the same code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gankit import __version__
from gankit.evaluation.metrics.extractors import get_extractor
from gankit.evaluation.metrics.scores import fid
from gankit.evaluation.metrics.ssim import ssim

# the classifier that reads each built-in domain's classes
DOMAIN_CLASSIFIERS = {"mnist": "mnist-cnn", "digits": "digits-cnn", "google": "emoji-cnn",
                      "twitter": "emoji-cnn"}
# the channels each classifier's domains come in: a run of the set converted to other
# channels (data.channels) is read by none, rather than by one trained on other images
CLASSIFIER_CHANNELS = {"mnist-cnn": 1, "digits-cnn": 1, "emoji-cnn": 3}
# what the "accuracy" score means, as the output names it (the digits': "accuracy")
AGREEMENT_NAMES = {"emoji-cnn": "category agreement"}
FLOOR_SEED = 0  # the training images sampled for the real-vs-real FID


def _unit(images_u8: torch.Tensor) -> torch.Tensor:
    return images_u8.float() / 255.0


def pixel_scores(outputs_u8: torch.Tensor, truth_u8: torch.Tensor) -> dict[str, float]:
    """Mean L1 and mean per-image PSNR (dB) of outputs against the truth, pixels in [0, 1]."""
    diff = _unit(outputs_u8) - _unit(truth_u8)
    mse = diff.pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return {"l1": float(diff.abs().mean()), "psnr": float((10 * torch.log10(1 / mse)).mean())}


def truth_scores(outputs_u8: torch.Tensor, truth_u8: torch.Tensor) -> dict[str, float]:
    """L1, PSNR (:func:`pixel_scores`) and mean SSIM (:func:`~gankit.evaluation.metrics.ssim.
    ssim`) of outputs (N, C, H, W) uint8 against their true targets of the same shape."""
    return {**pixel_scores(outputs_u8, truth_u8), "ssim": float(ssim(outputs_u8, truth_u8).mean())}


def classifier_of(target_domain: str, channels: int) -> str | None:
    """The extractor that reads images of ``target_domain`` with ``channels`` channels, or
    None (a user's folder, or a set converted to other channels)."""
    name = DOMAIN_CLASSIFIERS.get(target_domain)
    return name if name is not None and CLASSIFIER_CHANNELS[name] == channels else None


def classifier_scores(outputs_u8: torch.Tensor, name: str, labels: torch.Tensor | None,
                      targets_u8: torch.Tensor, device: str = "cpu") -> dict[str, Any]:
    """FID in extractor ``name``'s features between outputs (N, C, H, W) and held-out
    target images (M, C, H, W); with ``labels`` (N,), the accuracy of its classes against
    them, the share of flipped labels and the confusion matrix (rows: true class)."""
    classifier = get_extractor(name, device=device)
    fake_features, probs = classifier(outputs_u8)
    real_features, _ = classifier(targets_u8)
    scores: dict[str, Any] = {"classifier": name,
                              "fid": float(fid(real_features, fake_features))}
    if labels is not None:
        predicted = probs.argmax(1)
        truth = labels.numpy()
        classes = probs.shape[1]
        confusion = np.zeros((classes, classes), dtype=np.int64)
        np.add.at(confusion, (truth, predicted), 1)
        scores["accuracy"] = float((predicted == truth).mean())
        scores["label_flips"] = 1.0 - scores["accuracy"]
        scores["confusion"] = confusion.tolist()
    return scores


def translation_scores(outputs_u8: torch.Tensor, target_domain: str,
                       labels: torch.Tensor | None, targets_u8: torch.Tensor,
                       truth_u8: torch.Tensor | None = None, device: str = "cpu", *,
                       judge=None, target_side: str = "B") -> dict[str, Any]:
    """Scores of translations ``outputs_u8`` (N, C, H, W) into ``target_domain``.

    ``labels`` (N,): the source images' classes (None: no label preservation);
    ``targets_u8``: held-out real images of the target domain (the FID reference);
    ``truth_u8`` (N, ...): the true targets of paired data (L1, PSNR, SSIM);
    ``judge``: a :class:`~gankit.evaluation.style_judge.StyleJudge` of the set, for
    ``style_share``, the share of outputs it assigns to ``target_side`` ("A" or "B").
    """
    scores: dict[str, Any] = {}
    name = classifier_of(target_domain, outputs_u8.shape[1])
    if name is not None:
        scores.update(classifier_scores(outputs_u8, name, labels, targets_u8, device))
    if truth_u8 is not None:
        scores.update(truth_scores(outputs_u8, truth_u8))
    if judge is not None:
        scores["style_share"] = judge.share(outputs_u8, target_side)
    return scores


def real_vs_real_fid(held_out_u8: torch.Tensor, training_u8: torch.Tensor, name: str,
                     device: str = "cpu", seed: int = FLOOR_SEED) -> float:
    """FID in extractor ``name``'s features between real held-out images (N, C, H, W) and a
    seeded sample of as many real training images of the same domain (M, C, H, W; all of
    them if M < N): two independent real samples of the size a translation's FID compares.

    (Two halves of the held-out images, as ``bench/emoji.py`` uses, halve the samples: on
    emoji-styles their FID is 1.2 to 3.0 over seeds, above the identity's 2.3 to 2.6; a
    same-size sample gives 0.8 to 2.0.)"""
    extractor = get_extractor(name, device=device)
    order = torch.randperm(len(training_u8), generator=torch.Generator().manual_seed(seed))
    held_out, _ = extractor(held_out_u8)
    training, _ = extractor(training_u8[order[:len(held_out_u8)]])
    return float(fid(held_out, training))


def real_floor(data, direction: str = "AtoB", device: str = "cpu", *, judge=None
               ) -> dict[str, Any]:
    """The real-vs-real floor of ``data``'s scores in ``direction``: the scores of
    :func:`translation_scores` with the held-out real target images standing in for the
    translations (the true targets where the data is paired, scored against their own
    labels), except FID (the stand-ins against themselves would be 0), which is
    :func:`real_vs_real_fid`: the held-out target images against as many training images of
    the target domain. A perfect paired translator reaches FID 0 against its own truth, so
    below this floor FID says no more than "as close as another real sample".

    The floor of L1, PSNR and SSIM is then their perfect value (0, 100 dB by the 1e-10
    MSE clamp, 1); the category agreement is the classifier's own accuracy on real target
    images and the style share the judge's on them: the ceilings a translation can reach.
    """
    forward = direction == "AtoB"
    target, training = (data.b_test, data.b) if forward else (data.a_test, data.a)
    labels = data.b_test_labels if forward else data.a_test_labels
    domain = data.b_domain if forward else data.a_domain
    scores = translation_scores(target, domain, labels, target,
                                truth_u8=target if data.paired else None, device=device,
                                judge=judge, target_side="B" if forward else "A")
    if "fid" in scores:
        scores["fid"] = real_vs_real_fid(target, training, scores["classifier"], device)
    scores.pop("confusion", None)
    return scores


def paired_by_name(data) -> bool:
    """Whether each held-out image of ``data`` is the same subject as its pair in the other
    domain (emoji-styles: matched by code point): then the style judge and the floor are
    scored by default."""
    return bool(data.paired and data.a_test_names is not None)


def evaluate_translation(run, direction: str | None = None, device: str = "cpu",
                         ema: bool = True, *, style: bool | None = None) -> dict[str, Any]:
    """Translate the run's held-out source images and score them (see the module doc).
    ``style``: score the style share and the real-vs-real floor (None: for sets paired by
    name). Returns ``{"scores": {...}, "provenance": {...}}`` like ``gankit eval``, with
    ``"floor": {...}`` (:func:`real_floor`) when ``style``."""
    from gankit.data import load_translation
    from gankit.evaluation.style_judge import style_judge

    cfg = run.config
    direction = direction or cfg.translation.direction
    d = cfg.data
    data = load_translation(d.name, image_size=d.image_size, channels=d.channels, root=d.root)
    forward = direction == "AtoB"
    source, target = (data.a_test, data.b_test) if forward else (data.b_test, data.a_test)
    labels = data.a_test_labels if forward else data.b_test_labels
    domain = data.b_domain if forward else data.a_domain
    outputs = run.translate(source, direction, ema=ema)
    judge = style_judge(data) if (paired_by_name(data) if style is None else style) else None
    scores = translation_scores(outputs, domain, labels, target,
                                truth_u8=target if data.paired else None, device=device,
                                judge=judge, target_side="B" if forward else "A")
    if cfg.translation.mode == "unpaired":  # source -> target -> source (CUT is one-way)
        back = run.translate(outputs, "BtoA" if forward else "AtoB", ema=ema)
        scores["cycle_l1"] = pixel_scores(back, source)["l1"]
    provenance = {"gankit_version": __version__, "run_step": run.step, "data": d.name,
                  "direction": direction, "n_translated": int(len(source)),
                  "n_reference": int(len(target)), "ema": ema,
                  "held_out": "never trained on (the data set's fixed test split)"}
    result: dict[str, Any] = {"scores": scores, "provenance": provenance}
    if judge is not None:
        provenance["style_judge"] = {"accuracy": judge.accuracy, "trained_on": judge.trained_on}
        result["floor"] = real_floor(data, direction, device, judge=judge)
    return result


def evaluate_translation_run(run, direction: str | None = None, device: str = "cpu",
                             **options: Any) -> dict[str, Any]:
    """``gankit eval`` of a loaded translation run (the kind's evaluation in
    :data:`gankit.evaluation.kinds.EVALUATION`): :func:`evaluate_translation` on its
    held-out images; the other options of the command are the noise-to-image kind's."""
    return evaluate_translation(run, direction, device=device)


# (key, what the output calls it, which way is better), in the order printed
SCORE_LINES = (("accuracy", "accuracy", "higher"), ("label_flips", "label_flips", "lower"),
               ("fid", "fid", "lower"), ("l1", "l1", "lower"), ("psnr", "psnr", "higher"),
               ("ssim", "ssim", "higher"), ("style_share", "style share", "higher"),
               ("cycle_l1", "cycle_l1", "lower"))


def format_translation(result: dict[str, Any]) -> str:
    """The scores as lines (with the real-vs-real floor beside them where there is one),
    the confusion matrix last."""
    scores, prov = result["scores"], result["provenance"]
    floor = result.get("floor")
    lines = [f"{prov['n_translated']} held-out images of {prov['data']} translated "
             f"{prov['direction']} (step {prov['run_step']})"]
    agreement = AGREEMENT_NAMES.get(scores.get("classifier", ""))
    shown = [(key, agreement if key == "accuracy" and agreement else label, way)
             for key, label, way in SCORE_LINES if key in scores]
    width = max([12] + [len(label) for _, label, _ in shown])
    for key, label, way in shown:
        line = f"  {label:<{width}} {scores[key]:8.4f}   ({way} is better)"
        if floor is not None and key in floor:
            line += f"{'':>{7 - len(way)}}real vs real {floor[key]:8.4f}"
        lines.append(line)
    judge = prov.get("style_judge")
    if judge is not None:
        lines += [f"  style share: the share of translations that the style judge (held-out "
                  f"accuracy {judge['accuracy']:.3f}, trained on {judge['trained_on']:,} "
                  f"training images) puts in the target style",
                  "  real vs real: the held-out target images in place of the translations "
                  "(FID: against as many training images of the target domain)"]
    if "confusion" in scores:
        lines.append(f"  confusion ({scores['classifier']}: rows true class, columns read):")
        lines += ["    " + " ".join(f"{v:4d}" for v in row) for row in scores["confusion"]]
    return "\n".join(lines)
