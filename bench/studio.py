"""The studio's latency per interaction, with one client and with 8 at once, and what its
web stack weighs against Gradio's (install size, import time).

Latency: a ``gankit studio`` server (a subprocess, as a user starts it) over a default-preset
run, asked over HTTP: a 4x4 generated grid, one walk frame, one inpainting (the lower half
of a held-out digit, the studio's default search) and one projection (the same digit, the
studio's default search); p50 and p95 of each with one client, then with 8 clients asking at
the same time. Targets with one client: generate and walk under 200 ms p95, one inpainting
under 2 s, one projection under 5 s.

Libraries: the site-packages a fresh virtual environment gains with each stack installed
(Starlette + uvicorn + python-multipart; Gradio), and the seconds ``import`` takes there
(best of 5, less the interpreter's own start-up). The Starlette stack's venv is made here;
Gradio's needs ``--gradio-venv PATH`` (a venv with gradio installed) or ``--install-gradio``
(pip installs it into ``--venvs``); without either that row is skipped with a note.

    python bench/studio.py                                   # both parts; a few minutes
    python bench/studio.py --part libraries --install-gradio
    python bench/studio.py --part latency --train-steps 50 --repeats 3 --search-repeats 1 --no-write

The figures go to ``docs/results/studio-<kind>.md`` (``--no-write``: printed only).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import common

sys.path.insert(0, str(common.ROOT / "tests" / "studio"))
import driver  # noqa: E402  (tests/studio/driver.py: the studio as a subprocess)

TITLE = "gankit studio: latency per interaction, and its web stack against Gradio's"
TARGETS = {"generate": 0.2, "walk": 0.2, "inpaint": 2.0, "project": 5.0}  # p95 seconds
STACKS = {"Starlette + uvicorn + python-multipart": (
    ["starlette", "uvicorn", "python-multipart"], "import starlette.applications, uvicorn, "
                                                  "multipart"),
          "Gradio": (["gradio"], "import gradio")}


# --- latency ----------------------------------------------------------------------------------

def requests(digit_png: bytes) -> dict:
    """interaction -> (path, keyword arguments of httpx's post) of one request."""
    upload = {"image": ("digit.png", digit_png, "image/png")}
    return {"generate": ("/api/generate", {"json": {"run": 0, "seed": 1, "grid": 4}}),
            "walk": ("/api/walk", {"json": {"run": 0, "seed_a": 1, "seed_b": 2, "frames": 16,
                                            "frame": 5, "amounts": [1.0, 0, 0, 0, 0]}}),
            "inpaint": ("/api/inpaint", {"data": {"run": 0, "box": "0,14,28,14"},
                                         "files": upload}),
            "project": ("/api/project", {"data": {"run": 0}, "files": upload})}


def timed_requests(url: str, path: str, kwargs: dict, count: int) -> list[float]:
    """Seconds of ``count`` requests in a row from one client."""
    import httpx

    seconds = []
    with httpx.Client(base_url=url, headers={"x-gankit-studio": "1"}, timeout=600) as client:
        for _ in range(count):
            started = time.perf_counter()
            response = client.post(path, **kwargs)
            seconds.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise SystemExit(f"{path}: {response.status_code} {response.text[:300]}")
    return seconds


def concurrent(url: str, path: str, kwargs: dict, clients: int, count: int) -> list[float]:
    """Seconds of every request of ``clients`` clients asking ``count`` times each, all at
    once."""
    results: list[list[float]] = [[] for _ in range(clients)]
    threads = [threading.Thread(target=lambda i=i: results[i].extend(
        timed_requests(url, path, kwargs, count))) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [s for part in results for s in part]


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile (nearest rank) of ``values``."""
    import math

    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def latency(args) -> tuple[dict, str]:
    """(figures, Markdown) of the latency part."""
    from gankit.data.embedded import load_mnist5k
    from gankit.evaluation.metrics.extractors import split_mnist5k
    from PIL import Image
    import io

    work = Path(args.work)
    run_dir = work / "run"
    if not (run_dir / "checkpoints").is_dir():
        common.train(["--preset", "default", "--steps", str(args.train_steps)], run_dir)
    _, held_out = split_mnist5k(5000, 500, seed=0)
    buffer = io.BytesIO()
    Image.fromarray(load_mnist5k().samples[int(held_out[0]), 0].numpy()).save(buffer, "PNG")
    started = time.perf_counter()
    figures, rows = {"clients": args.clients}, []
    with driver.Server([run_dir], "--workers", str(args.workers)) as server:
        figures["server_start_seconds"] = round(time.perf_counter() - started, 2)
        for name, (path, kwargs) in requests(buffer.getvalue()).items():
            count = args.repeats if name in ("generate", "walk") else args.search_repeats
            timed_requests(server.url, path, kwargs, 1)  # warm-up
            alone = timed_requests(server.url, path, kwargs, count)
            together = concurrent(server.url, path, kwargs, args.clients, count)
            p95 = percentile(alone, 0.95)
            figures[name] = {"requests": count, "p50": round(statistics.median(alone), 4),
                             "p95": round(p95, 4), "target_p95": TARGETS[name],
                             "concurrent_p50": round(statistics.median(together), 4),
                             "concurrent_p95": round(percentile(together, 0.95), 4)}
            rows.append([name, count, f"{statistics.median(alone) * 1000:.0f}",
                         f"{p95 * 1000:.0f}", f"< {TARGETS[name] * 1000:.0f}",
                         "yes" if p95 < TARGETS[name] else "**no**",
                         f"{statistics.median(together) * 1000:.0f}",
                         f"{percentile(together, 0.95) * 1000:.0f}"])
            print(f"{name}: p50 {rows[-1][2]} ms, p95 {rows[-1][3]} ms; {args.clients} "
                  f"clients: p95 {rows[-1][7]} ms", flush=True)
    markdown = (f"A `gankit studio` server (subprocess, `--workers {args.workers}`) over the "
                f"default preset trained {args.train_steps} steps; HTTP requests from "
                f"Python (httpx) on the same machine. generate: a 4×4 grid; walk: one frame "
                f"of 16 with a SeFa amount; inpaint: the lower half of a held-out digit; "
                f"project: the same digit (the studio's default searches). Milliseconds.\n\n"
                + common.table(["interaction", "requests", "p50", "p95", "target p95",
                                "met", f"p50, {args.clients} clients",
                                f"p95, {args.clients} clients"], rows)
                + f"\n\nThe server started (runs loaded, port open) in "
                f"{figures['server_start_seconds']:.1f} s.")
    return figures, markdown


# --- the web stacks ---------------------------------------------------------------------------

def site_packages_mib(venv: Path) -> float:
    """MiB (2**20 bytes) of the files under the venv's site-packages."""
    found = next(venv.glob("lib/python*/site-packages"))
    return sum(p.stat().st_size for p in found.rglob("*") if p.is_file()) / 2 ** 20


def import_seconds(python: Path, statement: str, repeats: int = 5) -> float:
    """Best-of-``repeats`` wall seconds of ``python -c statement`` less ``python -c pass``."""
    def best(code: str) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run([str(python), "-c", code], check=True, capture_output=True)
            times.append(time.perf_counter() - started)
        return min(times)
    return best(statement) - best("pass")


def make_venv(folder: Path, packages: list[str]) -> Path:
    """A virtual environment at ``folder`` with ``packages`` pip-installed (kept if there)."""
    if not (folder / "bin" / "python").is_file():
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        if packages:
            subprocess.run([str(folder / "bin" / "pip"), "install", "--quiet",
                            "--disable-pip-version-check", *packages], check=True)
    return folder


def version(python: Path, package: str) -> str:
    done = subprocess.run([str(python), "-c", "import importlib.metadata as m, sys; "
                           f"print(m.version({package!r}))"], capture_output=True, text=True)
    return done.stdout.strip() or "?"


def libraries(args) -> tuple[dict, str]:
    """(figures, Markdown) of the libraries part."""
    venvs = Path(args.venvs)
    empty = site_packages_mib(make_venv(venvs / "empty", []))
    given = {"Gradio": Path(args.gradio_venv) if args.gradio_venv else
             (venvs / "gradio" if args.install_gradio else None)}
    figures, rows, notes = {"empty_venv_mib": round(empty, 1)}, [], []
    for name, (packages, statement) in STACKS.items():
        folder = given.get(name, venvs / "starlette")
        if folder is None:
            notes.append(f"{name}: not measured (give --gradio-venv PATH or --install-gradio)")
            continue
        python = make_venv(folder, packages) / "bin" / "python"
        size = site_packages_mib(folder) - empty
        seconds = import_seconds(python, statement)
        versions = ", ".join(f"{p} {version(python, p)}" for p in packages)
        figures[name] = {"installed_mib": round(size, 1), "import_seconds": round(seconds, 3),
                         "versions": versions}
        rows.append([name, versions, f"{size:.0f}", f"{seconds:.2f}"])
        print(f"{name}: {size:.0f} MiB, import {seconds:.2f} s", flush=True)
    static = common.ROOT / "gankit" / "studio" / "static"
    page_kib = sum(p.stat().st_size for p in static.iterdir()) / 1024
    figures["studio_page_kib"] = round(page_kib, 1)
    markdown = ("What a fresh virtual environment (this Python, `python -m venv`, pip from the "
                "registry) gains with each stack: its site-packages less an empty venv's "
                f"({empty:.0f} MiB: pip), and `import` in a fresh interpreter, best of 5, less "
                "the interpreter's own start-up.\n\n"
                + common.table(["stack", "versions", "installed MiB", "import seconds"], rows)
                + f"\n\nThe studio's page (HTML, CSS, JavaScript, no build step) is "
                f"{page_kib:.0f} KiB." + "".join(f"\n\n{note}." for note in notes))
    return figures, markdown


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--part", choices=("all", "latency", "libraries"), default="all")
    parser.add_argument("--work", default="/tmp/gankit-studio-bench", help="folder for the run")
    parser.add_argument("--train-steps", type=int, default=300, help="the run's training "
                        "steps (latency does not depend on them)")
    parser.add_argument("--repeats", type=int, default=30, help="requests per client of "
                        "generate and walk")
    parser.add_argument("--search-repeats", type=int, default=5, help="requests per client "
                        "of inpaint and project")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=2, help="gankit studio --workers")
    parser.add_argument("--venvs", default="/tmp/gankit-studio-venvs", help="where the "
                        "measured virtual environments are made (and kept)")
    parser.add_argument("--gradio-venv", default=None, metavar="PATH",
                        help="a venv with gradio installed, to measure")
    parser.add_argument("--install-gradio", action="store_true",
                        help="pip install gradio into VENVS/gradio to measure it")
    args = parser.parse_args()
    print(common.machine_line())
    parts = ("latency", "libraries") if args.part == "all" else (args.part,)
    for part in parts:
        figures, markdown = (latency if part == "latency" else libraries)(args)
        print("\n" + markdown + "\n")
        names = {"latency": {"train_steps", "repeats", "search_repeats", "clients", "workers"},
                 "libraries": set()}[part]
        key = common.changed(parser, args, names)
        heading = {"latency": "Latency per interaction", "libraries": "The web stack"}[part]
        common.write_results("studio", TITLE, figures, markdown, args=args,
                             section=f"{part} {key}".strip(),
                             heading=heading + (f" (`{key}`)" if key else ""),
                             headline=_headline(part, figures))


def _headline(part: str, figures: dict) -> str:
    if part == "latency":
        return ", ".join(f"{name} p95 {figures[name]['p95'] * 1000:.0f} ms"
                         for name in TARGETS if name in figures)
    stack = figures.get("Starlette + uvicorn + python-multipart", {})
    gradio = figures.get("Gradio")
    text = f"Starlette stack {stack.get('installed_mib', '?')} MiB"
    return text + (f", Gradio {gradio['installed_mib']} MiB" if gradio else "")


if __name__ == "__main__":
    main()
