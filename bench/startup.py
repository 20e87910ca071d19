"""Start-up times of the gankit command (issue 17): the median of ``--repeats`` (5) runs of

    gankit --help
    gankit list presets
    gankit train --preset seed-mlp --steps 1 --out TMP --no-progress
    python -c "import torch"

each a fresh process (``python -m gankit`` from this checkout, so that its code is the one
timed), printed with the train-minus-``import torch`` difference, the CPU model and
whether it has AVX-512F. The issue's targets: ``--help`` and ``list`` under 0.5 s,
``train --steps 1`` at most 2 s more than ``import torch``.

The training runs use a calibration cache of their own (``GANKIT_CACHE_DIR`` in a
temporary folder): the first run measures the fastest step path on this machine (about
3 s, once per machine and network shape; ``gankit.speed.calibrate``) and the others
read the cache, as a user's later runs do. The first run's time is printed beside the
median. A benchmark, not a test: the figures depend on what else the machine is doing.
The table goes to ``docs/results/startup-<kind>.md`` (``--no-write``: printed only).

    python bench/startup.py
    python bench/startup.py --repeats 3
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

import common

TITLE = "Start-up times of the gankit command"
TRAIN = "gankit train --preset seed-mlp --steps 1"
TORCH = 'python -c "import torch"'


def report(times: dict[str, list[float]], repeats: int) -> tuple[dict, str]:
    """(figures, Markdown): each command's median and range, train minus import torch, the
    first (calibrating) train run, and the verdicts on issue 17's targets."""
    medians = {label: statistics.median(values) for label, values in times.items()}
    rows = [[f"`{label}`", f"{medians[label]:.2f}", f"{min(v):.2f}–{max(v):.2f}"]
            for label, v in times.items()]
    beyond = medians[TRAIN] - medians[TORCH]
    rows.append(["train --steps 1 minus import torch", f"**{beyond:.2f}**", "target: ≤ 2 s"])
    rows.append(["first train run (calibrates into an empty cache)",
                 f"{times[TRAIN][0]:.2f}", "–"])
    verdicts = "; ".join(f"`{label}` {'meets' if medians[label] < 0.5 else 'misses'} the "
                         "0.5 s target" for label in ("gankit --help", "gankit list presets"))
    markdown = (f"Median of {repeats} fresh processes each (seconds):\n\n"
                + common.table(["command", "median (s)", "range (s)"], rows)
                + f"\n\n{verdicts}; train --steps 1 "
                f"{'meets' if beyond <= 2 else 'misses'} the 2 s beyond import torch.")
    figures = {"repeats": repeats, "seconds": times, "medians": medians,
               "train_minus_import_torch": beyond, "first_train_run": times[TRAIN][0]}
    return figures, markdown


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--repeats", type=int, default=5, help="runs per command (median)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")

    with tempfile.TemporaryDirectory(prefix="gankit-startup-") as tmp:
        env = common.child_env(GANKIT_CACHE_DIR=str(Path(tmp) / "cache"))
        runs = iter(range(10 ** 6))
        commands = {
            "gankit --help": lambda: common.gankit("--help"),
            "gankit list presets": lambda: common.gankit("list", "presets"),
            TRAIN: lambda: common.gankit("train", "--preset", "seed-mlp", "--steps", "1",
                                         "--no-progress", "--out", Path(tmp) / f"run{next(runs)}"),
            TORCH: lambda: [sys.executable, "-c", "import torch"],
        }
        times = {name: [common.run(make(), env=env).seconds for _ in range(args.repeats)]
                 for name, make in commands.items()}

    print(common.machine_line("each process's default"))
    figures, markdown = report(times, args.repeats)
    print(markdown)
    help_s = figures["medians"]["gankit --help"]
    common.write_results("startup", TITLE, figures, markdown, args=args,
                         threads="each process's default",
                         headline=f"train --steps 1: {figures['train_minus_import_torch']:.2f} s "
                         f"beyond import torch; --help {help_s:.2f} s")


if __name__ == "__main__":
    main()
