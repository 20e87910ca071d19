"""A run's JSONL log (``RUN_DIR/log.jsonl``): read back, cut back for a resume, and the
quality monitor's records picked out of it."""

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


# Log keys of the quality monitor that are not scores to plot.
_NOT_METRICS = {"step", "collapse_warning"}


def metric_records(records: list[dict]) -> list[dict]:
    """The quality monitor's records (``fid``, ``modes``, ``probe_modes`` ...), in step order."""
    return [r for r in records if "loss_d" not in r and "step" in r
            and any(k not in _NOT_METRICS for k in r)]


def metric_names(records: list[dict]) -> list[str]:
    """The scores the monitor logged (fid, modes, probe_modes, ...), in order of appearance."""
    names: list[str] = []
    for record in metric_records(records):
        names += [k for k, v in record.items() if k not in _NOT_METRICS and k not in names
                  and isinstance(v, (int, float))]
    return names
