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
                                             #   vs `python bench/tutorial_reference.py
                                             #   --epochs E`, alternating subprocesses

gankit's rate in-process is read from its own log (``log.jsonl``: seconds and kimg at each
log line), i.e. the real training loop with its bookkeeping, after the first log window;
the reference rate is wall time of ``run_steps`` on warm networks. Peak memory is the
resident set size (``resource.getrusage``). This is a benchmark, not a test: timings on a
shared machine are noisy, which is why the two sides alternate and the ratio is reported
per round and as the median.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))


def peak_rss_mib(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


# --- in process ---------------------------------------------------------------------------

THREADS = 0  # set by main: the same intra-op thread count for both sides
DEVICE = "cpu"  # set by main (--device)


def gankit_round(preset: str, steps: int, overrides: dict | None = None) -> float:
    """Train ``preset`` for ``steps`` steps in a temporary run dir; images/s of the loop,
    measured from its log after the first log window."""
    from gankit.config import resolve
    from gankit.apps.train import train

    cfg = resolve(preset, overrides={"train.steps": steps, "train.epochs": 0,
                                     "train.threads": THREADS, "train.device": DEVICE,
                                     "train.minutes": 0, **(overrides or {})})
    if steps < 2 * cfg.train.log_every:
        raise SystemExit(f"{preset}: give at least {2 * cfg.train.log_every} steps (two log "
                         f"windows of {cfg.train.log_every}); the first one is warm-up")
    run_dir = Path(tempfile.mkdtemp(prefix="gankit-bench-"))
    try:
        train(cfg, run_dir, progress=False, echo=lambda *a, **k: None)
        records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    first, last = records[0], records[-1]
    return (last["kimg"] - first["kimg"]) * 1000 / (last["seconds"] - first["seconds"])


def reference_round(nets, dataloader, steps: int) -> float:
    import tutorial_reference as ref

    import torch

    torch.set_num_threads(THREADS)
    started = time.perf_counter()
    seen = ref.run_steps(nets, dataloader, steps)
    return seen / (time.perf_counter() - started)


def in_process(args) -> None:
    import torch
    import tutorial_reference as ref

    print(f"torch {torch.__version__}, {THREADS} threads for both, "
          f"{os.cpu_count()} CPUs; batch 64; mnist5k; {args.rounds} rounds of {args.steps} steps",
          flush=True)
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
    print(f"median: tutorial {statistics.median(ref_rates):.0f} img/s, gankit seed-mlp "
          f"{statistics.median(ours_rates):.0f} img/s, ratio {statistics.median(ratios):.2f} "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f})")
    print(f"peak RSS so far: {peak_rss_mib():.0f} MiB")

    if args.general_rounds:
        general = [gankit_round("seed-mlp", args.steps, {"train.fast_mlp": False})
                   for _ in range(args.general_rounds)]
        print("gankit seed-mlp through d_step/g_step (--set train.fast_mlp=false): "
              + ", ".join(f"{x:.0f}" for x in general) + f" img/s; median "
              f"{statistics.median(general):.0f}", flush=True)

    if args.bf16_rounds:
        bf16 = [gankit_round("seed-mlp", args.steps, {"train.precision": "bf16"})
                for _ in range(args.bf16_rounds)]
        print("gankit seed-mlp --precision bf16 (opt-in; not the tutorial's fp32 maths): "
              + ", ".join(f"{x:.0f}" for x in bf16) + f" img/s; median "
              f"{statistics.median(bf16):.0f}", flush=True)

    if args.dcgan_steps:
        dcgan = [gankit_round("default", args.dcgan_steps) for _ in range(args.dcgan_rounds)]
        print("gankit DCGAN (default preset nets, EMA on): "
              + ", ".join(f"{x:.0f}" for x in dcgan)
              + f" img/s; median {statistics.median(dcgan):.0f}")
        print(f"peak RSS: {peak_rss_mib():.0f} MiB")


# --- gankit's variants on one device -------------------------------------------------------

VARIANTS = {"fp32 eager": {}, "bf16": {"train.precision": "bf16"},
            "compile": {"train.compile": True},
            "compile + bf16": {"train.compile": True, "train.precision": "bf16"}}


def variants(args) -> None:
    import torch

    name = torch.cuda.get_device_name() if DEVICE.startswith("cuda") else \
        f"CPU, {THREADS} threads"
    table = dict(VARIANTS)
    if DEVICE.startswith("cuda"):
        table["cuda graphs"] = {"train.cuda_graphs": True}
        table["cuda graphs + bf16"] = {"train.cuda_graphs": True, "train.precision": "bf16"}
    print(f"device: {name}; torch {torch.__version__}; {args.steps} steps per run "
          f"(images/s after the first log window)", flush=True)
    print("| preset | variant | images/s | s per 60k images |\n|---|---|---|---|")
    from gankit.config import resolve

    for preset in ("seed-mlp", "default"):
        batch = resolve(preset).train.batch_size
        for variant, overrides in table.items():
            rate = gankit_round(preset, args.steps, overrides)
            print(f"| {preset} (batch {batch}) | {variant} | {rate:,.0f} | {60000 / rate:.1f} |",
                  flush=True)
    print(f"peak RSS: {peak_rss_mib():.0f} MiB")


# --- as a user runs it --------------------------------------------------------------------

def timed(command: list[str], env: dict | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one subprocess."""
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: a full pipe would block
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors, cwd=ROOT,
                                   env=env)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"failed: {' '.join(command)}\n{errors.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def cli(args) -> None:
    gankit = str(Path(sys.executable).with_name("gankit"))
    if not Path(gankit).exists():
        gankit_cmd = [sys.executable, "-m", "gankit"]
    else:
        gankit_cmd = [gankit]
    images = 5000 * args.epochs
    env = dict(os.environ)
    if args.threads:
        # Both programs start with this many threads (gankit's auto setting never exceeds it).
        env["OMP_NUM_THREADS"] = str(args.threads)
    threads = f"OMP_NUM_THREADS={args.threads} for both" if args.threads else \
        "each program's own thread setting"
    print(f"{args.epochs} epochs of mnist5k ({images} images), batch 64, start-up included; "
          f"{threads}", flush=True)
    ours_s, ref_s = [], []
    for r in range(args.rounds):
        out = Path(tempfile.mkdtemp(prefix="gankit-cli-"))
        runs = [("reference", [sys.executable, str(HERE / "tutorial_reference.py"),
                               "--epochs", str(args.epochs)]),
                ("gankit", gankit_cmd + ["train", "--preset", "seed-mlp", "--epochs",
                                         str(args.epochs), "--out", str(out / "run")])]
        if r % 2:
            runs.reverse()
        got = {}
        for name, command in runs:
            got[name] = timed(command, env)
        shutil.rmtree(out, ignore_errors=True)
        ref_s.append(got["reference"][0])
        ours_s.append(got["gankit"][0])
        print(f"round {r + 1}: tutorial script {got['reference'][0]:6.1f} s "
              f"({images / got['reference'][0]:5.0f} img/s, {got['reference'][1]:.0f} MiB)   "
              f"gankit train {got['gankit'][0]:6.1f} s ({images / got['gankit'][0]:5.0f} img/s, "
              f"{got['gankit'][1]:.0f} MiB)   speed-up {got['reference'][0] / got['gankit'][0]:.2f}",
              flush=True)
    ratios = [t / o for o, t in zip(ours_s, ref_s)]
    print(f"median: tutorial script {statistics.median(ref_s):.1f} s, gankit train "
          f"{statistics.median(ours_s):.1f} s, speed-up {statistics.median(ratios):.2f} "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
        from gankit.training.accel import auto_threads

        THREADS = args.threads or auto_threads()
    if args.cli:
        cli(args)
    elif args.variants:
        variants(args)
    else:
        in_process(args)


if __name__ == "__main__":
    main()
