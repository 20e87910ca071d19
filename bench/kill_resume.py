"""SIGKILL a CPU training run at random steps, resume it, compare with an uninterrupted run.

    python bench/kill_resume.py [--kills 5] [--steps 60] [--seed 0]

Trains the seed-tutorial MLP with --deterministic on a small folder of images twice: once
straight through, once killed with SIGKILL at random moments and resumed with --resume
after each kill. ``--kind streamed`` trains on the same images prepared (``gankit data
prepare``) and read from their memory map batch by batch (a memory budget below their size);
``--kind translation`` trains a tiny CycleGAN, ``--kind cut`` a tiny CUT (random patches
each step) and ``--kind pix2pix`` a tiny pix2pix on pairs. Prints whether the final weights, optimiser
states, logged losses and the final sample grid are identical (exit code 0) or not (exit
code 1).
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import common


def make_images(folder: Path, n: int = 96, seed: int = 0) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    return folder


def make_domains(folder: Path, n: int = 48, seed: int = 0, paired: bool = False) -> Path:
    """A two-domain folder: unpaired (trainA/, trainB/ and small test splits) or paired by
    file name (A/, B/, testA/, testB/)."""
    train = "" if paired else "train"
    for domain, offset in (("A", 0), ("B", 1)):
        make_images(folder / f"{train}{domain}", n, seed + offset)
        make_images(folder / f"test{domain}", 4, seed + 10 + offset)
    return folder


# tiny networks: the check is about resuming (pools, both optimisers, CUT's heads and its
# random patches), not quality
TRANSLATION_SETS = ["--set", "translation.g_channels=8", "--set", "translation.d_channels=8",
                    "--set", "translation.resnet_blocks=1", "--set", "translation.pool_size=6",
                    "--set", "optim.lr_decay=0.5"]
CUT_SETS = [*TRANSLATION_SETS, "--set", "translation.nce_patches=16", "--set",
            "translation.nce_head=16"]
# kind -> (preset, its --set flags, data maker)
KINDS = {"translation": ("cyclegan", TRANSLATION_SETS, make_domains),
         "cut": ("cut", CUT_SETS, make_domains),
         "pix2pix": ("pix2pix", TRANSLATION_SETS,
                     lambda folder: make_domains(folder, paired=True))}


# a memory budget below any data set's size: the prepared set is streamed from its map
STREAMED_SETS = ["--set", "data.memory_budget_gb=0.000001"]


def prepared_images(folder: Path, n: int = 96, seed: int = 0) -> Path:
    """A prepared set (memory-mappable .npy + manifest) of ``n`` random 28x28 grey images."""
    out = folder.parent / f"{folder.name}.prepared"
    common.make_prepared(out, n, (1, 28, 28), seed, classes=0)
    return out


def train_command(data: Path, out: Path, steps: int, kind: str = "generation") -> list[str]:
    preset, extra, _ = KINDS.get(kind, ("seed-tutorial", [], None))
    extra = STREAMED_SETS if kind == "streamed" else extra
    return common.gankit(
        "train", "--preset", preset, "--data", data, "--out", out, "--steps", steps,
        "--deterministic", "--no-progress", "--batch-size", 4 if kind in KINDS else 16,
        "--seed", 3, "--set", "train.log_every=1", "--set", "train.checkpoint_every=4",
        "--set", "train.tensorboard=false", "--set", "train.epochs=0", *extra)


def _logged_steps(run_dir: Path) -> int:
    log = run_dir / "log.jsonl"
    return log.read_text().count("\n") if log.is_file() else 0


def run_with_kills(data: Path, out: Path, steps: int, kills: int, rng: random.Random,
                   env: dict, kind: str = "generation") -> list[int]:
    """Start, SIGKILL after a random number of logged steps, resume; repeat; then finish."""
    killed_at = []
    for attempt in range(kills + 1):
        cmd = train_command(data, out, steps, kind)
        if attempt:
            at = cmd.index("--preset")
            cmd = cmd[:at] + cmd[at + 2:]
            cmd[cmd.index("--out")] = "--resume"
        process = subprocess.Popen(cmd, cwd=common.ROOT, env=env, stdout=subprocess.DEVNULL,
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


def _differing(a, b, name: str) -> list[str]:
    """Names of the tensors, numbers and lists under ``name`` that differ between a and b."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{name}: keys {sorted(set(a) ^ set(b), key=str)}"]
        return [d for key in a for d in _differing(a[key], b[key], f"{name}.{key}")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{name}: {len(a)} != {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _differing(x, y, f"{name}.{i}")]
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return [] if a.shape == b.shape and torch.equal(a, b) else [name]
    return [] if a == b else [f"{name}: {a} != {b}"]


def compare(a: Path, b: Path) -> list[str]:
    """Names of what differs between two finished runs (empty: identical): every entry of
    the last checkpoint (networks, optimisers, pools, counters, RNG; not its wall time),
    the logged losses and the final sample picture."""
    from gankit.training.checkpoint import latest_checkpoint
    from gankit.training.run_log import read_log

    sa, sb = latest_checkpoint(a, warn=lambda m: None), latest_checkpoint(b, warn=lambda m: None)
    differences = [d for key in sorted(set(sa) | set(sb)) if key != "seconds"
                   for d in _differing(sa.get(key), sb.get(key), key)]
    losses = lambda run: [(r["step"], r.get("loss_d"), r.get("loss_g"))  # noqa: E731
                          for r in read_log(run / "log.jsonl") if "loss_g" in r]
    if losses(a) != losses(b):
        differences.append("log.jsonl losses")
    if (a / "samples" / "final.png").read_bytes() != (b / "samples" / "final.png").read_bytes():
        differences.append("samples/final.png")
    return differences


def kill_resume_check(workdir: Path, kills: int = 5, steps: int = 60, seed: int = 0,
                      kind: str = "generation") -> dict:
    """``kind``: "generation" (seed-tutorial), "streamed" (seed-tutorial on a prepared set
    read batch by batch from its memory map), "translation" (a tiny CycleGAN), "cut" or
    "pix2pix" (tiny ones of those)."""
    env = common.child_env(OMP_NUM_THREADS="1")
    data = {"generation": lambda: make_images(workdir / "images"),
            "streamed": lambda: prepared_images(workdir / "images"),
            **{name: lambda maker=maker: maker(workdir / "domains")
               for name, (_, _, maker) in KINDS.items()}}[kind]()
    straight, interrupted = workdir / "straight", workdir / "interrupted"
    said = common.run(train_command(data, straight, steps, kind), env=env).stdout
    killed_at = run_with_kills(data, interrupted, steps, kills, random.Random(seed), env, kind)
    return {"killed_at_logged_steps": killed_at, "differences": compare(straight, interrupted),
            "straight_output": said}


def main() -> int:
    parser = common.parser(__doc__, results=False)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kind", choices=("generation", "streamed", *KINDS),
                        default="generation", help="streamed: on a prepared set read from "
                        "its memory map; translation: a tiny CycleGAN (two generators, two "
                        "optimisers, image pools); cut: a tiny CUT; pix2pix: a tiny pix2pix")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = kill_resume_check(Path(tmp), args.kills, args.steps, args.seed, args.kind)
    print(f"killed with SIGKILL after logged steps {result['killed_at_logged_steps']}")
    if result["differences"]:
        print("DIFFERENT from the uninterrupted run:", ", ".join(result["differences"][:10]))
        return 1
    print(f"identical to the uninterrupted run: every checkpoint entry (weights, optimiser "
          f"states, pools, counters, RNG), logged losses, final sample picture "
          f"({args.steps} steps, {args.kind})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
