"""``gankit watch RUN_DIR``: a terminal view of a run, for users without TensorBoard.

Every ``interval`` seconds it reads ``log.jsonl``, redraws the loss plot (``loss.png``, the
file the loop writes at the end) when the log has grown, and prints the newest sample grid's
path, the loss plot's path and unicode sparklines of the recent losses, D(x), D(G(z)) and
any logged scores. On a terminal the screen is redrawn in place; piped, a new block is
printed only when the log changed. Ctrl-C ends it (exit code 0).
"""

from __future__ import annotations

import math
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TextIO

from gankit.errors import UserError
from gankit.training.charts import loss_png
from gankit.training.run_log import metric_records, read_log

BARS = "▁▂▃▄▅▆▇█"
SERIES = (("loss_d", "loss D"), ("loss_g", "loss G"), ("d_real", "D(x)"), ("d_fake", "D(G(z))"))


def sparkline(values: list[float], width: int = 40) -> str:
    """The last ``width`` values as bars ▁..█ scaled between their min and max.

    A constant series is a row of mid-height bars; a non-finite value is ``!``.
    """
    values = list(values)[-width:] if width > 0 else []
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "!" * len(values)
    low, high = min(finite), max(finite)
    out = []
    for v in values:
        if not math.isfinite(v):
            out.append("!")
        elif high == low:
            out.append(BARS[len(BARS) // 2 - 1])
        else:
            out.append(BARS[min(len(BARS) - 1, int((v - low) / (high - low) * len(BARS)))])
    return "".join(out)


def latest_grid(run_dir: Path) -> Path | None:
    """The newest ``samples/step_*.png`` (by step), or ``samples/final.png``, or None."""
    from gankit.apps.report import sample_grid_files

    grids = sample_grid_files(run_dir, limit=1)
    final = run_dir / "samples" / "final.png"
    candidates = [p for _, p in grids] + ([final] if final.is_file() else [])
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def refresh_loss_plot(run_dir: Path, records: list[dict]) -> Path | None:
    """Redraw ``RUN_DIR/loss.png`` when the log is newer than it; return its path.

    A run directory we may not write to gets the plot in the temporary directory instead.
    """
    log, plot = run_dir / "log.jsonl", run_dir / "loss.png"
    if plot.is_file() and log.is_file() and plot.stat().st_mtime >= log.stat().st_mtime:
        return plot
    png = loss_png(records)
    if png is None:
        return plot if plot.is_file() else None
    from gankit.training.checkpoint import _atomic_write_bytes

    try:
        _atomic_write_bytes(plot, lambda handle: handle.write(png))
    except OSError:
        plot = Path(tempfile.gettempdir()) / f"gankit-watch-{run_dir.resolve().name}-loss.png"
        plot.write_bytes(png)
    return plot


def status(run_dir: str | Path, width: int = 40, plot: bool = True) -> str:
    """The text ``gankit watch`` prints for a run (several lines, no trailing newline)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run directory not found: {run_dir}")
    if not (run_dir / "config.json").is_file() and not (run_dir / "log.jsonl").is_file():
        raise UserError(f"{run_dir} is not a gankit run (no config.json or log.jsonl)")
    records = read_log(run_dir / "log.jsonl")
    rows = [r for r in records if "loss_d" in r]
    lines = []
    if rows:
        last = rows[-1]
        age = time.time() - (run_dir / "log.jsonl").stat().st_mtime
        lines.append(f"{run_dir}  step {last['step']}  epoch {last.get('epoch', '?')}  "
                     f"{last.get('images_per_s', 0):.0f} img/s  (log updated {age:.0f} s ago)")
        label_width = len("probe_modes")  # the longest label
        for key, label in SERIES:
            values = [float(r[key]) for r in rows if key in r]
            if values:
                lines.append(f"  {label:<{label_width}}  {sparkline(values, width):<{width}}  "
                             f"{values[-1]:.4f}")
        scored = metric_records(records)
        for key in ("fid", "modes", "probe_modes"):
            values = [float(r[key]) for r in scored if key in r]
            if values:
                lines.append(f"  {key:<{label_width}}  {sparkline(values, width):<{width}}  "
                             f"{values[-1]:.4g}")
        warned = [r["step"] for r in scored if r.get("collapse_warning")]
        if warned:
            lines.append(f"  warning: possible mode collapse at step "
                         f"{', '.join(map(str, warned[-5:]))}")
    else:
        lines.append(f"{run_dir}  no training records in log.jsonl yet")
    grid = latest_grid(run_dir)
    lines.append(f"  grid: {grid if grid else '(none yet)'}")
    loss_plot = refresh_loss_plot(run_dir, records) if plot else None
    lines.append(f"  plot: {loss_plot if loss_plot else '(none yet)'}")
    return "\n".join(lines)


def watch(run_dir: str | Path, interval: float = 5.0, once: bool = False,
          out: TextIO | None = None, width: int = 40) -> int:
    """Print :func:`status` now and every ``interval`` seconds until Ctrl-C; return 0."""
    out = out or sys.stdout
    if not (interval > 0 and math.isfinite(interval)):
        raise UserError(f"--interval must be a number of seconds > 0, got {interval}")
    run_dir = Path(run_dir)
    if once:
        print(status(run_dir, width), file=out, flush=True)
        return 0
    tty = out.isatty() and os.environ.get("TERM") != "dumb"
    log = run_dir / "log.jsonl"
    seen: object = None
    stop: list[bool] = []  # Ctrl-C appends to it; see _stop_on_ctrl_c
    previous = _stop_on_ctrl_c(stop)
    try:
        while not stop:
            # the log's stamp is taken before it is read: a line written in between shows
            # up at the next refresh instead of being missed
            stamp = (log.stat().st_mtime_ns, log.stat().st_size) if log.is_file() else "none"
            text = status(run_dir, width)
            if tty:
                # cursor home + clear to the end: redraw in place
                out.write("\033[H\033[J" + text + "\n\n(Ctrl-C to stop)\n")
                out.flush()
            elif stamp != seen:
                print(text + "\n", file=out, flush=True)
            seen = stamp
            _sleep_unless(stop, interval)
        if tty:
            out.write("\n")
        return 0
    except KeyboardInterrupt:  # no handler of ours (not the main thread)
        if tty:
            out.write("\n")
        return 0
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _stop_on_ctrl_c(stop: list[bool]):
    """In the main thread, make Ctrl-C append to ``stop`` instead of raising
    KeyboardInterrupt, and return the handler it replaced (None elsewhere).

    Why: a KeyboardInterrupt raised while a finaliser runs (a figure or file being
    collected during a refresh) is swallowed by Python, and the loop went on forever.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, lambda signum, frame: stop.append(True))
    return signal.default_int_handler if previous is None else previous


def _sleep_unless(stop: list[bool], seconds: float) -> None:
    """Sleep ``seconds`` in short slices, returning early once ``stop`` is set."""
    deadline = time.monotonic() + seconds
    while not stop and (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.1))
