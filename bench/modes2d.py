"""Mode-collapse benchmark on 2-D Gaussian mixtures (VEEGAN / PacGAN setup), with gankit.

Ring of 8 (radius 2, sigma 0.02) and grid of 25 (spacing 2, sigma 0.05); MLP G/D; 10 seeds
each. Every run is a real ``gankit.train`` run (preset ``toy-pacgan`` by default) followed by
``gankit.sample`` of 2,500 points, scored by modes covered (a mode holding >= 1/5 of an even
share of the high-quality samples), the high-quality share (within 3 sigma of a mode) and
the reverse KL of the mode histogram to the uniform one.

Published anchors (Lin et al. 2018, Table 1; 2,500 samples): GAN 6.3/8 and 17.3/25 modes;
PacGAN 7.9/8 (95.6 % high quality) and 24.8/25 (93.6 %).

    .venv/bin/python bench/modes2d.py                       # both sets, 10 seeds each
    .venv/bin/python bench/modes2d.py --sets ring8 --seeds 3 --set model.pack=1 --no-write

Each set's table goes to its section of ``docs/results/modes2d-<kind>.md`` (``--no-write``:
printed only).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import common
import gankit
from gankit.data.pictures import save_scatter
from gankit.evaluation.points import point_scores

TITLE = "Mode collapse on 2-D Gaussian mixtures (VEEGAN / PacGAN setup)"

ANCHORS = {"ring8": "GAN 6.3/8; PacGAN 7.9/8, 95.6 % HQ",
           "grid25": "GAN 17.3/25; PacGAN 24.8/25, 93.6 % HQ"}


def _seed_list(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds like 3,4, not {text!r}") from None


def passes(r: dict) -> bool:
    """The target: every mode, >= 95 % high-quality samples, under 120 s."""
    return r["modes"] == r["num_modes"] and r["high_quality"] >= 0.95 and r["seconds"] < 120


def main() -> int:
    parser = common.parser(__doc__)
    parser.add_argument("--preset", default="toy-pacgan")
    parser.add_argument("--sets", default="ring8,grid25")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--seed-list", type=_seed_list, default=[], metavar="S,S,...",
                        help="run exactly these seeds (e.g. 3,4) instead of 0..seeds-1")
    parser.add_argument("--samples", type=int, default=2500)
    parser.add_argument("--out", default="bench/out/modes2d")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="config overrides, e.g. train.steps=2000")
    args = parser.parse_args()
    print(common.machine_line())
    overrides = {k.replace(".", "__", 1): v for k, _, v in
                 (item.partition("=") for item in args.overrides)}
    out = Path(args.out)
    results = []
    for name in args.sets.split(","):
        points_by_seed = []
        for seed in args.seed_list or range(args.seeds):
            run_dir = out / f"{name}_seed{seed}"
            shutil.rmtree(run_dir, ignore_errors=True)
            _, seconds = common.timed(gankit.train, args.preset, out=run_dir, data=name,
                                      seed=seed, **overrides)
            points = gankit.sample(run_dir, n=args.samples, seed=10_000 + seed)
            scores = point_scores(points.numpy(), name)
            results.append({"set": name, "seed": seed, "seconds": round(seconds, 1),
                            **{k: scores[k] for k in ("modes", "num_modes", "high_quality",
                                                       "reverse_kl")}})
            points_by_seed.append(points)
            r = results[-1]
            print(f"{name:7s} seed {seed}: {r['modes']:2d}/{r['num_modes']} modes, "
                  f"{r['high_quality']:6.1%} HQ, reverse KL {r['reverse_kl']:.3f}, "
                  f"{seconds:5.1f} s", flush=True)
        save_scatter(points_by_seed[0], out / f"{name}_seed0.png", name,
                     f"{args.preset}, {name}, seed 0")
        rows = [r for r in results if r["set"] == name]
        markdown = by_seed(name, rows, args.preset, args.samples)
        print(markdown)
        options = common.changed(parser, args, {"preset", "seeds", "seed_list", "samples",
                                                "overrides"})
        common.write_results("modes2d", TITLE, {"set": name, "preset": args.preset,
                                                "runs": rows}, markdown, args=args,
                             section=f"{name} {options}".strip(),
                             heading=name + (f" (`{options}`)" if options else ""),
                             headline="modes covered and high-quality share on ring8 and "
                             "grid25, 10 seeds each")
    table = summarise(results)
    print(table)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(table + "\n")
    ok = all(passes(r) for r in results)
    print("PASS" if ok else "FAIL", "(all modes, >= 95 % HQ, < 120 s on every seed)")
    return 0 if ok else 1


def by_seed(name: str, rows: list[dict], preset: str, samples: int) -> str:
    """One set's runs, a column per seed (modes, high-quality share), then their reverse
    KL, times and the verdict, in Markdown."""
    mean = lambda key: sum(r[key] for r in rows) / len(rows)  # noqa: E731
    total = rows[0]["num_modes"]
    seeds = common.table(
        ["seed", *(str(r["seed"]) for r in rows), "mean"],
        [[f"{name} modes", *(r["modes"] for r in rows), f"**{mean('modes'):.1f}/{total}**"],
         [f"{name} high quality %", *(f"{100 * r['high_quality']:.1f}" for r in rows),
          f"**{100 * mean('high_quality'):.1f}**"]])
    kl = [r["reverse_kl"] for r in rows]
    seconds = [r["seconds"] for r in rows]
    verdict = "PASS" if all(passes(r) for r in rows) else "FAIL"
    return (f"`{preset}`, {len(rows)} seeds, {samples:,} samples each (published: "
            f"{ANCHORS.get(name, 'no anchor')}).\n\n{seeds}\n\nReverse KL "
            f"{min(kl):.3f}–{max(kl):.3f}; {min(seconds):.0f}–{max(seconds):.0f} s per run; "
            f"{verdict} (every mode, ≥ 95 % high quality and < 120 s on every seed).")


def summarise(results: list[dict]) -> str:
    lines = ["| set | seed | modes | high quality | reverse KL | seconds |",
             "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['set']} | {r['seed']} | {r['modes']}/{r['num_modes']} | "
                     f"{r['high_quality']:.1%} | {r['reverse_kl']:.3f} | {r['seconds']:.0f} |")
    for name in dict.fromkeys(r["set"] for r in results):
        rows = [r for r in results if r["set"] == name]
        mean = lambda key: sum(r[key] for r in rows) / len(rows)  # noqa: E731
        lines.append(f"| **{name} mean** | {len(rows)} seeds | {mean('modes'):.1f}/"
                     f"{rows[0]['num_modes']} | {mean('high_quality'):.1%} | "
                     f"{mean('reverse_kl'):.3f} | {mean('seconds'):.0f} |  (anchors: "
                     f"{ANCHORS.get(name, '')})")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
