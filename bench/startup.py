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
3 s, once per machine and network shape; ``gankit.training.calibrate``) and the others
read the cache, as a user's later runs do. The first run's time is printed beside the
median. A benchmark, not a test: the figures depend on what else the machine is doing.

    python bench/startup.py
    python bench/startup.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> tuple[str, bool]:
    """(the CPU's model name, whether it has AVX-512F) from lscpu, else /proc/cpuinfo."""
    name, flags = "", ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Model name":
                name = value.strip()
            elif key.strip() == "Flags":
                flags = value
    except (OSError, subprocess.TimeoutExpired):
        pass
    if not name or not flags:
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name") and not name:
                    name = line.partition(":")[2].strip()
                elif line.startswith("flags") and not flags:
                    flags = line.partition(":")[2]
        except OSError:
            pass
    return name or platform.processor() or "unknown CPU", "avx512f" in flags.split()


def timed(command: list[str], env: dict[str, str]) -> float:
    """Seconds one run of ``command`` takes; a failed run stops the benchmark."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per command (median)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")

    python = sys.executable
    gankit = [python, "-m", "gankit"]
    with tempfile.TemporaryDirectory(prefix="gankit-startup-") as tmp:
        env = {**os.environ, "GANKIT_CACHE_DIR": str(Path(tmp) / "cache"),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                           os.environ.get("PYTHONPATH")]))}
        runs = iter(range(10 ** 6))
        commands = {
            "gankit --help": lambda: gankit + ["--help"],
            "gankit list presets": lambda: gankit + ["list", "presets"],
            "gankit train --preset seed-mlp --steps 1": lambda: gankit + [
                "train", "--preset", "seed-mlp", "--steps", "1", "--no-progress",
                "--out", str(Path(tmp) / f"run{next(runs)}")],
            'python -c "import torch"': lambda: [python, "-c", "import torch"],
        }
        times = {name: [timed(make(), env) for _ in range(args.repeats)]
                 for name, make in commands.items()}

    name, avx512 = cpu_model()
    caps = [f"{key}={os.environ[key]}" for key in ("ONEDNN_MAX_CPU_ISA",
                                                  "MKL_ENABLE_INSTRUCTIONS") if os.environ.get(key)]
    print(f"CPU: {name}; AVX-512F: {'yes' if avx512 else 'no'}; {os.cpu_count()} CPUs; "
          f"ISA caps: {', '.join(caps) or 'none'}; Python {platform.python_version()}; "
          f"median of {args.repeats} runs each")
    medians = {label: statistics.median(values) for label, values in times.items()}
    for label, values in times.items():
        spread = f"{min(values):.2f}-{max(values):.2f}"
        print(f"  {label:<45} {medians[label]:6.2f} s  ({spread})")
    train = "gankit train --preset seed-mlp --steps 1"
    torch_import = 'python -c "import torch"'
    print(f"  {'train --steps 1 minus import torch':<45} "
          f"{medians[train] - medians[torch_import]:6.2f} s  (target: <= 2 s)")
    print(f"  first train run (calibrates into an empty cache): {times[train][0]:.2f} s")
    for label in ("gankit --help", "gankit list presets"):
        verdict = "meets" if medians[label] < 0.5 else "misses"
        print(f"  {label}: {verdict} the 0.5 s target")


if __name__ == "__main__":
    main()
