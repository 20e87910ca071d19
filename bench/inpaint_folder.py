"""Folder inpainting: one ``gankit inpaint --input DIR`` process on 500 digits against 500
single-image ``gankit inpaint`` processes (timed on 50, extrapolated), and whether both give
the same pixels for the same seed.

The run is the default preset trained on the 4,500 digits outside the held-out 500, as in
``bench/inpaint_heldout.py`` (the same ``--work`` folder reuses its run); the held-out digits
are written as PNGs, their lower halves hidden (``--box 0,14,28,14``) and filled with
``gankit inpaint``'s default search, once as a folder and one process per image for the first
``--singles`` of them. Reported: the folder's seconds, a single process's mean seconds, the
extrapolated ratio for all the digits (target: at least 5x) and how many single outputs equal
the folder's pixel for pixel (target: all).

    python bench/inpaint_folder.py --work /tmp/gankit-inpaint-bench      # ~15 + ~5 minutes
    python bench/inpaint_folder.py --digits 20 --singles 5 --train-steps 300 --search-steps 20 --no-write

The figures go to ``docs/results/inpaint_folder-<kind>.md`` (``--no-write``: printed only).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

import common
from gankit.data.embedded import load_mnist5k
from gankit.evaluation.metrics.extractors import split_mnist5k
from inpaint_heldout import default_run_in

TITLE = "Inpainting a folder: one process against one process per image"
TARGET = 5.0


def write_digits(folder: Path, count: int) -> list[str]:
    """The first ``count`` held-out digits as ``folder/<row>.png``; their file names."""
    from PIL import Image

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    data = load_mnist5k()
    _, held_out = split_mnist5k(5000, 500, seed=0)
    names = []
    for row in held_out[:count].tolist():
        names.append(f"{row:05d}.png")
        Image.fromarray(data.samples[row, 0].numpy()).save(folder / names[-1])
    return names


def same_pixels(a: Path, b: Path) -> bool:
    from PIL import Image

    return np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))


def time_processes(args, work: Path, run_dir: Path, names: list[str]
                   ) -> tuple[common.Ran, list[float], int]:
    """(the folder's process, each single process's seconds, how many single outputs equal
    the folder's): one process for the folder, then one per image for the first
    ``--singles``."""
    search = ["--box", "0,14,28,14", "--seed", str(args.seed), "--no-progress"]
    if args.search_steps:
        search += ["--search-steps", str(args.search_steps)]
    shutil.rmtree(work / "folder-out", ignore_errors=True)
    folder_run = common.run(common.gankit("inpaint", run_dir, "--input", work / "folder-in",
                                          "--out", work / "folder-out", *search))
    singles, identical = [], 0
    for name in names[:args.singles]:
        out = work / "single-out" / name
        singles.append(common.run(common.gankit("inpaint", run_dir, "--image",
                                                work / "folder-in" / name, "--out", out,
                                                *search)).seconds)
        identical += same_pixels(out, work / "folder-out" / name)
        print(f"{len(singles)}/{args.singles}: {singles[-1]:.1f} s", flush=True)
    return folder_run, singles, identical


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--work", default="/tmp/gankit-inpaint-bench", help="folder for data+run "
                        "(the default is bench/inpaint_heldout.py's, whose run is reused)")
    parser.add_argument("--train-steps", type=int, default=5000)
    parser.add_argument("--digits", type=int, default=500, help="digits in the folder")
    parser.add_argument("--singles", type=int, default=50, help="single-image processes timed")
    parser.add_argument("--search-steps", type=int, default=None,
                        help="gankit inpaint --search-steps (default: its own)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(common.machine_line())
    work = Path(args.work)
    run_dir = default_run_in(work, args.train_steps)

    names = write_digits(work / "folder-in", args.digits)
    folder_run, singles, identical = time_processes(args, work, run_dir, names)
    single = sum(singles) / len(singles)
    ratio = single * len(names) / folder_run.seconds
    report = {"digits": len(names), "singles": len(singles),
              "folder_seconds": round(folder_run.seconds, 1),
              "single_seconds_mean": round(single, 2),
              "singles_extrapolated_seconds": round(single * len(names), 1),
              "ratio": round(ratio, 2), "identical": identical,
              "folder_peak_rss_mib": round(folder_run.peak_rss_mib),
              "search_steps": args.search_steps or "default"}
    markdown = (f"{len(names):,} held-out digits, lower half hidden, `gankit inpaint`'s "
                f"search ({'its default' if not args.search_steps else args.search_steps}"
                f" steps), seed {args.seed}.\n\n"
                + common.table(["", "seconds"], [
                    ["one `gankit inpaint --input DIR` process", f"{folder_run.seconds:.1f}"],
                    [f"one `gankit inpaint --image` process (mean of {len(singles)})",
                     f"{single:.2f}"],
                    [f"{len(names):,} such processes (extrapolated)", f"{single * len(names):.0f}"],
                ])
                + f"\n\nThe folder is **{ratio:.1f}×** faster (target ≥ {TARGET:g}×); "
                f"{identical} of {len(singles)} single outputs equal the folder's pixel for "
                f"pixel (target: all).")
    print("\n" + markdown)
    key = common.changed(parser, args, {"train_steps", "digits", "singles", "search_steps",
                                        "seed"})
    common.write_results("inpaint_folder", TITLE, report, markdown, args=args, section=key,
                         heading=key and f"`{key}`",
                         headline=f"{ratio:.1f}× faster as one process; {identical}/"
                         f"{len(singles)} outputs identical")


if __name__ == "__main__":
    main()
