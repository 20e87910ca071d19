"""Choose the inpainting search's prior and realism weights on validation digits, never on
the 500 held-out digits that ``bench/inpaint_heldout.py`` scores.

    python bench/inpaint_tuning.py --work /tmp/inpaint-tuning     # ~5 min + ~5 min a setting

The 4,500 digits outside the held-out 500 are split once more (seeded): a default-preset
run is trained on 4,250 of them (the same recipe as the benchmark's run) and the other 250
are the validation digits. Their lower halves are hidden and filled with every pair of
``--prior`` (``inpaint_batch``'s ``prior_weight``) and ``--realism`` (``d_weight``) weights,
at ``gankit inpaint``'s restarts and steps; each pair's share of filled digits labelled as
the original by mnist-cnn is printed, and the best pair is named. (mnist-cnn trained on
these 250 digits intact, never on their filled versions.) ``gankit inpaint``'s defaults
(``gankit/apps/inpaint_defaults.py``) are the pair this chose.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inpaint_heldout import (SEARCH_DEFAULTS, inpaint_lower_halves,  # noqa: E402
                             mnist_cnn_accuracy, train_default_run, write_folder)

from gankit.apps.sampling import load  # noqa: E402
from gankit.data.embedded import load_mnist5k  # noqa: E402
from gankit.evaluation.metrics.extractors import split_mnist5k  # noqa: E402

VALIDATION_DIGITS = 250


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def validation_split(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows the tuning run trains on, validation rows): the 4,500 non-held-out mnist5k
    rows in a seeded order, the last 250 kept for validation."""
    train_rows, _ = split_mnist5k(5000, 500, seed=0)
    order = torch.randperm(len(train_rows), generator=torch.Generator().manual_seed(seed))
    shuffled = train_rows[order]
    return shuffled[:-VALIDATION_DIGITS], shuffled[-VALIDATION_DIGITS:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/gankit-inpaint-tuning")
    parser.add_argument("--train-steps", type=int, default=5000)
    parser.add_argument("--prior", type=floats, default=floats("0,0.05,0.25"),
                        help="prior weights to try (comma-separated)")
    parser.add_argument("--realism", type=floats, default=floats("0,0.01"),
                        help="realism (D) weights to try (comma-separated)")
    parser.add_argument("--n", type=int, default=VALIDATION_DIGITS,
                        help="validation digits to fill (fewer: quicker, noisier)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    work = Path(args.work)
    folder, run_dir = work / "train", work / "run"
    train_rows, validation_rows = validation_split(args.seed)
    if not folder.is_dir():
        write_folder(folder, train_rows)
    train_default_run(folder, run_dir, args.train_steps)
    run = load(run_dir)

    data = load_mnist5k()
    rows = validation_rows[:args.n]
    x_u8, y = data.samples[rows], data.labels[rows]
    print(f"{len(x_u8)} validation digits (never in the held-out 500); run {run_dir} at step "
          f"{run.step}; {SEARCH_DEFAULTS['restarts']} restarts x {SEARCH_DEFAULTS['steps']} "
          f"steps\n| prior weight | realism weight | mnist-cnn accuracy | seconds |\n"
          f"|---|---|---|---|", flush=True)
    results = []
    for prior, realism in itertools.product(args.prior, args.realism):
        started = time.monotonic()
        search = {**SEARCH_DEFAULTS, "prior_weight": prior, "d_weight": realism}
        _, filled, _ = inpaint_lower_halves(run, x_u8, seed=args.seed, **search)
        accuracy = mnist_cnn_accuracy(filled, y)
        results.append({"prior_weight": prior, "d_weight": realism, "accuracy": accuracy})
        print(f"| {prior:g} | {realism:g} | {accuracy:.4f} | "
              f"{time.monotonic() - started:.0f} |", flush=True)
    best = max(results, key=lambda r: r["accuracy"])  # the first of equals: the smaller weights
    print(f"best: prior_weight={best['prior_weight']:g}, d_weight={best['d_weight']:g}")
    (work / "tuning_report.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
