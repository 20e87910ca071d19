"""gankit against another checkout of gankit, side by side: training images/s of the same
presets, alternating between the two source trees round by round.

  git worktree add ../before <commit>          # e.g. the commit before a refactor
  python bench/versus.py --other ../before     # seed-mlp and the default preset, 5 rounds

Each run is a fresh process (``gankit.train(preset, steps=N, threads=T)``, the Python API
that every gankit version has) whose ``import gankit`` is the tree under test; its rate is
read from its own ``log.jsonl`` after the first log window, so start-up is not counted.
The two sides alternate which goes first in each round; the ratio is reported per round
and as the median, and written to ``docs/results/versus-<kind>.md`` (``--no-write``:
printed only). A benchmark, not a test: this machine is shared and noisy.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import common

TITLE = "gankit against another checkout of gankit: training images/s side by side"

# runs in the child process, whose sys.path starts with the tree under test
SNIPPET = """
import json, sys, gankit
preset, steps, threads, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
gankit.train(preset, out=out, steps=steps, epochs=0, minutes=0, train__threads=threads,
             train__device="cpu", progress=False)
print(json.dumps({"file": gankit.__file__}))
"""


def one_run(tree: Path, preset: str, steps: int, threads: int) -> float:
    """images/s of ``preset`` trained for ``steps`` steps with the gankit in ``tree``."""
    with tempfile.TemporaryDirectory(prefix="gankit-versus-") as tmp:
        out = Path(tmp) / "run"
        env = {**os.environ, "PYTHONPATH": str(tree)}
        done = common.run([sys.executable, "-c", SNIPPET, preset, str(steps), str(threads),
                           str(out)], env=env, cwd=tmp)
        imported = json.loads(done.stdout.strip().splitlines()[-1])["file"]
        if not Path(imported).resolve().is_relative_to(tree.resolve()):
            raise SystemExit(f"{tree}: the child imported {imported}, not this tree")
        return common.images_per_second(common.training_records(out))


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--other", required=True, type=Path, help="the other gankit checkout")
    parser.add_argument("--presets", default="seed-mlp,default")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", default="seed-mlp=400,default=300",
                        help="steps per run, per preset (PRESET=N,...; others 300)")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads, both sides")
    args = parser.parse_args()
    steps = {k: int(v) for k, v in (p.split("=") for p in args.steps.split(",") if p)}
    trees = {"this": common.ROOT, "other": args.other.resolve()}
    other = common.run(["git", "-C", str(trees["other"]), "rev-parse", "--short", "HEAD"],
                       check=False).stdout.strip() or str(trees["other"])
    print(f"{common.machine_line(args.threads)}; this={common.ROOT}, other={trees['other']}; "
          f"{args.rounds} rounds", flush=True)
    rows, figures = [], {"other": other, "rounds": args.rounds, "presets": {}}
    for preset in args.presets.split(","):
        n = steps.get(preset, 300)
        rates: dict[str, list[float]] = {"this": [], "other": []}
        for r in range(args.rounds):
            order = ["this", "other"] if r % 2 == 0 else ["other", "this"]
            for side in order:
                rates[side].append(one_run(trees[side], preset, n, args.threads))
            print(f"  {preset} round {r + 1}: this {rates['this'][-1]:.0f} img/s, other "
                  f"{rates['other'][-1]:.0f} img/s, ratio "
                  f"{rates['this'][-1] / rates['other'][-1]:.3f}", flush=True)
        ratios = [a / b for a, b in zip(rates["this"], rates["other"])]
        figures["presets"][preset] = {"steps": n, **rates, "ratios": ratios}
        rows.append([f"`{preset}` ({n} steps)", f"{statistics.median(rates['this']):,.0f}",
                     f"{statistics.median(rates['other']):,.0f}",
                     f"{statistics.median(ratios):.3f} ({min(ratios):.3f}–{max(ratios):.3f})"])
    markdown = (f"This checkout against `{other}`, {args.threads} threads each, median of "
                f"{args.rounds} alternating rounds (images/s after the first log window):\n\n"
                + common.table(["preset", "this (img/s)", "other (img/s)",
                                "ratio (min–max)"], rows))
    print(markdown)
    common.write_results("versus", TITLE, figures, markdown, args=args, threads=args.threads,
                         headline=f"training images/s against `{other}`")


if __name__ == "__main__":
    main()
