"""The tutorial's own networks, trained by gankit's recipes and scored two ways, over seeds.

  python bench/seed_recipes.py                  # seed-mlp vs seed-mlp-stable, timed, seeds 3,4,5
  python bench/seed_recipes.py --screen         # every variant tried, seeds 0,1,2, 2 at a time
  python bench/seed_recipes.py --presets seed-tutorial seed-tutorial-stable --parallel 2
  python bench/seed_recipes.py --presets seed-mlp-stable --seeds 0 --set loss.r1_gamma=5

``--presets`` takes preset names and the variant names of :data:`VARIANTS` (a preset with
settings changed). The default seeds 3, 4, 5 were never used to choose a setting: the
variants were compared on seeds 0, 1, 2 (``--screen``). ``--parallel 2`` trains two runs at
a time on one thread each (the screen's setting: the quality is what it measures, so its
wall times are not speed figures). ``--score-only`` scores the runs already trained (same
flags) again, with the wall times their training recorded.

Each run is ``gankit train --preset P --seed S`` in a subprocess (the preset's own length:
100 epochs for the §4 presets, 200 for §6), timed from start to exit. Its EMA generator
(where the preset keeps one) then draws 5,000 digits with ``gankit.sample``, scored

* by gankit's own tools: ``gankit.evaluate`` with mnist-cnn (FID against the 5,000
  training digits, classes covered);
* by the independent classifier of ``tools/independent.py`` (another architecture and
  recipe, rebuilt from a fixed seed): FID and recall (k = 5) of 2,500 samples against a
  reference half of mnist5k, and the smallest and largest share of a predicted class.

The independent judge's score of real digits (the other half of mnist5k) is printed first:
it is what a perfect generator would get. Figures are mean ± std over the seeds, and the
wall-time ratio of each preset to the first one given. Runs go one after another, each
with the machine's threads: do not run anything else meanwhile when the times matter.
The table goes to ``docs/results/seed_recipes-<kind>.md`` (``--no-write``: printed only).
"""

from __future__ import annotations

import json
import statistics
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import common
import gankit
from gankit.evaluation.evaluate import evaluate
from tools.independent import Judge, describe

SAMPLES = 5000
TITLE = "The tutorial's networks trained by gankit's recipes, over seeds"

# Variants of the recipes: name -> (preset, settings changed). "before" is seed-mlp-stable as
# it was before issue 18 (one learning rate, 2e-4, for both networks).
BEFORE = ("seed-mlp-stable", ["optim.lr_g=2e-4", "optim.lr_d=2e-4"])
VARIANTS = {
    "stable-before": BEFORE,
    "stable-before+decay": (BEFORE[0], BEFORE[1] + ["optim.lr_decay=0.5"]),
    "stable-ttur-4x": ("seed-mlp-stable", ["optim.lr_d=4e-4"]),
    "stable+dropout": ("seed-mlp-stable", ["model.d_dropout=0.3"]),
    "stable-r1-1": ("seed-mlp-stable", ["loss.r1_gamma=1"]),
}
SCREEN = ["seed-mlp-stable", "stable-before", "stable-before+decay",
          "stable-ttur-4x", "stable+dropout", "stable-r1-1", "seed-tutorial",
          "seed-tutorial-stable"]


def train(name: str, seed: int, out: Path, extra: list[str]) -> float:
    """``gankit train`` of a preset or variant in a subprocess; its wall time in seconds, also
    kept in ``out/bench_seconds.json`` for ``--score-only``."""
    preset, settings = VARIANTS.get(name, (name, []))
    sets = [flag for setting in settings for flag in ("--set", setting)]
    seconds = common.train(["--preset", preset, "--seed", str(seed), *sets, *extra], out).seconds
    (out / "bench_seconds.json").write_text(json.dumps({"seconds": seconds}))
    return seconds


def trained_seconds(out: Path) -> float:
    """The wall time :func:`train` recorded for the run in ``out`` (nan where it recorded
    none); a missing run is an error."""
    if not (out / "config.json").is_file():
        raise SystemExit(f"--score-only: no run in {out}; train it first")
    path = out / "bench_seconds.json"
    return json.loads(path.read_text())["seconds"] if path.is_file() else float("nan")


def score(run_dir: Path, judge: Judge) -> dict:
    """One run's scores: mnist-cnn FID and classes, independent FID, recall, class shares."""
    own = evaluate(run_dir, n=SAMPLES, metrics="fid,modes")["scores"]
    independent = judge.score(gankit.sample(run_dir, n=SAMPLES, seed=0))
    shares = independent["class_shares"]
    return {"cnn_fid": own["fid"], "classes": own["modes"],
            "fid": independent["fid"], "recall": independent["recall"],
            "share_min": 100 * shares.min(), "share_max": 100 * shares.max()}


def report(rows: dict[str, list[dict]], args) -> str:
    """The table of the presets' means ± std over the seeds (and what each variant is)."""
    first = statistics.mean(r["seconds"] for r in rows[args.presets[0]])
    table = []
    for preset, runs in rows.items():
        column = {key: [r[key] for r in runs] for key in runs[0]}
        table.append([f"`{preset}`", f"{common.mean_std(column['seconds'], 0)} s",
                      f"{statistics.mean(column['seconds']) / first:.2f}×",
                      common.mean_std(column["cnn_fid"], 2),
                      f"{min(column['classes'])}–{max(column['classes'])}/10",
                      common.mean_std(column["fid"], 2), common.mean_std(column["recall"], 3),
                      f"{min(column['share_min']):.1f}–{max(column['share_max']):.1f}"])
    lines = [f"{common.plural(len(args.seeds), 'seed')}: {', '.join(map(str, args.seeds))}"
             + (f", `--set {' '.join(args.set)}`" if args.set else "")
             + (f"; {args.parallel} runs at a time on one thread each: wall times are not speed "
                "figures" if args.parallel > 1 else "") + ".", "",
             common.table(["preset or variant", "wall time", "vs first", "mnist-cnn FID",
                           "classes", "independent FID", "recall", "class shares % (min–max)"],
                          table)]
    variants = [f"`{preset}`: `--preset {VARIANTS[preset][0]} "
                + " ".join(f"--set {s}" for s in VARIANTS[preset][1]) + "`"
                for preset in rows if preset in VARIANTS]
    if variants:
        lines += ["", "Variants: " + "; ".join(variants) + "."]
    return "\n".join(lines)


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--presets", nargs="+", default=["seed-mlp", "seed-mlp-stable"],
                        help="presets or variant names: " + ", ".join(VARIANTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5])
    parser.add_argument("--screen", action="store_true",
                        help="every variant tried, seeds 0 1 2, --parallel 2")
    parser.add_argument("--parallel", type=int, default=1,
                        help="runs at a time, each on one thread (then not a speed figure)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting passed to every training run (repeatable)")
    parser.add_argument("--out", type=Path, default=common.ROOT / "runs" / "bench-seed-recipes")
    parser.add_argument("--score-only", action="store_true",
                        help="score the runs already in --out again (no training)")
    args = parser.parse_args()
    key = common.changed(parser, args, {"presets", "seeds", "screen", "parallel", "set"})
    if args.screen:
        args.presets, args.seeds, args.parallel = SCREEN, [0, 1, 2], 2
    if args.parallel < 1:
        parser.error("--parallel must be >= 1")
    extra = [flag for setting in args.set for flag in ("--set", setting)]
    if args.parallel > 1:
        extra += ["--set", "train.threads=1"]

    print(common.machine_line())
    judge = Judge()
    real = judge.real()
    print(f"independent classifier: held-out accuracy {judge.accuracy:.4f}")
    print(describe("real digits (the other half of mnist5k)", real), flush=True)
    jobs = [(preset, seed) for preset in args.presets for seed in args.seeds]
    run_dir = {job: args.out / f"{job[0]}-seed{job[1]}" for job in jobs}
    if args.score_only:
        seconds = {job: trained_seconds(run_dir[job]) for job in jobs}
    else:
        with ThreadPoolExecutor(args.parallel) as pool:  # threads only wait on subprocesses
            seconds = dict(zip(jobs, pool.map(lambda job: train(*job, run_dir[job], extra),
                                              jobs)))
    rows = {preset: [] for preset in args.presets}
    for preset, seed in jobs:
        result = {"seconds": seconds[preset, seed], **score(run_dir[preset, seed], judge)}
        rows[preset].append(result)
        print(f"{preset} seed {seed}: {result['seconds']:.0f} s, mnist-cnn FID "
              f"{result['cnn_fid']:.2f} ({result['classes']}/10 classes); independent FID "
              f"{result['fid']:.2f}, recall {result['recall']:.3f}, class shares "
              f"{result['share_min']:.1f}-{result['share_max']:.1f} %", flush=True)

    markdown = (f"The independent judge (held-out accuracy {judge.accuracy:.3f}) scores real "
                f"digits (the other half of mnist5k) at FID {real['fid']:.2f}, recall "
                f"{real['recall']:.3f}: what a perfect generator would get.\n\n"
                + report(rows, args))
    print("\n" + markdown)
    heading = {"--screen": "The variants on seeds 0, 1, 2 (`--screen`)",
               "": "The recipes on seeds 3, 4, 5, never used to choose a setting"
               }.get(key, f"`{key}`")
    common.write_results("seed_recipes", TITLE, {"seeds": args.seeds, "set": args.set,
                                                 "parallel": args.parallel, "runs": rows,
                                                 "judge_accuracy": judge.accuracy,
                                                 "real": {"fid": real["fid"],
                                                          "recall": real["recall"]}},
                         markdown, args=args, section=key, heading=heading,
                         threads=1 if args.parallel > 1 else None,
                         headline="seed-mlp vs seed-mlp-stable: mnist-cnn and independent FID")


if __name__ == "__main__":
    main()
