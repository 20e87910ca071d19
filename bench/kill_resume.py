"""SIGKILL a CPU training run at random steps, resume it, compare with an uninterrupted run.

    python bench/kill_resume.py [--kills 5] [--steps 60] [--seed 0]

Trains the seed-tutorial MLP with --deterministic on a small folder of images twice: once
straight through, once killed with SIGKILL at random moments and resumed with --resume
after each kill. Prints whether the final weights, optimiser states, logged losses and the
final sample grid are identical (exit code 0) or not (exit code 1).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def make_images(folder: Path, n: int = 96, seed: int = 0) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    return folder


def train_command(data: Path, out: Path, steps: int) -> list[str]:
    return [sys.executable, "-m", "gankit", "train", "--preset", "seed-tutorial",
            "--data", str(data), "--out", str(out), "--steps", str(steps), "--deterministic",
            "--no-progress", "--batch-size", "16", "--seed", "3",
            "--set", "train.log_every=1", "--set", "train.checkpoint_every=4",
            "--set", "train.tensorboard=false", "--set", "train.epochs=0"]


def _logged_steps(run_dir: Path) -> int:
    log = run_dir / "log.jsonl"
    return log.read_text().count("\n") if log.is_file() else 0


def run_with_kills(data: Path, out: Path, steps: int, kills: int, rng: random.Random,
                   env: dict) -> list[int]:
    """Start, SIGKILL after a random number of logged steps, resume; repeat; then finish."""
    killed_at = []
    for attempt in range(kills + 1):
        cmd = train_command(data, out, steps)
        if attempt:
            cmd = [c for c in cmd if c not in ("--preset", "seed-tutorial")]
            cmd[cmd.index("--out")] = "--resume"
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        if attempt == kills:
            _, err = process.communicate(timeout=600)
            if process.returncode != 0:
                raise RuntimeError(f"final resume failed: {err}")
            break
        target = _logged_steps(out) + rng.randint(2, max(3, steps // (kills + 1)))
        while process.poll() is None and _logged_steps(out) < min(target, steps - 1):
            time.sleep(0.01)
        time.sleep(rng.random() * 0.05)  # anywhere inside a step, or a checkpoint write
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
            killed_at.append(_logged_steps(out))
    return killed_at


def compare(a: Path, b: Path) -> list[str]:
    """Names of what differs between two finished runs (empty: identical)."""
    from gankit.training.checkpoint import latest_checkpoint
    from gankit.training.plots import read_log

    sa, sb = latest_checkpoint(a, warn=lambda m: None), latest_checkpoint(b, warn=lambda m: None)
    differences = []
    for key in ("step", "epoch", "batch_in_epoch", "images_seen"):
        if sa[key] != sb[key]:
            differences.append(f"{key}: {sa[key]} != {sb[key]}")
    for net in ("G", "D"):
        for name, tensor in sa[net].items():
            if not torch.equal(tensor, sb[net][name]):
                differences.append(f"{net}.{name}")
    for opt in ("opt_G", "opt_D"):
        for index, slots in sa[opt]["state"].items():
            for slot, tensor in slots.items():
                if not torch.equal(tensor, sb[opt]["state"][index][slot]):
                    differences.append(f"{opt}.{index}.{slot}")
    if not torch.equal(sa["rng_cpu"], sb["rng_cpu"]):
        differences.append("rng_cpu")
    losses = lambda run: [(r["step"], r["loss_d"], r["loss_g"]) for r in read_log(run / "log.jsonl")]
    if losses(a) != losses(b):
        differences.append("log.jsonl losses")
    if (a / "samples" / "final.png").read_bytes() != (b / "samples" / "final.png").read_bytes():
        differences.append("samples/final.png")
    return differences


def kill_resume_check(workdir: Path, kills: int = 5, steps: int = 60, seed: int = 0) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    data = make_images(workdir / "images")
    straight, interrupted = workdir / "straight", workdir / "interrupted"
    subprocess.run(train_command(data, straight, steps), cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    killed_at = run_with_kills(data, interrupted, steps, kills, random.Random(seed), env)
    return {"killed_at_logged_steps": killed_at, "differences": compare(straight, interrupted)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = kill_resume_check(Path(tmp), args.kills, args.steps, args.seed)
    print(f"killed with SIGKILL after logged steps {result['killed_at_logged_steps']}")
    if result["differences"]:
        print("DIFFERENT from the uninterrupted run:", ", ".join(result["differences"][:10]))
        return 1
    print(f"identical to the uninterrupted run: weights, optimiser states, RNG, logged losses, "
          f"final sample grid ({args.steps} steps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
