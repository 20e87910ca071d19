"""Pictures of a run: the loss curves from its JSONL log."""

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


def plot_losses(log_path: str | Path, out_png: str | Path) -> Path | None:
    """Plot loss_d/loss_g and D(x)/D(G(z)) against step into ``out_png``.

    Returns the path, or None when the log has no training records yet.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in read_log(log_path) if "loss_d" in r]
    if not rows:
        return None
    steps = [r["step"] for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    top.plot(steps, [r["loss_d"] for r in rows], label="loss D")
    top.plot(steps, [r["loss_g"] for r in rows], label="loss G")
    top.set_ylabel("loss")
    top.legend()
    bottom.plot(steps, [r["d_real"] for r in rows], label="D(x)")
    bottom.plot(steps, [r["d_fake"] for r in rows], label="D(G(z))")
    bottom.set_ylim(0, 1)
    bottom.set_xlabel("step")
    bottom.set_ylabel("mean sigmoid(D)")
    bottom.legend()
    fig.tight_layout()
    out_png = Path(out_png)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png
