"""Wall time for a preset to reach FID targets (gankit's mnist-cnn FID) on mnist5k.

    python bench/time_to_quality.py [--preset default] [--minutes 5] [--eval-every 500]
                                    [--targets 20,10,5,2,1] [--device cpu|cuda]
                                    [--threads N] [--out bench_ttq]

Trains the preset through the toolkit (``gankit.train``) with ``--eval-every``, then reads
the run's log: FID against seconds of training (evaluation time included, as a user waits
for it). Prints the machine (CPU model, ISA extensions, threads, PyTorch build), the first
time each target was reached, and writes ``fid_vs_seconds.png`` and
``docs/results/time_to_quality-<kind>.md`` (``--no-write``: printed only). ``--threads`` 0
(the default) is gankit's automatic count.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import common

TITLE = "Time to quality: wall time for a preset to reach FID targets on mnist5k"


def fid_curve(run_dir: Path) -> list[tuple[float, int, float]]:
    """(seconds, step, fid) for every evaluation in the run's log."""
    from gankit.training.run_log import read_log

    records = read_log(run_dir / "log.jsonl")
    seconds_at = {r["step"]: r["seconds"] for r in records if "loss_d" in r}
    return [(seconds_at[r["step"]], r["step"], r["fid"]) for r in records
            if "fid" in r and r["step"] in seconds_at]


def first_reached(curve, target: float):
    return next(((s, step) for s, step, fid in curve if fid <= target), None)


def plot(curve, out_png: Path, preset: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([c[0] for c in curve], [c[2] for c in curve], marker="o")
    ax.set_yscale("log")
    ax.set_xlabel("seconds of training")
    ax.set_ylabel("FID (mnist-cnn, 2,000 samples)")
    ax.set_title(f"{preset} on mnist5k")
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


def main() -> int:
    parser = common.parser(__doc__)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--device", default="auto", help="training device (auto, cpu, cuda)")
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--targets", default="20,10,5,2,1")
    parser.add_argument("--threads", type=int, default=0, help="training threads (0: automatic)")
    parser.add_argument("--out", default="bench_ttq")
    args = parser.parse_args()
    import gankit

    print(common.machine_line(args.threads or "automatic"))
    out = Path(args.out)
    shutil.rmtree(out / "run", ignore_errors=True)
    run_dir = gankit.train(args.preset, out=out / "run", minutes=args.minutes, steps=0,
                           train__eval_every=args.eval_every, train__log_every=args.eval_every,
                           train__device=args.device, train__threads=args.threads)
    curve = fid_curve(run_dir)
    plot(curve, out / "fid_vs_seconds.png", args.preset)
    reached = {}
    for target in (float(t) for t in args.targets.split(",")):
        reached[target] = first_reached(curve, target)
    rows = [[f"≤ {target:g}", f"{hit[0]:.0f}" if hit else "–", f"{hit[1]:,}" if hit else "–"]
            for target, hit in reached.items()]
    steps = common.training_records(run_dir)[-1]["step"]
    seconds, step, fid = curve[-1]
    markdown = (f"`{args.preset}` for {args.minutes:g} minutes with an evaluation every "
                f"{args.eval_every} steps (FID of 2,000 samples in mnist-cnn's space, evaluation "
                "time included):\n\n"
                + common.table(["FID target", "first reached after (s)", "at step"], rows)
                + f"\n\nLast evaluation: FID {fid:.2f} at step {step:,} ({seconds:.0f} s) of "
                f"the {steps:,} steps of the run.")
    print(markdown)
    print(f"FID against seconds: {out / 'fid_vs_seconds.png'}")
    key = common.changed(parser, args, {"preset", "minutes", "device", "eval_every", "threads"})
    common.write_results("time_to_quality", TITLE, {"curve": curve, "reached": reached,
                                                    "steps": steps}, markdown, args=args,
                         section=key, heading=key and f"`{key}`",
                         threads=args.threads or "automatic",
                         headline=f"`{args.preset}`: FID {fid:.2f} after {args.minutes:g} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
