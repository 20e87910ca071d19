"""The run panel: what ``gankit report`` shows of a run, as JSON for the page.

The log's training curves (the numbers, and the report's loss plot drawn from them), the
quality monitor's scores and their plot, the mode-collapse warnings, the fixed-noise grids
as training went on and the final grid. It reads the run's ``log.jsonl`` and
``samples/*.png`` at each request (a run still training shows its progress), and only
those fixed names inside a run directory named at start.
"""

from __future__ import annotations

from gankit.studio.runs import StudioRun

CURVES = ("loss_d", "loss_g", "d_real", "d_fake")  # what the report's loss plot draws


def _uri(png: bytes | None) -> str | None:
    from gankit.apps.report import png_data_uri

    return None if png is None else png_data_uri(png)


def curves(records: list[dict]) -> dict[str, list[float]]:
    """``{"step": [...], "loss_d": [...], ...}`` of the log's training records (those with
    ``loss_d``), for each statistic every one of them has."""
    rows = [r for r in records if "loss_d" in r]
    found = {"step": [int(r["step"]) for r in rows]}
    for key in CURVES:
        if rows and all(key in r for r in rows):
            found[key] = [float(r[key]) for r in rows]
    return found


def scores(records: list[dict]) -> dict[str, list[list[float]]]:
    """``{"fid": [[step, value], ...], ...}`` of the quality monitor's records."""
    from gankit.training.run_log import metric_names, metric_records

    rows = metric_records(records)
    return {name: [[int(r["step"]), float(r[name])] for r in rows if name in r]
            for name in metric_names(records)}


def history(sr: StudioRun) -> dict:
    """The run panel's JSON: ``curves``, ``scores``, ``loss_plot``, ``score_plot``,
    ``warnings``, ``samples`` ([{"step", "image"}], oldest first) and ``final``."""
    from gankit.apps.report import collapse_warnings, sample_grid_files
    from gankit.training.charts import loss_png, metric_png
    from gankit.training.run_log import read_log

    records = read_log(sr.run_dir / "log.jsonl")
    final = sr.run_dir / "samples" / "final.png"
    return {"name": sr.name, "step": int(sr.run.step), "preset": sr.run.config.preset,
            "curves": curves(records), "scores": scores(records),
            "loss_plot": _uri(loss_png(records)), "score_plot": _uri(metric_png(records)),
            "warnings": collapse_warnings(records),
            "samples": [{"step": step, "image": _uri(path.read_bytes())}
                        for step, path in sample_grid_files(sr.run_dir)],
            "final": _uri(final.read_bytes()) if final.is_file() else None}
