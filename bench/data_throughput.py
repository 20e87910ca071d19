"""Data throughput: preparing a folder of PNGs on all cores, and training on a prepared set
larger than the memory budget.

    python bench/data_throughput.py                      # both parts at the issue's size
    python bench/data_throughput.py --part prepare       # (a) only: 100,000 PNGs
    python bench/data_throughput.py --part stream        # (b) only: an 8 GB prepared set
    python bench/data_throughput.py --count 2000 --big-gb 0.2 --steps 40   # a smoke run

(a) makes ``--count`` generated 64x64 RGB PNGs (coloured shapes on a colour gradient, with
pixel noise so that they compress like small photos, about 10 KB each; in 10 class
folders), then decodes them in one run with a single-process PIL loop (open, convert to
RGB, copy into one array) and with ``gankit data prepare FOLDER --image-size 64
--channels 3`` on all cores (``--workers``), in ``--rounds`` alternating rounds, each from
the folder (its listing included) to one array. It prints images/s of both and their ratio,
checks that both decoded the same pixels, and prints the time to open the prepared set for
training (``load_dataset``, memory-mapped) beside the raw folder's load time (the same call
on the folder: every file decoded, one at a time).

(b) writes a synthetic prepared set of about ``--big-gb`` GB straight into its ``images.npy``
(through gankit's prepared-set writer; no PNGs), and a small in-memory one of the same image
size (``--small-count`` images). It trains the same model (``--preset``, default the 64-px
recipe) for ``--steps`` steps on each, each run in a subprocess: on the big set with
``data.memory_budget_gb`` below its size (so it is streamed from its memory map), on the
small one with the default budget (loaded into memory). Each child samples its own
``RssAnon`` (``/proc/self/status``: anonymous memory; a memory map's file pages belong to
the page cache, not to the process) every 5 ms in a thread and reports the peak. images/s
come from the run's log after the first log window (start-up not counted).

Speed figures are printed beside the CPU model, its ISA extensions, the thread count and
the PyTorch build. A benchmark, not a test: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from versus import cpu_name  # noqa: E402

SIDE = 64
CLASSES = 10


def machine_line(threads: int) -> str:
    """CPU model, ISA extensions, cores, threads and the PyTorch build, in one line."""
    import torch

    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    isa = [name for flag, name in (("avx2", "AVX2"), ("avx512f", "AVX-512F"),
                                   ("avx512_bf16", "AVX-512-BF16"), ("amx_tile", "AMX"))
           if flag in flags]
    return (f"{cpu_name()}; ISA: {', '.join(isa) or 'no AVX2'}; {os.cpu_count()} CPUs; "
            f"{threads or 'auto'} training threads; torch {torch.__version__} "
            f"({'MKLDNN' if torch.backends.mkldnn.is_available() else 'no MKLDNN'})")


# --- (a) prepare against a PIL loop ------------------------------------------------------------

def _png_chunk(job: tuple[str, int, int]) -> None:
    """Write PNGs start..stop-1 in class folders: a colour gradient with two random shapes
    and pixel noise (sigma 6), which PNG compresses about as badly as a small photo."""
    from PIL import Image, ImageDraw

    folder, start, stop = job
    rng = np.random.default_rng(start)
    ramp = np.linspace(0, 1, SIDE)[None, :, None]
    for i in range(start, stop):
        a, b = rng.integers(0, 256, (2, 1, 1, 3))
        image = Image.fromarray((a + (b - a) * ramp).repeat(SIDE, 0).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(2):
            x0, y0 = (int(v) for v in rng.integers(0, SIDE - 16, 2))
            x1, y1 = x0 + int(rng.integers(8, 40)), y0 + int(rng.integers(8, 40))
            fill = tuple(int(v) for v in rng.integers(0, 256, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=fill)
        noisy = np.asarray(image, np.float32) + rng.normal(0, 6, (SIDE, SIDE, 3))
        sub = Path(folder) / f"class{i % CLASSES}"
        Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(sub / f"{i:07d}.png")


def make_pngs(folder: Path, count: int, workers: int) -> float:
    """``count`` PNGs under ``folder/classK/``, written on ``workers`` processes; seconds."""
    from concurrent.futures import ProcessPoolExecutor

    for k in range(CLASSES):
        (folder / f"class{k}").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    jobs = [(str(folder), s, min(s + 1000, count)) for s in range(0, count, 1000)]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_png_chunk, jobs))
    return time.perf_counter() - started


def pil_loop(folder: Path) -> tuple[np.ndarray, float]:
    """The plain loop, from the folder as ``prepare`` starts: the files listed
    (``sorted(folder.rglob("*.png"))``, gankit's order), each opened with PIL, converted to
    RGB and copied into one uint8 (N, 64, 64, 3) array, in one process. Returns (array,
    seconds)."""
    from PIL import Image

    started = time.perf_counter()
    paths = sorted(folder.rglob("*.png"))
    out = np.empty((len(paths), SIDE, SIDE, 3), np.uint8)
    for i, path in enumerate(paths):
        with Image.open(path) as image:
            out[i] = np.asarray(image.convert("RGB"))
    return out, time.perf_counter() - started


def part_prepare(args, work: Path) -> None:
    from gankit.apps.prepare import prepare
    from gankit.config import DataConfig
    from gankit.data import load_dataset
    from gankit.data.folder import image_paths

    folder, out = work / "pngs", work / "pngs.prepared"
    made = make_pngs(folder, args.count, args.workers or os.cpu_count() or 1)
    paths = image_paths(folder)  # the order gankit uses
    print(f"\n(a) {len(paths):,} generated {SIDE}x{SIDE} PNGs written in {made:.1f} s "
          f"({sum(p.stat().st_size for p in paths) / 2 ** 20:,.0f} MiB)")
    pil_times, prepare_times = [], []
    for round_ in range(args.rounds):  # alternating, so that a noisy spell hits both
        pixels, seconds = pil_loop(folder)
        pil_times.append(seconds)
        shutil.rmtree(out, ignore_errors=True)
        started = time.perf_counter()
        prepare(folder, out, image_size=SIDE, channels=3, workers=args.workers,
                progress=False, echo=lambda line: None)
        prepare_times.append(time.perf_counter() - started)
        print(f"round {round_ + 1}: PIL loop {pil_times[-1]:.1f} s, prepare "
              f"{prepare_times[-1]:.1f} s ({pil_times[-1] / prepare_times[-1]:.2f}x)",
              flush=True)
    ratios = sorted(p / q for p, q in zip(pil_times, prepare_times))
    pil_seconds, prepare_seconds = float(np.median(pil_times)), float(np.median(prepare_times))
    started = time.perf_counter()
    prepared = load_dataset(DataConfig(name=str(out)))
    open_seconds = time.perf_counter() - started
    mapped = prepared.samples.numpy()
    same = all(np.array_equal(mapped[s:s + 4096].transpose(0, 2, 3, 1), pixels[s:s + 4096])
               for s in range(0, len(paths), 4096))
    del pixels
    started = time.perf_counter()
    raw = load_dataset(DataConfig(name=str(folder), image_size=SIDE))
    folder_seconds = time.perf_counter() - started
    assert len(raw.samples) == len(paths)
    del raw
    workers = args.workers or os.cpu_count()
    pil_rate, prepare_rate = len(paths) / pil_seconds, len(paths) / prepare_seconds
    print(f"medians of {args.rounds} alternating rounds, each from the folder (listing "
          f"included) to one array")
    print("| decoding | seconds | images/s |\n|---|---|---|")
    print(f"| single-process PIL loop | {pil_seconds:.1f} | {pil_rate:,.0f} |")
    print(f"| gankit data prepare ({workers} workers) | {prepare_seconds:.1f} | "
          f"{prepare_rate:,.0f} |")
    print(f"prepare / PIL loop: median of the rounds' ratios {float(np.median(ratios)):.2f}x "
          f"(each round: {', '.join(f'{r:.2f}' for r in ratios)}; issue: >= 1.7x); the "
          f"same pixels: {'yes' if same else 'NO'}")
    print(f"opening for training: prepared set {open_seconds * 1000:.1f} ms (memory-mapped; "
          f"issue: < 1 s), raw folder {folder_seconds:.1f} s (every file decoded)")


# --- (b) streamed against in memory ------------------------------------------------------------

def make_prepared(path: Path, count: int, seed: int) -> float:
    """A synthetic prepared set of ``count`` random 3x64x64 images (10 classes), written
    straight into its images.npy in chunks; seconds."""
    from gankit.data.prepared import PreparedWriter

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    with PreparedWriter(path, count, (3, SIDE, SIDE)) as writer:
        for start in range(0, count, 8192):
            stop = min(start + 8192, count)
            writer.images[start:stop] = rng.integers(0, 256, (stop - start, 3, SIDE, SIDE),
                                                     dtype=np.uint8)
        writer.finish(np.arange(count) % CLASSES, [f"class{k}" for k in range(CLASSES)],
                      source={"kind": "synthetic", "seed": seed})
    return time.perf_counter() - started


# Runs in the child: samples its own RssAnon every 5 ms while it trains, prints the result.
CHILD = r"""
import json, sys, threading, time
import gankit

def rss_anon_kib():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    return 0

peak, done = [rss_anon_kib()], threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], rss_anon_kib())
        time.sleep(0.005)
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
options = json.loads(sys.argv[1])
gankit.train(options.pop("preset"), progress=False, **options)
done.set()
sampler.join()
peak[0] = max(peak[0], rss_anon_kib())
print("RESULT " + json.dumps({"peak_rss_anon_kib": peak[0]}))
"""


def train_child(preset: str, data: Path, out: Path, steps: int, threads: int,
                budget_gb: float, batch: int) -> dict:
    """Train in a subprocess; its images/s (from its log), peak RssAnon and whether it
    streamed."""
    options = {"preset": preset, "out": str(out), "data": str(data), "steps": steps,
               "epochs": 0, "minutes": 0, "batch_size": batch, "train__threads": threads,
               "data__memory_budget_gb": budget_gb, "train__log_every": max(1, steps // 10),
               "train__sample_every": 0, "train__checkpoint_every": 0,
               "train__tensorboard": False, "train__eval_every": 0, "device": "cpu"}
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(options)], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ,
                                                               "PYTHONPATH": str(ROOT)})
    if done.returncode:
        raise SystemExit(f"training on {data} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.split("RESULT ", 1)[1])
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()
               if '"loss_d"' in line]
    first, last = records[0], records[-1]
    result["images_per_s"] = (last["kimg"] - first["kimg"]) * 1000 / (last["seconds"] -
                                                                     first["seconds"])
    result["streamed"] = "over the memory budget" in done.stdout
    return result


def part_stream(args, work: Path) -> None:
    per_image = 3 * SIDE * SIDE
    big_count = int(args.big_gb * 1e9) // per_image
    big, small = work / "big.prepared", work / "small.prepared"
    print(f"\n(b) writing a synthetic prepared set of {big_count:,} images "
          f"({big_count * per_image / 2 ** 30:.2f} GiB) ...", flush=True)
    seconds = make_prepared(big, big_count, seed=1)
    make_prepared(small, args.small_count, seed=2)
    print(f"written in {seconds:.1f} s (sha256 included); in-memory set: "
          f"{args.small_count:,} images ({args.small_count * per_image / 2 ** 20:,.0f} MiB)")
    budget = args.budget_gb or max(0.05, big_count * per_image / 2 ** 30 / 4)
    runs = {}
    for name, data, budget_gb in (("streamed", big, budget), ("in memory", small, 0.0)):
        runs[name] = train_child(args.preset, data, work / f"run-{name.replace(' ', '-')}",
                                 args.steps, args.threads, budget_gb, args.batch_size)
    print(f"{args.preset}, {args.steps} steps of batch {args.batch_size}; streamed with "
          f"data.memory_budget_gb={budget:g}")
    print("| data | path | images/s | peak RssAnon (MiB) |\n|---|---|---|---|")
    for name, data in (("streamed", big), ("in memory", small)):
        r = runs[name]
        path = "streamed from the memory map" if r["streamed"] else "loaded into memory"
        print(f"| {name}: {data.name} | {path} | {r['images_per_s']:,.1f} | "
              f"{r['peak_rss_anon_kib'] / 1024:,.0f} |")
    ratio = runs["streamed"]["images_per_s"] / runs["in memory"]["images_per_s"]
    print(f"streamed / in memory: {ratio:.1%} of the images/s (issue: >= 80 %); peak "
          f"RssAnon of the streamed run {runs['streamed']['peak_rss_anon_kib'] / 2 ** 20:.2f} "
          f"GiB (issue: < 2 GiB)")
    if not runs["streamed"]["streamed"]:
        print("WARNING: the big set was not streamed (the budget was not below its size)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("prepare", "stream", "both"), default="both")
    parser.add_argument("--count", type=int, default=100_000, help="(a) PNGs to make")
    parser.add_argument("--workers", type=int, default=0, help="(a) prepare's decoding "
                        "processes (0: all cores)")
    parser.add_argument("--rounds", type=int, default=3, help="(a) alternating rounds of the "
                        "PIL loop and prepare")
    parser.add_argument("--big-gb", type=float, default=8.0, help="(b) size of the streamed set")
    parser.add_argument("--small-count", type=int, default=20_000, help="(b) images of the "
                        "in-memory set")
    parser.add_argument("--budget-gb", type=float, default=0.0, help="(b) data.memory_budget_gb "
                        "of the streamed run (0: a quarter of the big set's size)")
    parser.add_argument("--preset", default="emoji64", help="(b) the model trained on both")
    parser.add_argument("--steps", type=int, default=300, help="(b) training steps per run")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="(b) training threads (0: auto)")
    parser.add_argument("--work", help="working folder (default: a temporary one, removed)")
    args = parser.parse_args()
    print(machine_line(args.threads))
    if args.work:
        Path(args.work).mkdir(parents=True, exist_ok=True)  # the temporary folder goes inside
    with tempfile.TemporaryDirectory(prefix="gankit-data-bench-", dir=args.work) as tmp:
        if args.part in ("prepare", "both"):
            part_prepare(args, Path(tmp))
        if args.part in ("stream", "both"):
            part_stream(args, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
