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
the PyTorch build, and each part's table goes to its section of
``docs/results/data_throughput-<kind>.md`` (``--no-write``: printed only; use it for smoke
runs). A benchmark, not a test: run it on a quiet machine.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

import common

SIDE = 64
CLASSES = 10
TITLE = "Data throughput: preparing PNGs on all cores, training on a set larger than memory"


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
    jobs = [(str(folder), s, min(s + 1000, count)) for s in range(0, count, 1000)]
    with ProcessPoolExecutor(workers) as pool:
        return common.timed(lambda: list(pool.map(_png_chunk, jobs)))[1]


def pil_loop(folder: Path) -> tuple[np.ndarray, float]:
    """The plain loop, from the folder as ``prepare`` starts: the files listed
    (``sorted(folder.rglob("*.png"))``, gankit's order), each opened with PIL, converted to
    RGB and copied into one uint8 (N, 64, 64, 3) array, in one process. Returns (array,
    seconds)."""
    from PIL import Image

    def decode() -> np.ndarray:
        paths = sorted(folder.rglob("*.png"))
        out = np.empty((len(paths), SIDE, SIDE, 3), np.uint8)
        for i, path in enumerate(paths):
            with Image.open(path) as image:
                out[i] = np.asarray(image.convert("RGB"))
        return out

    return common.timed(decode)


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
        prepare_times.append(common.timed(prepare, folder, out, image_size=SIDE, channels=3,
                                          workers=args.workers, progress=False,
                                          echo=lambda line: None)[1])
        print(f"round {round_ + 1}: PIL loop {pil_times[-1]:.1f} s, prepare "
              f"{prepare_times[-1]:.1f} s ({pil_times[-1] / prepare_times[-1]:.2f}x)",
              flush=True)
    ratios = sorted(p / q for p, q in zip(pil_times, prepare_times))
    pil_seconds, prepare_seconds = float(np.median(pil_times)), float(np.median(prepare_times))
    prepared, open_seconds = common.timed(load_dataset, DataConfig(name=str(out)))
    mapped = prepared.samples.numpy()
    same = all(np.array_equal(mapped[s:s + 4096].transpose(0, 2, 3, 1), pixels[s:s + 4096])
               for s in range(0, len(paths), 4096))
    del pixels
    raw, folder_seconds = common.timed(load_dataset, DataConfig(name=str(folder),
                                                                image_size=SIDE))
    assert len(raw.samples) == len(paths)
    del raw
    workers = args.workers or os.cpu_count()
    pil_rate, prepare_rate = len(paths) / pil_seconds, len(paths) / prepare_seconds
    median_ratio = float(np.median(ratios))
    markdown = (
        f"{len(paths):,} generated {SIDE}×{SIDE} RGB PNGs ("
        f"{sum(p.stat().st_size for p in paths) / 2 ** 20:,.0f} MiB) in {CLASSES} class folders; "
        f"medians of {args.rounds} alternating rounds, each from the folder (listing included) "
        "to one array.\n\n"
        + common.table(["from the folder to one uint8 array", "seconds (median)", "images/s"], [
            ["single-process PIL loop (`sorted(rglob)`, open, convert, copy)",
             f"{pil_seconds:.1f}", f"{pil_rate:,.0f}"],
            [f"`gankit data prepare --image-size {SIDE} --channels 3` ({workers} workers)",
             f"{prepare_seconds:.1f}", f"{prepare_rate:,.0f}"]])
        + f"\n\nRatio per round {', '.join(f'{r:.2f}' for r in ratios)} (median "
        f"**{median_ratio:.2f}×**; issue: ≥ 1.7×); the same pixels both ways: "
        f"{'yes' if same else 'NO'}. Opening for training: the prepared set "
        f"{open_seconds * 1000:.1f} ms (memory-mapped; issue: < 1 s), the raw folder "
        f"{folder_seconds:.1f} s (every file decoded).")
    figures = {"images": len(paths), "workers": workers, "pil_seconds": pil_times,
               "prepare_seconds": prepare_times, "ratios": ratios, "median_ratio": median_ratio,
               "same_pixels": same, "open_prepared_seconds": open_seconds,
               "open_folder_seconds": folder_seconds}
    return figures, markdown


# --- (b) streamed against in memory ------------------------------------------------------------

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
    done = common.run([sys.executable, "-c", CHILD, json.dumps(options)],
                      env=common.child_env())
    result = json.loads(done.stdout.split("RESULT ", 1)[1])
    result["images_per_s"] = common.images_per_second(common.training_records(out))
    result["streamed"] = "over the memory budget" in done.stdout
    return result


def part_stream(args, work: Path) -> tuple[dict, str]:
    per_image = 3 * SIDE * SIDE
    big_count = int(args.big_gb * 1e9) // per_image
    big, small = work / "big.prepared", work / "small.prepared"
    print(f"\n(b) writing a synthetic prepared set of {big_count:,} images "
          f"({big_count * per_image / 2 ** 30:.2f} GiB) ...", flush=True)
    seconds = common.make_prepared(big, big_count, (3, SIDE, SIDE), seed=1)
    common.make_prepared(small, args.small_count, (3, SIDE, SIDE), seed=2)
    print(f"written in {seconds:.1f} s (sha256 included); in-memory set: "
          f"{args.small_count:,} images ({args.small_count * per_image / 2 ** 20:,.0f} MiB)")
    budget = args.budget_gb or max(0.05, big_count * per_image / 2 ** 30 / 4)
    runs = {}
    for name, data, budget_gb in (("streamed", big, budget), ("in memory", small, 0.0)):
        runs[name] = train_child(args.preset, data, work / f"run-{name.replace(' ', '-')}",
                                 args.steps, args.threads, budget_gb, args.batch_size)
    labels = {"streamed": f"{args.big_gb:g} GB prepared set ({big_count:,} images, "
                          f"{big_count * per_image / 2 ** 30:.2f} GiB)",
              "in memory": f"{args.small_count:,} images "
                           f"({args.small_count * per_image / 2 ** 20:,.0f} MiB)"}
    rows = [[labels[name], "streamed from the memory map" if r["streamed"] else
             "loaded into memory", f"{r['images_per_s']:,.1f}",
             f"{r['peak_rss_anon_kib'] / 1024:,.0f}"] for name, r in runs.items()]
    ratio = runs["streamed"]["images_per_s"] / runs["in memory"]["images_per_s"]
    markdown = (f"`{args.preset}`, {args.steps} steps of batch {args.batch_size}; streamed with "
                f"`data.memory_budget_gb={budget:g}`.\n\n"
                + common.table(["data", "path", "images/s", "peak RssAnon (MiB)"], rows)
                + f"\n\nStreamed: **{100 * ratio:.1f} %** of the in-memory images/s (issue: "
                f"≥ 80 %); peak RssAnon of the streamed run "
                f"{runs['streamed']['peak_rss_anon_kib'] / 2 ** 20:.2f} GiB (issue: < 2 GiB).")
    if not runs["streamed"]["streamed"]:
        markdown += ("\n\nWARNING: the big set was not streamed (the budget was not below its "
                     "size).")
    return {"preset": args.preset, "steps": args.steps, "budget_gb": budget, "runs": runs,
            "ratio": ratio}, markdown


def main() -> int:
    parser = common.parser(__doc__)
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
    print(common.machine_line(args.threads or "automatic"))
    if args.work:
        Path(args.work).mkdir(parents=True, exist_ok=True)  # the temporary folder goes inside
    parts = {"prepare": ("prepare", part_prepare, "(a) `gankit data prepare` against a PIL loop"),
             "stream": ("stream", part_stream, "(b) streamed from a memory map against in "
                                               "memory")}
    with tempfile.TemporaryDirectory(prefix="gankit-data-bench-", dir=args.work) as tmp:
        for key, part, heading in parts.values():
            if args.part not in (key, "both"):
                continue
            figures, markdown = part(args, Path(tmp))
            print("\n" + markdown)
            common.write_results("data_throughput", TITLE, figures, markdown, args=args,
                                 section=key, heading=heading,
                                 threads=args.threads or "automatic",
                                 headline="prepare vs a PIL loop; streamed vs in-memory "
                                 "training images/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
