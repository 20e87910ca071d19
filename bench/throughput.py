"""Training throughput: the tutorial's literal §4 loop against gankit, side by side.

Modes (all on the embedded mnist5k digits, batch 64, CPU unless --device says otherwise):

  python bench/throughput.py                 # in one process, alternating rounds:
                                             #   reference loop vs gankit seed-mlp (images/s,
                                             #   ratio); then seed-mlp through the general
                                             #   d_step/g_step, with bf16, and gankit DCGAN
                                             #   (default preset nets)
  python bench/throughput.py --variants --device cuda
                                             # gankit only, on one device: seed-mlp and the
                                             #   default DCGAN, eager fp32 / bf16 / --compile /
                                             #   both (/ --cuda-graphs on CUDA): images/s and
                                             #   seconds per 60,000 images, device name
  python bench/throughput.py --cli [--epochs 100]
                                             # as a user runs them, start-up included:
                                             #   `gankit train --preset seed-mlp --epochs E`
                                             #   vs `python tools/tutorial_reference.py
                                             #   --epochs E`, alternating subprocesses

gankit's rate in-process is read from its own log (``log.jsonl``: seconds and kimg at each
log line), i.e. the real training loop with its bookkeeping, after the first log window;
the reference rate is wall time of ``run_steps`` on warm networks. Peak memory is the
resident set size (``resource.getrusage``). This is a benchmark, not a test: timings on a
shared machine are noisy, which is why the two sides alternate and the ratio is reported
per round and as the median. Each mode's table goes to its own section of
``docs/results/throughput-<kind>.md`` (``--no-write``: printed only).
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import common

TITLE = "Training throughput: the tutorial's §4 loop against gankit"
HEADLINE = "gankit seed-mlp against the tutorial's §4 loop: images/s and their ratio"


def spread(ratios: list[float]) -> str:
    """"2.65× (2.64–2.68)": the median ratio and its range."""
    return f"{statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f})"


# --- in process ---------------------------------------------------------------------------

THREADS = 0  # set by main: the same intra-op thread count for both sides
DEVICE = "cpu"  # set by main (--device)


def gankit_round(preset: str, steps: int, overrides: dict | None = None) -> float:
    """Train ``preset`` for ``steps`` steps in a temporary run dir; images/s of the loop,
    measured from its log after the first log window."""
    from gankit.config import resolve
    from gankit.apps.train import run_training

    cfg = resolve(preset, overrides={"train.steps": steps, "train.epochs": 0,
                                     "train.threads": THREADS, "train.device": DEVICE,
                                     "train.minutes": 0, **(overrides or {})})
    if steps < 2 * cfg.train.log_every:
        raise SystemExit(f"{preset}: give at least {2 * cfg.train.log_every} steps (two log "
                         f"windows of {cfg.train.log_every}); the first one is warm-up")
    run_dir = Path(tempfile.mkdtemp(prefix="gankit-bench-"))
    try:
        run_training(cfg, run_dir, progress=False, echo=lambda *a, **k: None)
        records = common.training_records(run_dir)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return common.images_per_second(records)


def reference_round(nets, dataloader, steps: int) -> float:
    import torch

    from tools import tutorial_reference as ref

    torch.set_num_threads(THREADS)
    seen, seconds = common.timed(ref.run_steps, nets, dataloader, steps)
    return seen / seconds


def in_process(args) -> tuple[str, dict, str]:
    import torch

    from tools import tutorial_reference as ref

    print(f"torch {torch.__version__}, {THREADS} threads for both; batch 64; mnist5k; "
          f"{args.rounds} rounds of {args.steps} steps", flush=True)
    torch.manual_seed(0)
    dataloader = ref.make_dataloader(64, seed=0)
    nets = ref.build_nets()
    reference_round(nets, dataloader, 20)  # warm up both
    gankit_round("seed-mlp", 40)

    ref_rates, ours_rates = [], []
    for r in range(args.rounds):
        pair = [("reference", lambda: reference_round(nets, dataloader, args.steps)),
                ("gankit", lambda: gankit_round("seed-mlp", args.steps))]
        if r % 2:
            pair.reverse()
        got = {name: fn() for name, fn in pair}
        ref_rates.append(got["reference"])
        ours_rates.append(got["gankit"])
        print(f"round {r + 1}: tutorial {got['reference']:7.0f} img/s   gankit seed-mlp "
              f"{got['gankit']:7.0f} img/s   ratio {got['gankit'] / got['reference']:.2f}",
              flush=True)
    ratios = [o / t for o, t in zip(ours_rates, ref_rates)]
    side = common.table(["images/s", "tutorial §4 loop", "gankit seed-mlp", "ratio"], [[
        f"one process, {common.plural(THREADS, 'thread')} each, median of "
        f"{common.plural(args.rounds, 'round')} of {args.steps} steps",
        f"{statistics.median(ref_rates):,.0f}", f"{statistics.median(ours_rates):,.0f}",
        spread(ratios)]])
    figures = {"threads": THREADS, "rounds": args.rounds, "steps": args.steps,
               "tutorial": ref_rates, "gankit": ours_rates, "ratios": ratios}
    alone = []  # gankit's other paths, alone: (label, rates)
    if args.general_rounds:
        alone.append(("seed-mlp through d_step/g_step (`--set train.fast_mlp=false`)",
                      "general", [gankit_round("seed-mlp", args.steps, {"train.fast_mlp": False})
                                  for _ in range(args.general_rounds)]))
    if args.bf16_rounds:
        alone.append(("seed-mlp `--precision bf16` (opt-in; not the tutorial's fp32 maths)",
                      "bf16", [gankit_round("seed-mlp", args.steps, {"train.precision": "bf16"})
                               for _ in range(args.bf16_rounds)]))
    if args.dcgan_steps:
        alone.append((f"DCGAN (default preset nets, EMA on), {args.dcgan_steps} steps",
                      "dcgan", [gankit_round("default", args.dcgan_steps)
                                for _ in range(args.dcgan_rounds)]))
    markdown = side
    if alone:
        markdown += "\n\n" + common.table(
            ["gankit alone", "images/s (median)", "rounds"],
            [[label, f"{statistics.median(rates):,.0f}", ", ".join(f"{x:,.0f}" for x in rates)]
             for label, _, rates in alone])
        figures.update({key: rates for _, key, rates in alone})
    figures["peak_rss_mib"] = common.peak_rss_mib()
    markdown += f"\n\nPeak resident memory: {figures['peak_rss_mib']:,.0f} MiB."
    key = f"in process, {common.plural(THREADS, 'thread')}" + (
        f", gankit on {DEVICE}" if DEVICE != "cpu" else "")
    return key, figures, markdown


# --- gankit's variants on one device -------------------------------------------------------

VARIANTS = {"fp32 eager": {}, "bf16": {"train.precision": "bf16"},
            "compile": {"train.compile": True},
            "compile + bf16": {"train.compile": True, "train.precision": "bf16"}}


def variants(args) -> tuple[str, dict, str]:
    import torch

    from gankit.config import resolve

    name = torch.cuda.get_device_name() if DEVICE.startswith("cuda") else \
        f"CPU, {common.plural(THREADS, 'thread')}"
    table = dict(VARIANTS)
    if DEVICE.startswith("cuda"):
        table["cuda graphs"] = {"train.cuda_graphs": True}
        table["cuda graphs + bf16"] = {"train.cuda_graphs": True, "train.precision": "bf16"}
    print(f"device: {name}; torch {torch.__version__}; {args.steps} steps per run "
          f"(images/s after the first log window)", flush=True)
    rows, figures = [], {"device": name, "steps": args.steps, "rates": {}}
    for preset in ("seed-mlp", "default"):
        batch = resolve(preset).train.batch_size
        for variant, overrides in table.items():
            rate = gankit_round(preset, args.steps, overrides)
            figures["rates"][f"{preset} {variant}"] = rate
            rows.append([f"{preset} (batch {batch})", variant, f"{rate:,.0f}",
                         f"{60000 / rate:.1f}"])
            print(common.table([""] * 4, rows[-1:]).splitlines()[-1], flush=True)
    figures["peak_rss_mib"] = common.peak_rss_mib()
    markdown = (f"Device: {name}; {args.steps} steps per run (images/s after the first log "
                "window).\n\n" + common.table(["preset", "variant", "images/s",
                                                "s per 60k images"], rows)
                + f"\n\nPeak resident memory: {figures['peak_rss_mib']:,.0f} MiB.")
    return f"variants, {name}", figures, markdown


# --- as a user runs it --------------------------------------------------------------------

def cli(args) -> tuple[str, dict, str]:
    images = 5000 * args.epochs
    env = common.child_env()
    if args.threads:
        # Both programs start with this many threads (gankit's auto setting never exceeds it).
        env["OMP_NUM_THREADS"] = str(args.threads)
    threads = f"OMP_NUM_THREADS={args.threads} for both" if args.threads else \
        "each program's own thread setting"
    print(f"{args.epochs} epochs of mnist5k ({images} images), batch 64, start-up included; "
          f"{threads}", flush=True)
    runs = {"reference": [], "gankit": []}
    for r in range(args.rounds):
        out = Path(tempfile.mkdtemp(prefix="gankit-cli-"))
        commands = [("reference", [sys.executable,
                                   str(common.ROOT / "tools" / "tutorial_reference.py"),
                                   "--epochs", str(args.epochs)]),
                    ("gankit", common.gankit("train", "--preset", "seed-mlp", "--epochs",
                                             args.epochs, "--out", out / "run"))]
        if r % 2:
            commands.reverse()
        got = {name: common.run(command, env=env) for name, command in commands}
        shutil.rmtree(out, ignore_errors=True)
        for name, ran in got.items():
            runs[name].append(ran)
        ref, ours = got["reference"], got["gankit"]
        print(f"round {r + 1}: tutorial script {ref.seconds:6.1f} s "
              f"({images / ref.seconds:5.0f} img/s, {ref.peak_rss_mib:.0f} MiB)   "
              f"gankit train {ours.seconds:6.1f} s ({images / ours.seconds:5.0f} img/s, "
              f"{ours.peak_rss_mib:.0f} MiB)   speed-up {ref.seconds / ours.seconds:.2f}",
              flush=True)
    seconds = {name: [ran.seconds for ran in rans] for name, rans in runs.items()}
    peak = {name: max(ran.peak_rss_mib for ran in rans) for name, rans in runs.items()}
    ratios = [t / o for o, t in zip(seconds["gankit"], seconds["reference"])]
    markdown = common.table(["seconds", "tutorial §4 script", "gankit train --preset seed-mlp",
                             "ratio"], [[
        f"{common.plural(args.epochs, 'epoch')} ({images:,} images), start-up included, "
        f"{threads}, median of {common.plural(args.rounds, 'round')}",
        f"{statistics.median(seconds['reference']):.1f} s",
        f"{statistics.median(seconds['gankit']):.1f} s", spread(ratios)]]) + (
        f"\n\nPeak resident memory: tutorial script {peak['reference']:,.0f} MiB, gankit train "
        f"{peak['gankit']:,.0f} MiB.")
    key = f"as a user runs it, {args.epochs} epochs" + (
        f", OMP_NUM_THREADS={args.threads}" if args.threads else "")
    return key, {"epochs": args.epochs, "seconds": seconds, "ratios": ratios,
                 "peak_rss_mib": peak}, markdown


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--cli", action="store_true", help="time the CLI and the script as "
                        "subprocesses, start-up included")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=400, help="steps per in-process round "
                        "(a multiple of seed-mlp's log_every, 20)")
    parser.add_argument("--dcgan-steps", type=int, default=200, help="0: skip DCGAN")
    parser.add_argument("--dcgan-rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=100, help="--cli: epochs per run (100: the "
                        "tutorial's and the preset's full length)")
    parser.add_argument("--threads", type=int, default=0, help="in process: intra-op threads "
                        "for both sides (0: what gankit's auto setting picks now); --cli: "
                        "OMP_NUM_THREADS for both programs (0: leave each to its default)")
    parser.add_argument("--variants", action="store_true", help="gankit alone: seed-mlp and "
                        "DCGAN under each speed option on --device")
    parser.add_argument("--device", default="cpu", help="training device for gankit's runs "
                        "(cpu, cuda, cuda:N); the tutorial's loop runs on the CPU")
    parser.add_argument("--general-rounds", type=int, default=2, help="rounds of seed-mlp "
                        "through the general d_step/g_step instead of the hand-written MLP "
                        "step (0: skip)")
    parser.add_argument("--bf16-rounds", type=int, default=2, help="rounds of seed-mlp with "
                        "--precision bf16 (0: skip)")
    args = parser.parse_args()
    global THREADS, DEVICE
    DEVICE = args.device
    if not args.cli:
        from gankit.speed.threads import auto_threads

        THREADS = args.threads or auto_threads()
    threads = args.threads or ("each program's own" if args.cli else THREADS)
    print(common.machine_line(threads))
    mode = cli if args.cli else variants if args.variants else in_process
    key, figures, markdown = mode(args)
    print("\n" + markdown)
    common.write_results("throughput", TITLE, figures, markdown, args=args, section=key,
                         heading=key, threads=threads, headline=HEADLINE)


if __name__ == "__main__":
    main()
