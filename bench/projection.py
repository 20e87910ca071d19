"""Projection benchmark: project held-out digits into a run's latent space and ask a judge that
is in no loss whether each reconstruction is still the original digit.

The 500 digits that mnist-cnn and the independent judge held out (``split_mnist5k(5000,
500, seed=0)``) are held out here too; a run of each preset is trained on the other 4,500
(the labelled PNG folder of ``bench/inpaint_heldout.py``), then every held-out digit is
projected with ``gankit.project`` (the search ``gankit project`` runs) and its reconstruction
is labelled by ``tools/independent.py``'s classifier, an MLP gankit uses in no loss (the
feature loss, when on, is mnist-cnn's). Reported per preset: the share of reconstructions the
judge labels as the original digit, beside the judge's accuracy on the intact digits (target:
at least 95 % of it), the mean PSNR, the seconds per image on this CPU, and, for a
conditional run, the share whose class the search chose right.

    python bench/projection.py --work /tmp/gankit-projection        # default + seed-mlp-stable
    python bench/projection.py --presets default --digits 100       # quicker, noisier
    python bench/projection.py --tune --work /tmp/gankit-projection-tuning
    python bench/projection.py --digits 20 --train-steps 300 --search-steps 40 --no-write

``--tune`` chooses the search's settings where nothing is scored: the runs train on 4,250 of
the 4,500 digits and project the other 250 (the split of ``bench/inpaint_tuning.py``) with
every combination of ``--grid-prior``, ``--grid-feature``, ``--grid-steps`` and
``--grid-restarts``; the best by the judge's share (ties: the cheaper setting) is named and
belongs in ``gankit/apps/projection_defaults.py``. A run folder already in ``--work`` is
reused. The figures go to ``docs/results/projection-<kind>.md`` (``--no-write``: printed
only).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import torch

import common
from gankit.apps import projection_defaults as defaults
from gankit.apps.project import project
from gankit.apps.sampling import load
from gankit.data.embedded import load_mnist5k
from gankit.data.pictures import save_grid
from gankit.evaluation.metrics.extractors import split_mnist5k
from inpaint_heldout import standard_error, train_default_run, write_folder
from inpaint_tuning import validation_split
from tools.independent import load as load_judge, predict

TITLE = "Projection: held-out digits projected into a run, judged by a classifier in no loss"
TARGET = 0.95  # of the judge's accuracy on the intact digits


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def train_run(preset: str, folder: Path, run_dir: Path, steps: int | None) -> None:
    """A run of ``preset`` on the labelled PNG folder, unless ``run_dir`` holds one: the
    default preset as the inpainting bench trains it (5,000 steps), others with their own
    budget; ``steps`` overrides both."""
    if preset == "default":
        return train_default_run(folder, run_dir, steps or 5000)
    if not (run_dir / "checkpoints").is_dir():
        budget = ["--steps", str(steps)] if steps else []  # whichever ends first
        common.train(["--preset", preset, "--data", str(folder), *budget], run_dir)


def judge_share(judge, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of uint8 digits (N, 1, 28, 28) the judge labels as ``labels``."""
    return float((predict(judge, images) == labels).float().mean())


def measure(run, judge, x_u8: torch.Tensor, y: torch.Tensor, search: dict) -> dict:
    """Project ``x_u8`` with ``search`` (project's keywords) and score the reconstructions."""
    found, seconds = common.timed(project, run, x_u8, **search)
    return {"judge_share": judge_share(judge, found.reconstructions, y),
            "psnr": float(found.psnr.mean()), "fit_mse": float(found.fit_mse.mean()),
            "seconds_per_image": seconds / len(x_u8),
            "class_right": None if found.labels is None else
            float((found.labels == y).float().mean()), "projection": found}


def scored(args, judge, data) -> list[dict]:
    """Each preset's figures on the held-out digits."""
    work = Path(args.work)
    folder = work / "train"
    write_folder(folder)
    _, held_out = split_mnist5k(5000, 500, seed=0)
    rows = held_out[:args.digits]
    x_u8, y = data.samples[rows], data.labels[rows]
    intact = judge_share(judge, x_u8, y)
    search = dict(restarts=args.restarts, steps=args.search_steps, seed=args.seed,
                  prior_weight=args.prior_weight, feature_weight=args.feature_weight)
    results = []
    for preset in args.presets:
        run_dir = work / f"run-{preset}"
        train_run(preset, folder, run_dir, args.train_steps)
        run = load(run_dir)
        figures = measure(run, judge, x_u8, y, search)
        found = figures.pop("projection")
        save_grid(torch.stack([x_u8[:16], found.reconstructions[:16]], 1).flatten(0, 1),
                  work / f"projected-{preset}.png", nrow=8)  # (intact, reconstruction) x 16
        np.savez_compressed(work / f"projected-{preset}.npz", z=found.z.numpy(),
                            images=found.reconstructions.permute(0, 2, 3, 1).numpy(),
                            labels=y.numpy())
        results.append({"preset": preset, "run_step": run.step, "digits": len(y),
                        "judge_intact": intact, **figures})
        print(json.dumps(results[-1]), flush=True)
    return results


def scored_markdown(args, results: list[dict]) -> str:
    rows = [[f"`{r['preset']}` (step {r['run_step']:,})",
             f"**{100 * r['judge_share']:.1f} %**", f"{100 * r['judge_intact']:.1f} %",
             f"{100 * r['judge_share'] / r['judge_intact']:.1f} %",
             f"{r['psnr']:.1f} dB", f"{r['seconds_per_image']:.2f}",
             "–" if r["class_right"] is None else f"{100 * r['class_right']:.1f} %"]
            for r in results]
    n = results[0]["digits"]
    return (f"{n:,} held-out digits (never trained on by the runs, mnist-cnn or the judge), "
            f"projected with {args.restarts} restarts × {args.search_steps} steps, prior "
            f"weight {args.prior_weight:g}, feature weight {args.feature_weight:g}.\n\n"
            + common.table(["run", "reconstructions the judge labels right", "intact digits",
                            f"share of intact (target ≥ {100 * TARGET:.0f} %)", "mean PSNR",
                            "seconds per image", "class chosen right"], rows)
            + f"\n\nThe judge is `tools/independent.py`'s MLP, in no loss. With {n:,} digits a "
            f"share is good to about ±{100 * standard_error(results[0]['judge_share'], n):.1f} "
            "points (one standard error).")


def tuned(args, judge, data) -> tuple[list[dict], str]:
    """The grid's figures on the 250 validation digits, and their table."""
    work = Path(args.work)
    train_rows, validation_rows = validation_split(args.seed)
    folder = work / "train-tuning"
    write_folder(folder, train_rows)
    rows = validation_rows[:args.digits]
    x_u8, y = data.samples[rows], data.labels[rows]
    results, table = [], []
    for preset in args.presets:
        run_dir = work / f"run-tuning-{preset}"
        train_run(preset, folder, run_dir, args.train_steps)
        run = load(run_dir)
        for prior, feature, steps, restarts in itertools.product(
                args.grid_prior, args.grid_feature, args.grid_steps, args.grid_restarts):
            search = dict(restarts=restarts, steps=steps, seed=args.seed, prior_weight=prior,
                          feature_weight=feature)
            figures = measure(run, judge, x_u8, y, search)
            figures.pop("projection")
            results.append({"preset": preset, **search, **figures})
            table.append([preset, f"{prior:g}", f"{feature:g}", steps, restarts,
                          f"{100 * figures['judge_share']:.1f} %", f"{figures['psnr']:.1f}",
                          f"{figures['seconds_per_image']:.2f}"])
            print(common.table([""] * 8, table[-1:]).splitlines()[-1], flush=True)
    best = {preset: max((r for r in results if r["preset"] == preset),
                        key=lambda r: (r["judge_share"], -r["seconds_per_image"]))
            for preset in args.presets}
    chosen = "; ".join(f"`{p}`: prior {b['prior_weight']:g}, feature {b['feature_weight']:g}, "
                       f"{b['steps']} steps, {b['restarts']} restarts "
                       f"({100 * b['judge_share']:.1f} %)" for p, b in best.items())
    markdown = (f"{len(y)} validation digits (never among the 500 scored ones); the tuning "
                "runs trained on the other 4,250.\n\n"
                + common.table(["run", "prior weight", "feature weight", "steps", "restarts",
                                "judge's share", "PSNR (dB)", "seconds per image"], table)
                + f"\n\nBest (ties: the faster): {chosen}.")
    return results, markdown


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--work", default="/tmp/gankit-projection", help="folder for data+runs")
    parser.add_argument("--presets", default=["default", "seed-mlp-stable"],
                        type=lambda t: t.split(","), help="comma-separated presets")
    parser.add_argument("--train-steps", type=int, default=None, help="training steps of "
                        "every run (default: 5,000 for default, the preset's for others)")
    parser.add_argument("--digits", type=int, default=500, help="held-out digits (250 "
                        "validation digits at most with --tune)")
    parser.add_argument("--restarts", type=int, default=defaults.RESTARTS)
    parser.add_argument("--search-steps", type=int, default=defaults.SEARCH_STEPS)
    parser.add_argument("--prior-weight", type=float, default=defaults.PRIOR_WEIGHT)
    parser.add_argument("--feature-weight", type=float, default=defaults.FEATURE_WEIGHT)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tune", action="store_true", help="choose the settings on "
                        "validation digits instead of scoring the held-out ones")
    parser.add_argument("--grid-prior", type=floats, default=floats("0,0.05,0.25"))
    parser.add_argument("--grid-feature", type=floats, default=floats("0,0.5"))
    parser.add_argument("--grid-steps", type=ints, default=[defaults.SEARCH_STEPS])
    parser.add_argument("--grid-restarts", type=ints, default=[defaults.RESTARTS])
    args = parser.parse_args()
    print(common.machine_line())
    judge, _ = load_judge()
    data = load_mnist5k()
    key = common.changed(parser, args)
    if args.tune:
        results, markdown = tuned(args, judge, data)
        print("\n" + markdown)
        common.write_results("projection", TITLE, {"tuning": results}, markdown, args=args,
                             section=key, heading=f"`{key}`")  # the index keeps the score
        return
    results = scored(args, judge, data)
    markdown = scored_markdown(args, results)
    print("\n" + markdown)
    first = results[0]
    common.write_results(
        "projection", TITLE, {"results": results}, markdown, args=args, section=key,
        heading=key and f"`{key}`",
        headline=f"`{first['preset']}`: {100 * first['judge_share']:.1f} % of reconstructions "
        f"labelled right ({100 * first['judge_share'] / first['judge_intact']:.0f} % of the "
        f"intact digits' {100 * first['judge_intact']:.1f} %)")


if __name__ == "__main__":
    main()
