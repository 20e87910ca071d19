"""What made the default preset: its variants on the embedded digits, scored by the independent judge.

  python bench/default_variants.py                 # every variant, seed 0 (about 30 min on 2 cores)
  python bench/default_variants.py --only plain ema10
  python bench/default_variants.py --score-only    # score the runs already in --out again
  python bench/default_variants.py --keep-trained  # go on after an interruption

Each run is ``gankit train`` in a subprocess (a preset with a few settings changed, a fixed
step count, one seed); some rows are a run's earlier checkpoint (``--keep 10`` keeps
them) or the same run sampled differently (truncation), so that rows which differ only in
length or sampling share one training trajectory. Every row draws 5,000 digits with
``gankit.sample`` (the EMA generator where the run keeps one) and is scored by the
independent classifier of ``tools/independent.py`` — a network gankit never uses
otherwise, so no setting here was chosen by the score it is judged with: FID and recall
(k = 5) of 2,500 samples against the reference half of mnist5k, and the smallest and
largest share of a predicted class among the 5,000. The judge's score of the other, real
half is printed first: the floor a perfect generator would reach.

The last row is the default preset exactly as shipped (12,000 steps capped at 5 minutes),
so its step count depends on the machine's speed; the script prints it, and how often the
judge agrees with the class asked for when that run draws 500 digits of each class.
The table goes to ``docs/results/default_variants-<kind>.md`` (``--no-write``: printed only).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import common
import gankit
from tools.independent import Judge, describe, predict

SAMPLES = 5000
SEED = 0
TITLE = "The default preset's variants on the embedded digits, scored by the independent judge"


@dataclass(frozen=True)
class Run:
    """One training run: a preset, the settings changed, and its length."""

    preset: str
    settings: tuple[str, ...] = ()
    steps: int = 0  # 0: the preset's own budget

    def flags(self) -> list[str]:
        flags = [flag for setting in self.settings for flag in ("--set", setting)]
        if self.steps:  # a fixed length: no time cap
            flags += ["--steps", str(self.steps), "--set", "train.minutes=0", "--set",
                      "train.epochs=0"]
        return flags + ["--keep", "10"]


@dataclass(frozen=True)
class Row:
    """One table row: a run, the checkpoint step it is sampled at (0: the final one), and
    the truncation psi of its samples."""

    label: str
    run: str
    at_step: int = 0
    truncation: float = 1.0


RUNS = {
    "plain": Run("dcgan", steps=3900),
    "ema10": Run("dcgan", ("train.ema_kimg=10",), steps=5000),
    "ema40": Run("dcgan", ("train.ema_kimg=40",), steps=2000),
    "bn-d": Run("dcgan", ("model.d_norm=batch",), steps=2000),
    "conditional": Run("default", steps=5000),
    "batch16": Run("default", ("train.batch_size=16",), steps=4000),
    "shipped": Run("default"),
}
ROWS = [
    Row("plain DCGAN (`dcgan` preset: unconditional, batch 64, no EMA), 3,900 steps", "plain"),
    Row("+ EMA (half-life 10k images), 4,000 steps", "ema10", at_step=4000),
    Row("+ EMA, 5,000 steps", "ema10"),
    Row("+ EMA half-life 40k images, 2,000 steps", "ema40"),
    Row("BatchNorm in D (Radford et al.; `model.d_norm=batch`), 2,000 steps", "bn-d"),
    Row("truncation ψ = 0.7 at sampling (the 5,000-step EMA run)", "ema10", truncation=0.7),
    Row("class-conditional, batch 32, EMA 5k (`default`), 2,000 steps", "conditional",
        at_step=2000),
    Row("class-conditional, batch 32, EMA 5k (`default`), 5,000 steps", "conditional"),
    Row("class-conditional, batch 16, EMA 5k, 4,000 steps", "batch16"),
    Row("`default` as shipped (12,000 steps capped at 5 minutes)", "shipped"),
]


def checkpoint(run_dir: Path, at_step: int) -> Path:
    """The run directory (its final state) or its checkpoint file of step ``at_step``."""
    if not at_step:
        return run_dir
    path = run_dir / "checkpoints" / f"step_{at_step:07d}.pt"
    if not path.is_file():
        raise SystemExit(f"{run_dir.name}: no checkpoint of step {at_step} ({path})")
    return path


def run_facts(run_dir: Path) -> dict:
    """Steps trained and images seen, from the run's log; wall seconds from the bench."""
    lines = (run_dir / "log.jsonl").read_text().splitlines()
    last = [record for record in map(json.loads, lines) if "kimg" in record][-1]
    seconds = run_dir / "bench_seconds.json"
    return {"steps": last["step"], "kimg": last["kimg"],
            "seconds": json.loads(seconds.read_text())["seconds"] if seconds.is_file()
            else float("nan")}


def images_seen(run_dir: Path, at_step: int) -> str:
    facts = run_facts(run_dir)
    kimg = facts["kimg"] * (at_step / facts["steps"] if at_step else 1)
    return f"{kimg:.0f}k"


def class_agreement(run_dir: Path, judge: Judge, per_class: int = 500) -> list[float]:
    """For each class k, the share of ``per_class`` samples drawn for k (``--class k``) that
    the judge calls k."""
    shares = []
    for k in range(10):
        images = gankit.sample(run_dir, n=per_class, seed=SEED, classes=[k])
        shares.append(float((predict(judge.net, images) == k).float().mean()))
    return shares


def train_variant(name: str, run_dir: Path) -> float:
    """``gankit train`` of one variant (seed 0) into a fresh ``run_dir``; wall seconds."""
    run = RUNS[name]
    return common.train(["--preset", run.preset, "--seed", str(SEED), *run.flags()],
                        run_dir).seconds


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--only", nargs="+", choices=list(RUNS), default=list(RUNS),
                        help="train and score only these runs")
    parser.add_argument("--out", type=Path,
                        default=common.ROOT / "runs" / "bench-default-variants")
    parser.add_argument("--score-only", action="store_true",
                        help="score the runs already in --out again (no training)")
    parser.add_argument("--keep-trained", action="store_true",
                        help="train only the runs that did not finish before (an interrupted "
                        "bench); score all")
    args = parser.parse_args()

    print(common.machine_line())
    judge = Judge()
    real = judge.real()
    print(f"independent classifier: held-out accuracy {judge.accuracy:.4f}")
    print(describe("real digits (the other half of mnist5k)", real), flush=True)
    for name in args.only:
        run_dir = args.out / name
        if args.score_only:
            if not (run_dir / "config.json").is_file():
                raise SystemExit(f"--score-only: no run in {run_dir}; train it first")
            continue
        if args.keep_trained and (run_dir / "bench_seconds.json").is_file():
            continue
        started = time.monotonic()
        seconds = train_variant(name, run_dir)
        (run_dir / "bench_seconds.json").write_text(json.dumps({"seconds": seconds}))
        facts = run_facts(run_dir)
        print(f"trained {name}: {facts['steps']} steps in {seconds:.0f} s "
              f"({time.monotonic() - started:.0f} s with the bench's overhead)", flush=True)

    rows, scored = [], {}
    for row in ROWS:
        if row.run not in args.only:
            continue
        run_dir = args.out / row.run
        images = gankit.sample(checkpoint(run_dir, row.at_step), n=SAMPLES, seed=SEED,
                               truncation=row.truncation)
        scores = judge.score(images)
        shares = scores["class_shares"]
        scored[row.label] = {"images_seen": images_seen(run_dir, row.at_step),
                             "fid": scores["fid"], "recall": scores["recall"],
                             "share_min": 100 * shares.min(), "share_max": 100 * shares.max()}
        rows.append([row.label, images_seen(run_dir, row.at_step), f"{scores['fid']:.1f}",
                     f"{scores['recall']:.3f}",
                     f"{100 * shares.min():.1f}–{100 * shares.max():.1f}"])
        print(common.table([""] * 5, [rows[-1]]).splitlines()[-1], flush=True)
    lines = [f"Seed {SEED}; {SAMPLES:,} samples per row (FID and recall of the first 2,500). "
             f"Real digits (the other half of mnist5k) score FID {real['fid']:.2f} and recall "
             f"{real['recall']:.3f}: the floor. The judge's held-out accuracy: "
             f"{judge.accuracy:.4f}.", "",
             common.table(["variant", "images seen", "independent FID", "recall",
                           "class shares % (min–max)"], rows)]
    figures = {"seed": SEED, "samples": SAMPLES, "judge_accuracy": judge.accuracy,
               "real": {"fid": real["fid"], "recall": real["recall"]}, "rows": scored}
    if "shipped" in args.only:
        facts = run_facts(args.out / "shipped")
        agree = [100 * share for share in class_agreement(args.out / "shipped", judge)]
        figures["shipped"] = {**facts, "class_agreement_percent": agree}
        lines += ["", f"`default` as shipped trained {facts['steps']:,} steps in "
                  f"{facts['seconds']:.0f} s (wall time of `gankit train`, start-up included). "
                  f"Asked for one class k (500 samples each), the judge called them k: "
                  f"{min(agree):.1f}–{max(agree):.1f} % (mean {sum(agree) / 10:.1f} %)."]
    markdown = "\n".join(lines)
    print(markdown)
    shipped = scored.get(ROWS[-1].label)
    common.write_results("default_variants", TITLE, figures, markdown, args=args,
                         section=common.changed(parser, args, {"only"}),
                         headline=f"`default` as shipped: independent FID {shipped['fid']:.1f}"
                         if shipped else "")


if __name__ == "__main__":
    main()
