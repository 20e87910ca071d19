"""Inpainting benchmark: restore held-out digits whose lower half is hidden.

mnist5k is all the training data gankit ships, so this splits it: the 500 digits that
gankit's mnist-cnn extractor also held out (``split_mnist5k(5000, 500, seed=0)``, never
trained on by the extractor) are held out here too; the other 4,500 are written as a PNG
folder with sub-folders 0..9 (gankit's folder loader makes them classes) and a run of the
``default`` preset (class-conditional DCGAN) is trained on them. Then every held-out digit
has its lower half (rows 14..27) hidden, is inpainted, and the filled digits are labelled
by mnist-cnn. Reported: the share labelled as the original digit, the share for the masked
digits without filling (lower half black, a baseline), the share for the intact digits,
and the mean MSEs. The filled images are saved (npz, key ``images``) for other classifiers.

    python bench/inpaint_heldout.py --work /tmp/inpaint-bench            # ~6-10 + ~15-30 min
    python bench/inpaint_heldout.py --work /tmp/inpaint-bench --n 100    # quicker, noisier

The search uses ``gankit inpaint``'s defaults (restarts, steps and the prior and realism
weights are those of :func:`~gankit.apps.inpaint.inpaint_batch`, which the CLI shares; the
weights were chosen by ``bench/inpaint_tuning.py`` on other digits); a run folder already in
``--work`` is reused, so ``--restarts``/``--steps`` can be varied without training again.
The figures go to ``docs/results/inpaint_heldout-<kind>.md``, one section per search
setting (``--no-write``: printed only).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import torch

import common
from gankit.data import to_model_range, to_uint8
from gankit.data.embedded import load_mnist5k
from gankit.apps.inpaint import inpaint_batch, lower_half_mask
from gankit.evaluation.metrics.extractors import get_extractor, split_mnist5k
from gankit.apps.sampling import load
from gankit.data.pictures import save_grid


def write_folder(folder: Path, rows=None) -> None:
    """The mnist5k digits ``rows`` (default: the 4,500 outside the held-out 500) as PNGs in
    sub-folders 0..9 of ``folder``, unless ``folder`` exists (a reused ``--work``)."""
    from PIL import Image

    if folder.is_dir():
        return
    data = load_mnist5k()
    if rows is None:
        rows, _ = split_mnist5k(5000, 500, seed=0)
    for row in rows.tolist():
        sub = folder / str(int(data.labels[row]))
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(data.samples[row, 0].numpy()).save(sub / f"{row:05d}.png")


# gankit inpaint's defaults (tests/apps/test_inpaint.py holds the CLI to the same values)
SEARCH_DEFAULTS = {name: p.default for name, p in
                   inspect.signature(inpaint_batch).parameters.items()
                   if name in ("restarts", "steps", "prior_weight", "d_weight")}


def inpaint_lower_halves(run, x_u8: torch.Tensor, **search):
    """Hide the lower half (rows 14..27) of uint8 digits (B, 1, 28, 28) and fill it with
    ``run``'s generator and D (``search``: inpaint_batch's keywords). Returns (the
    InpaintResult, filled uint8, masked-unfilled uint8 with the lower half black)."""
    vr = run.config.data.value_range
    x = to_model_range(x_u8, vr)
    known = lower_half_mask(len(x), (28, 28))
    result = inpaint_batch(run.generator, x, known, latent_dim=run.config.model.latent_dim,
                           value_range=vr, D=run.D, **search)
    filled = to_uint8(result.filled, vr)
    masked = to_uint8(x * known + (-1.0 if vr == "tanh" else 0.0) * (1 - known), vr)
    return result, filled, masked


def mnist_cnn_accuracy(images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of uint8 digits (B, 1, 28, 28) that mnist-cnn labels as ``labels`` (B,)."""
    probs = get_extractor("mnist-cnn")(images)[1]
    return float((torch.from_numpy(probs.argmax(1)) == labels).float().mean())


def train_default_run(folder: Path, run_dir: Path, steps: int) -> None:
    """A default-preset run on a labelled PNG folder, unless ``run_dir`` holds one."""
    if not (run_dir / "checkpoints").is_dir():
        common.train(["--preset", "default", "--data", str(folder), "--steps", str(steps),
                      "--minutes", "0"], run_dir)


def default_run_in(work: Path, steps: int, rows=None) -> Path:
    """``work/run``: a default-preset run of ``steps`` steps on the digits ``rows`` (default:
    the 4,500 outside the held-out 500), written as the labelled folder ``work/train``; both
    made once and reused by later benches given the same ``--work``."""
    folder, run_dir = work / "train", work / "run"
    write_folder(folder, rows)
    train_default_run(folder, run_dir, steps)
    return run_dir


TITLE = "Inpainting: held-out digits whose lower half is hidden"


def report_markdown(report: dict) -> str:
    """The report as a table, with what the shares mean."""
    percent = lambda key: f"{100 * report[key]:.1f} %"  # noqa: E731
    chosen, n = report["class_chosen_correct"], report["digits"]
    return (f"{report['digits']:,} held-out digits (never trained on, by the run or by "
            f"mnist-cnn), lower half hidden; the run at step {report['run_step']:,}; search: "
            f"{report['restarts']} restarts × {report['steps']} steps, prior weight "
            f"{report['prior_weight']:g}, realism weight {report['realism_weight']:g}.\n\n"
            + common.table(["labelled as the original by mnist-cnn", "share"], [
                ["filled", f"**{percent('mnist_cnn_accuracy_filled')}**"],
                ["lower half left black (no filling)",
                 percent("mnist_cnn_accuracy_masked_unfilled")],
                ["intact digits", percent("mnist_cnn_accuracy_intact")],
                ["the class the search chose is right",
                 "–" if chosen is None else f"{100 * chosen:.1f} %"]])
            + f"\n\nHidden-pixel MSE {report['hidden_mse']:.3f}, fit MSE on the known pixels "
            f"{report['fit_mse']:.4f} (pixels in [0, 1]); the search took "
            f"{report['seconds']:.0f} s. With {report['digits']:,} digits a share is good to "
            f"about ±{100 * standard_error(report['mnist_cnn_accuracy_filled'], n):.1f} "
            "points (one standard error).")


def standard_error(share: float, n: int) -> float:
    """The standard error of a share measured on ``n`` items."""
    return (share * (1 - share) / n) ** 0.5


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--work", default="/tmp/gankit-inpaint-bench", help="folder for data+run")
    parser.add_argument("--train-steps", type=int, default=5000)
    parser.add_argument("--n", type=int, default=500, help="held-out digits to inpaint")
    parser.add_argument("--restarts", type=int, default=SEARCH_DEFAULTS["restarts"])
    parser.add_argument("--search-steps", "--steps", dest="steps", type=int,
                        default=SEARCH_DEFAULTS["steps"], help="steps of each restart's search "
                        "(gankit inpaint --search-steps)")
    parser.add_argument("--prior-weight", type=float, default=SEARCH_DEFAULTS["prior_weight"])
    parser.add_argument("--realism-weight", type=float, default=SEARCH_DEFAULTS["d_weight"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(common.machine_line())
    work = Path(args.work)
    # --- 4,500 training digits as a labelled folder; a default-preset run on them -------
    run_dir = default_run_in(work, args.train_steps)
    run = load(run_dir)

    # --- the held-out digits, lower half hidden -------------------------------------------
    data = load_mnist5k()
    _, held_out = split_mnist5k(5000, 500, seed=0)
    rows = held_out[:args.n]
    x_u8, y = data.samples[rows], data.labels[rows]
    (result, filled, masked), seconds = common.timed(
        inpaint_lower_halves, run, x_u8, restarts=args.restarts, steps=args.steps,
        seed=args.seed, prior_weight=args.prior_weight, d_weight=args.realism_weight)

    report = {
        "digits": len(x_u8), "run": str(run_dir), "run_step": run.step,
        "restarts": args.restarts, "steps": args.steps, "prior_weight": args.prior_weight,
        "realism_weight": args.realism_weight, "seconds": round(seconds, 1),
        "mnist_cnn_accuracy_filled": mnist_cnn_accuracy(filled, y),
        "mnist_cnn_accuracy_masked_unfilled": mnist_cnn_accuracy(masked, y),
        "mnist_cnn_accuracy_intact": mnist_cnn_accuracy(x_u8, y),
        "class_chosen_correct": float((result.labels == y).float().mean())
        if result.labels is not None else None,
        "hidden_mse": float(result.hidden_mse.mean()), "fit_mse": float(result.fit_mse.mean()),
    }
    np.savez_compressed(work / "inpainted.npz", images=filled.permute(0, 2, 3, 1).numpy(),
                        labels=y.numpy(), masked=masked.permute(0, 2, 3, 1).numpy())
    grid = torch.stack([x_u8[:16], masked[:16], filled[:16]], 1).flatten(0, 1)
    save_grid(grid, work / "inpainted_grid.png", nrow=12)  # (intact, masked, filled) x 16
    (work / "inpaint_report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    markdown = report_markdown(report)
    key = common.changed(parser, args, {"train_steps", "n", "restarts", "steps",
                                        "prior_weight", "realism_weight", "seed"})
    common.write_results("inpaint_heldout", TITLE, report, markdown, args=args, section=key,
                         heading=key and f"`{key}`",
                         headline=f"{100 * report['mnist_cnn_accuracy_filled']:.1f} % of filled "
                         "digits labelled as the original")


if __name__ == "__main__":
    main()
