"""A run's JSONL log: read back, cut back for a resume, and drawn as loss and metric curves.

Training draws ``RUN_DIR/loss.png`` with :func:`plot_losses`; ``gankit report``
(:mod:`gankit.apps.report`) and ``gankit watch`` (:mod:`gankit.apps.watch`) draw the same
figures from the same records.
"""

from __future__ import annotations

import json
from pathlib import Path


def read_log(path: str | Path) -> list[dict]:
    """All records of a ``log.jsonl``; a torn last line (crash mid-write) is skipped."""
    records = []
    path = Path(path)
    if not path.is_file():
        return records
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def truncate_log(path: str | Path, last_step: int) -> None:
    """Drop records after ``last_step`` (and torn lines), e.g. before resuming at that step."""
    from gankit.training.checkpoint import atomic_write_text

    path = Path(path)
    if path.is_file():
        kept = [json.dumps(r) + "\n" for r in read_log(path) if r.get("step", 0) <= last_step]
        atomic_write_text(path, "".join(kept))


def loss_png(records: list[dict]) -> bytes | None:
    """PNG bytes of loss_d/loss_g (top) and D(x)/D(G(z)) (bottom) against step, drawn with
    Pillow (:mod:`gankit.training.line_chart`: no matplotlib import at the end of a run).

    ``records`` are log records; only those with ``loss_d`` are used. None when there are none.
    """
    from gankit.training.line_chart import Panel, draw, png_bytes

    rows = [r for r in records if "loss_d" in r]
    if not rows:
        return None
    steps = [r["step"] for r in rows]

    def curves(*keys_labels):  # a training kind logs the statistics it has
        return [(label, steps, [float(r[key]) for r in rows])
                for key, label in keys_labels if all(key in r for r in rows)]

    return png_bytes(draw([
        Panel(curves(("loss_d", "loss D"), ("loss_g", "loss G")), ylabel="loss"),
        Panel(curves(("d_real", "D(x)"), ("d_fake", "D(G(z))")), ylabel="mean sigmoid(D)",
              ylim=(0.0, 1.0)),
    ], xlabel="step"))


# Log keys of the quality monitor that are not scores to plot.
_NOT_METRICS = {"step", "collapse_warning"}


def metric_records(records: list[dict]) -> list[dict]:
    """The quality monitor's records (``fid``, ``modes``, ``probe_modes`` ...), in step order."""
    return [r for r in records if "loss_d" not in r and "step" in r
            and any(k not in _NOT_METRICS for k in r)]


def metric_figure(records: list[dict]):
    """One panel per logged score (fid, modes, probe_modes, ...) against step, or None."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = metric_records(records)
    names = []
    for r in rows:
        names += [k for k, v in r.items() if k not in _NOT_METRICS and k not in names
                  and isinstance(v, (int, float))]
    if not names:
        return None
    fig, axes = plt.subplots(len(names), 1, figsize=(8, 2.2 * len(names) + 0.6), sharex=True,
                             squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        points = [(r["step"], r[name]) for r in rows if name in r]
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3)
        ax.set_ylabel(name)
        warned = [r["step"] for r in rows if r.get("collapse_warning")]
        for step in warned:
            ax.axvline(step, color="tab:red", alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    return fig


def figure_png(fig, dpi: int = 100) -> bytes:
    """Render a matplotlib figure to PNG bytes and close it."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()


def plot_losses(log_path: str | Path, out_png: str | Path) -> Path | None:
    """Plot loss_d/loss_g and D(x)/D(G(z)) against step into ``out_png``.

    Returns the path, or None when the log has no training records yet.
    """
    png = loss_png(read_log(log_path))
    if png is None:
        return None
    out_png = Path(out_png)
    out_png.write_bytes(png)
    return out_png
