"""The ``emoji-styles`` task of ``bench/translation.py``: colour translation with a true
answer, Google's emoji <-> Twitter's, every method scored against the truth.

For each direction (google -> twitter, twitter -> google), on the 562 held-out emoji (emoji-cnn's
split: never trained on by any run, nor by the classifier that reads their categories):

* baselines: *identity* (the input itself), *histogram match* (each channel's histogram
  matched to the target domain's training images: each image's own, or one table from the
  source domain's training images for all) and *L1 regression* (pix2pix's U-Net with
  ``translation.gan_weight=0``, no D);
* pix2pix (paired), CycleGAN (unpaired, one run for both directions; the anchor's ResNet G
  and PatchGAN D, cycle x 10, identity x 0.5, at this task's G and D widths) and CUT
  (unpaired, one run per direction);
* the real-vs-real floor: the held-out target images in place of the translations.

Scores (``gankit.evaluation.translation``, the code behind ``gankit eval``): L1, PSNR and
SSIM against the true target; FID and category agreement in emoji-cnn space; the style
judge's share of outputs in the target style. Each run is a ``gankit train`` subprocess; its
training time (the trainer's clock, start-up aside) is in the table. ``--part step-cost`` times CUT's and CycleGAN's steps side by
side in one process (same G, D and batch, alternating rounds).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

import common

# CycleGAN at this task's size: the anchor's ResNet G and PatchGAN D (the cyclegan preset's
# warp G is made for digits), with the cut preset's widths so the two compare at one G and D
CYCLEGAN = ["translation.generator=resnet", "translation.resnet_blocks=6",
            "translation.g_channels=32", "translation.d_channels=32", "translation.d_layers=0",
            "translation.cycle_weight=10", "translation.identity_weight=0.5",
            "translation.pool_size=50", "train.batch_size=8", "train.ema_kimg=2.0"]
KEYS = ("l1", "psnr", "ssim", "fid", "accuracy", "style_share")
HEADER = ["L1", "PSNR (dB)", "SSIM", "FID (emoji-cnn)", "category agreement", "style share"]
DIGITS = {"l1": 4, "psnr": 2, "ssim": 4, "fid": 2, "accuracy": 4, "style_share": 4}
DIRECTIONS = {"AtoB": "google → twitter", "BtoA": "twitter → google"}


def _sets(settings: list[str]) -> list[str]:
    return [word for setting in settings for word in ("--set", setting)]


def recipes(steps: dict[str, int], size: int) -> list[tuple[str, str, list[str], tuple]]:
    """(row name, preset, settings, directions the run serves) of every training run."""
    data = ["data.name=emoji-styles", f"data.image_size={size}", "train.epochs=0"]
    per = [("AtoB",), ("BtoA",)]
    runs = []
    for direction in per:
        d = [f"translation.direction={direction[0]}"]
        runs += [("L1 regression", "pix2pix", [*data, *d, "translation.gan_weight=0",
                                               f"train.steps={steps['pix2pix']}"], direction),
                 ("pix2pix", "pix2pix", [*data, *d, f"train.steps={steps['pix2pix']}"],
                  direction),
                 ("cut", "cut", [*data, *d, f"train.steps={steps['cut']}"], direction)]
    runs.append(("cyclegan", "cyclegan", [*data, *CYCLEGAN, f"train.steps={steps['cyclegan']}"],
                 ("AtoB", "BtoA")))
    return runs


def baselines(data, judge, direction: str) -> dict[str, dict]:
    """Identity, histogram match and the real-vs-real floor in ``direction``."""
    from gankit.evaluation.translation import real_floor, translation_scores
    from gankit.evaluation.translation_baselines import histogram_match

    forward = direction == "AtoB"
    source, truth = (data.a_test, data.b_test) if forward else (data.b_test, data.a_test)
    reference = data.b if forward else data.a
    domain = data.b_domain if forward else data.a_domain
    side = "B" if forward else "A"

    def score(outputs):
        return translation_scores(outputs, domain, data.a_test_labels, truth, truth_u8=truth,
                                  judge=judge, target_side=side)

    whole = data.a if forward else data.b  # the source domain's training images
    return {"identity": score(source),
            "histogram match, per image": score(histogram_match(source, reference)),
            "histogram match, one table": score(histogram_match(source, reference,
                                                                source_u8=whole)),
            "real vs real (floor)": real_floor(data, direction, judge=judge)}


def training_seconds(out: Path, steps: int) -> float | None:
    """The trainer's own clock at the last step of a run in ``out`` that finished ``steps``
    steps (its log's last record), else None."""
    log = out / "log.jsonl"
    lines = log.read_text().splitlines() if log.is_file() else []
    records = [r for r in map(json.loads, lines) if "seconds" in r and "loss_g" in r]
    if not records or records[-1].get("step") != steps:
        return None
    return float(records[-1]["seconds"])


def finished_seconds(out: Path) -> float | None:
    """:func:`training_seconds` of a run in ``out`` at the steps its config.json asked for
    (None: no finished run there)."""
    config = out / "config.json"
    if not config.is_file():
        return None
    return training_seconds(out, int(json.loads(config.read_text())["train"]["steps"]))


def train_and_score(seeds: list[int], work: Path, steps: dict[str, int], size: int,
                    reuse: bool = False) -> tuple[dict, dict]:
    """Every recipe for every seed: ({direction: {row: [scores per seed]}}, {row: [training
    seconds]}). ``reuse``: a run already finished in ``work`` with its steps is scored as
    it is (a bench stopped half way goes on)."""
    import gankit
    from gankit.evaluation.translation import evaluate_translation

    scores: dict[str, dict[str, list]] = {d: {} for d in DIRECTIONS}
    seconds: dict[str, list[float]] = {}
    for seed in seeds:
        for name, preset, settings, directions in recipes(steps, size):
            out = work / f"{size}px-{name.split()[0].lower()}-{'-'.join(directions)}-{seed}"
            wanted = steps.get(name, steps["pix2pix"])  # L1 regression: pix2pix's steps
            if not (reuse and training_seconds(out, wanted) is not None):
                common.train(["--preset", preset, "--seed", str(seed), *_sets(settings)], out)
            seconds.setdefault(name, []).append(training_seconds(out, wanted))
            run = gankit.load(out)
            for direction in directions:
                result = evaluate_translation(run, direction, style=True)["scores"]
                scores[direction].setdefault(name, []).append(result)
    return scores, seconds


def row(name: str, runs: list[dict], seconds: list[float] | None) -> list[str]:
    cells = [common.mean_std([r[k] for r in runs], DIGITS[k]) if all(k in r for r in runs)
             else "–" for k in KEYS]
    took = common.mean_std(seconds, 0) if seconds else "–"
    return [name, *cells, took]


def emoji_styles(seeds: list[int], work: Path, steps: dict[str, int], size: int,
                 reuse: bool = False) -> tuple[dict, str]:
    """The task's tables, one per direction: (figures, Markdown)."""
    from gankit.data import load_translation
    from gankit.evaluation.style_judge import style_judge

    data = load_translation("emoji-styles", image_size=size)
    judge = style_judge(data)
    trained, seconds = train_and_score(seeds, work, steps, size, reuse) if seeds else ({}, {})
    figures = {"size": size, "seeds": seeds, "steps": steps, "seconds": seconds,
               "judge_accuracy": judge.accuracy, "directions": {}}
    parts = [f"{len(data.a_test)} held-out emoji at {size} px ({len(data.a)} training "
             f"pairs); style judge held-out accuracy {judge.accuracy:.4f}; runs: "
             + ", ".join(f"{k} {v} steps" for k, v in steps.items())
             + (f"; mean ± std over {common.plural(len(seeds), 'seed')}" if seeds else "")]
    for direction, title in DIRECTIONS.items():
        base = baselines(data, judge, direction)
        runs = trained.get(direction, {})
        rows = [row(name, [s], None) for name, s in base.items()]
        rows += [row(name, results, seconds.get(name)) for name, results in runs.items()]
        figures["directions"][direction] = {"baselines": base, "runs": runs}
        parts.append(common.table([title, *HEADER, "training (s)"], rows))
    return figures, "\n\n".join(parts)


def step_cost(rounds: int, steps: int, size: int) -> tuple[dict, str]:
    """CUT's, FastCUT's and CycleGAN's step times at one G, D and batch, measured in one
    process in alternating rounds: (figures, Markdown)."""
    from gankit.config import preset
    from gankit.config.overrides import apply_overrides
    from gankit.training.distributed import Context
    from gankit.training.translation import setup

    data = {"data.name": "emoji-styles", "data.image_size": size}
    made = {}
    for name, base, settings in (("cut", "cut", []), ("fastcut", "fastcut", []),
                                 ("cyclegan", "cyclegan", CYCLEGAN)):
        cfg = apply_overrides(preset(base), {**data, **dict(s.split("=", 1) for s in settings)})
        made[name] = setup(cfg, Context(), lambda m: None)
    times: dict[str, list[float]] = {name: [] for name in made}
    for round_ in range(rounds + 1):
        for name, s in made.items():
            batches = s.batches.epoch(round_)
            started = time.perf_counter()
            for _ in range(steps):
                s.strategy(s.state, next(batches))
            if round_:  # the first round warms up
                times[name].append((time.perf_counter() - started) / steps)
    median = {name: sorted(t)[len(t) // 2] for name, t in times.items()}
    ratios = {name: median[name] / median["cyclegan"] for name in ("cut", "fastcut")}
    rows = [[name, f"{1000 * median[name]:.0f}", f"{median[name] / median['cyclegan']:.2f}"]
            for name in made]
    markdown = (f"{rounds} alternating rounds of {steps} steps each, batch "
                f"{made['cut'].batches.batch_size}, {size} px, {torch.get_num_threads()} "
                f"threads, one process; median per step\n\n"
                + common.table(["recipe", "ms per step", "× CycleGAN's"], rows))
    return {"seconds_per_step": median, "ratio_to_cyclegan": ratios, "rounds": times}, markdown
