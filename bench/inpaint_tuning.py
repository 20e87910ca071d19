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
(``gankit/apps/inpaint_defaults.py``) are the pair this chose. The table goes to
``docs/results/inpaint_tuning-<kind>.md`` (``--no-write``: printed only).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import torch

import common
from gankit.apps.sampling import load
from gankit.data.embedded import load_mnist5k
from gankit.evaluation.metrics.extractors import split_mnist5k
from inpaint_heldout import (SEARCH_DEFAULTS, default_run_in, inpaint_lower_halves,
                             mnist_cnn_accuracy, standard_error)

VALIDATION_DIGITS = 250
TITLE = "Inpainting: the search's prior and realism weights, chosen on validation digits"


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
    parser = common.parser(__doc__)
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
    print(common.machine_line())
    work = Path(args.work)
    train_rows, validation_rows = validation_split(args.seed)
    run_dir = default_run_in(work, args.train_steps, train_rows)
    run = load(run_dir)

    data = load_mnist5k()
    rows = validation_rows[:args.n]
    x_u8, y = data.samples[rows], data.labels[rows]
    print(f"{len(x_u8)} validation digits (never in the held-out 500); run {run_dir} at step "
          f"{run.step}; {SEARCH_DEFAULTS['restarts']} restarts x {SEARCH_DEFAULTS['steps']} "
          f"steps", flush=True)
    results, table = [], []
    for prior, realism in itertools.product(args.prior, args.realism):
        search = {**SEARCH_DEFAULTS, "prior_weight": prior, "d_weight": realism}
        (_, filled, _), seconds = common.timed(inpaint_lower_halves, run, x_u8, seed=args.seed,
                                               **search)
        accuracy = mnist_cnn_accuracy(filled, y)
        results.append({"prior_weight": prior, "d_weight": realism, "accuracy": accuracy,
                        "seconds": seconds})
        table.append([f"{prior:g}", f"{realism:g}", f"{accuracy:.4f}", f"{seconds:.0f}"])
        print(common.table([""] * 4, table[-1:]).splitlines()[-1], flush=True)
    best = max(results, key=lambda r: r["accuracy"])  # the first of equals: the smaller weights
    (work / "tuning_report.json").write_text(json.dumps(results, indent=2))
    markdown = (f"{len(x_u8)} validation digits (never among the 500 held-out ones), lower "
                f"half hidden; the tuning run at step {run.step:,}; "
                f"{SEARCH_DEFAULTS['restarts']} restarts × {SEARCH_DEFAULTS['steps']} steps.\n\n"
                + common.table(["prior weight", "realism weight (the run's D)",
                                "mnist-cnn accuracy, filled", "search seconds"], table)
                + f"\n\nBest: prior weight {best['prior_weight']:g}, realism weight "
                f"{best['d_weight']:g} (the first of equals: the smaller weights). With "
                f"{len(x_u8)} digits an accuracy is good to about "
                f"±{100 * standard_error(best['accuracy'], len(x_u8)):.1f} points.")
    print("\n" + markdown)
    common.write_results("inpaint_tuning", TITLE, {"digits": len(x_u8), "run_step": run.step,
                                                   "results": results, "best": best},
                         markdown, args=args, section=common.changed(parser, args, {
                             "train_steps", "prior", "realism", "n", "seed"}),
                         headline=f"best: prior weight {best['prior_weight']:g}, realism "
                         f"{best['d_weight']:g} ({100 * best['accuracy']:.1f} % on validation)")


if __name__ == "__main__":
    main()
