"""``gankit report RUN_DIR``: one self-contained HTML page about a run.

The page holds the config, the loss curves (D and G, D(x) and D(G(z))), the quality
monitor's metric curves when the log has them, the fixed-noise sample grids as training
went on, the final grid, the mode-collapse warnings of the log and the sections of the
run's training kind (a noise-to-image run: the nearest real neighbours of a few samples, a
memorisation check; a translation run: its held-out scores). Every image is embedded as a
``data:image/png;base64`` URI and the styles are inline, so the file opens in any browser
with no network and can be mailed or archived as it is.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import json
import re
from dataclasses import replace
from pathlib import Path

import torch

from gankit.apps.kinds import report_sections
from gankit.errors import UserError
from gankit.training.charts import loss_png, metric_png
from gankit.training.run_log import metric_records, read_log

_STEP_GRID = re.compile(r"step_(\d+)\.png$")


# --- pure helpers ------------------------------------------------------------------------------

def png_data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` for PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def tensor_png(image_u8: torch.Tensor) -> bytes:
    """One uint8 image (C, H, W), C = 1 or 3, as PNG bytes."""
    from PIL import Image

    assert image_u8.dtype == torch.uint8 and image_u8.dim() == 3, image_u8.shape
    array = image_u8.permute(1, 2, 0).cpu().numpy()
    buffer = io.BytesIO()
    Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(buffer, "PNG")
    return buffer.getvalue()


def nearest_neighbours(queries_u8: torch.Tensor, real_u8: torch.Tensor, k: int = 3,
                       exclude: torch.Tensor | None = None, chunk: int = 4096
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest real images of each query by L2 distance in pixel space.

    queries_u8: uint8 (Q, C, H, W); real_u8: uint8 (N, C, H, W), same C, H, W. Pixels are
    scaled to [0, 1] first, so a distance of 1 is one pixel (one channel) going from black
    to white. ``exclude``: int64 (Q,) index into ``real_u8`` that query q may not match
    (itself, for real-to-real baselines). Returns distances float32 (Q, k), ascending, and
    indices int64 (Q, k).
    """
    if queries_u8.shape[1:] != real_u8.shape[1:]:
        raise UserError(f"samples {tuple(queries_u8.shape[1:])} and training images "
                        f"{tuple(real_u8.shape[1:])} differ in shape")
    k = min(k, len(real_u8) - (1 if exclude is not None else 0))
    q = queries_u8.reshape(len(queries_u8), -1).float() / 255.0
    best_d = torch.full((len(q), 0), float("inf"))
    best_i = torch.zeros((len(q), 0), dtype=torch.long)
    for start in range(0, len(real_u8), chunk):
        r = real_u8[start:start + chunk].reshape(-1, q.shape[1]).float().cpu() / 255.0
        d = torch.cdist(q, r, compute_mode="donot_use_mm_for_euclid_dist")  # exact zeros
        if exclude is not None:
            local = exclude - start
            hit = (local >= 0) & (local < len(r))
            d[hit.nonzero().flatten(), local[hit]] = float("inf")
        idx = torch.arange(start, start + len(r)).expand(len(q), -1)
        all_d = torch.cat([best_d, d], 1)
        all_i = torch.cat([best_i, idx], 1)
        best_d, order = all_d.topk(min(k, all_d.shape[1]), dim=1, largest=False)
        best_i = all_i.gather(1, order)
    return best_d, best_i


def sample_grid_files(run_dir: Path, limit: int = 12) -> list[tuple[int, Path]]:
    """``samples/step_*.png`` as (step, path), oldest first, thinned evenly to ``limit``
    (the first and the last are always kept)."""
    folder = Path(run_dir) / "samples"
    found = sorted((int(m.group(1)), p) for p in folder.glob("step_*.png")
                   if (m := _STEP_GRID.match(p.name))) if folder.is_dir() else []
    if len(found) <= limit or limit < 2:
        return found[-limit:] if limit > 0 else []
    picks = sorted({round(i * (len(found) - 1) / (limit - 1)) for i in range(limit)})
    return [found[i] for i in picks]


def collapse_warnings(records: list[dict]) -> list[str]:
    """The log's mode-collapse warnings (``collapse_warning`` records) as sentences."""
    lines, best, best_step = [], -1, 0
    for r in metric_records(records):
        modes = r.get("probe_modes")
        if r.get("collapse_warning"):
            text = f"step {r['step']}: possible mode collapse"
            if modes is not None:
                text += f": the probe batch covers {modes:g} classes"
                if best >= 0:
                    text += f" (it covered {best:g} at step {best_step})"
            lines.append(text)
        if modes is not None and modes > best:
            best, best_step = modes, r["step"]
    return lines


# --- the page ---------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1100px; padding: 0 1em; color: #222; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc;
       padding-bottom: 0.2em; margin-top: 1.6em; }
.meta { color: #666; } .note { color: #666; font-style: italic; }
.warn { background: #fff3f3; border-left: 4px solid #d33; padding: 0.5em 1em; }
.ok { background: #f3fff3; border-left: 4px solid #3a3; padding: 0.5em 1em; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 0.85em; }
img.pix { image-rendering: pixelated; image-rendering: crisp-edges; }
.strip { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; text-align: center; } figcaption { font-size: 0.85em; color: #444; }
table.nn td { padding: 2px 6px; text-align: center; font-size: 0.8em; vertical-align: top; }
table.nn td.sample { border-right: 2px solid #888; }
table.summary td { padding: 2px 12px 2px 0; }
"""


def _img(png: bytes, alt: str, scale: int = 1, pixelated: bool = True, min_width: int = 0
         ) -> str:
    """An <img> with the PNG inline, shown at a whole multiple of its size (>= min_width)."""
    from PIL import Image

    width = Image.open(io.BytesIO(png)).size[0]
    scale = max(scale, -(-min_width // max(width, 1)))
    cls = ' class="pix"' if pixelated else ""
    return (f'<img{cls} alt="{html.escape(alt)}" width="{width * scale}" '
            f'src="{png_data_uri(png)}">')


def _neighbours_section(run_dir: Path, cfg, n: int, k: int, seed: int, device: str) -> str:
    from gankit.data import load_dataset
    from gankit.apps.sampling import load, sample

    try:
        run = load(run_dir, device=device)
    except UserError as exc:
        return f'<p class="note">No samples: {html.escape(str(exc))}.</p>'
    try:
        data = load_dataset(replace(cfg.data, download=False))
    except UserError as exc:
        return (f'<p class="note">The training data is not available here, so the '
                f'memorisation check was skipped: {html.escape(str(exc))}</p>')
    fakes = sample(run, n=n, seed=seed)
    dist, idx = nearest_neighbours(fakes, data.samples, k=k)
    # The scale of "near": how far real images are from their own nearest other real image.
    generator = torch.Generator().manual_seed(seed)
    probe = torch.randperm(len(data.samples), generator=generator)[:min(64, len(data.samples))]
    real_d, _ = nearest_neighbours(data.samples[probe], data.samples, k=1, exclude=probe)
    baseline = float(real_d[:, 0].median()) if real_d.numel() else float("nan")
    rows, copies = [], 0
    for i in range(len(fakes)):
        near = float(dist[i, 0])
        copy = baseline == baseline and near < 0.5 * baseline
        copies += copy
        cells = [f'<td class="sample">{_img(tensor_png(fakes[i]), f"sample {i}", 3)}<br>'
                 f'sample {i}{" <b>near copy</b>" if copy else ""}</td>']
        for j in range(dist.shape[1]):
            real = data.samples[int(idx[i, j])]
            cells.append(f'<td>{_img(tensor_png(real), f"real #{int(idx[i, j])}", 3)}<br>'
                         f'#{int(idx[i, j])}<br>L2 {float(dist[i, j]):.2f}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    verdict = (f'<p class="warn">{copies} of {len(fakes)} samples lie closer to a training '
               'image than half the typical real-to-real distance: possible memorisation.</p>'
               if copies else
               '<p class="ok">No sample is closer to a training image than half the typical '
               'real-to-real distance.</p>')
    return (f'<p>{len(fakes)} samples (seed {seed}) from the generator at step {run.step}, '
            f'each with its {dist.shape[1]} nearest images among the {len(data.samples)} '
            f'training images of <code>{html.escape(data.name)}</code> by L2 distance in '
            f'pixel space (pixels in [0, 1]). For scale: the median distance from a real '
            f'image to its nearest other real image is {baseline:.2f}.</p>{verdict}'
            f'<table class="nn">{"".join(rows)}</table>')


def _read_run(run_dir: Path, out: str | Path | None, neighbours: int, k: int, max_grids: int):
    """The run's config and the report's path; a UserError for a bad run or bad options."""
    from gankit.config import from_dict

    if not run_dir.is_dir():
        raise UserError(f"run directory not found: {run_dir}")
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise UserError(f"{run_dir} is not a gankit run (no config.json)")
    if neighbours < 0 or k < 1 or max_grids < 0:
        raise UserError("neighbours and max_grids must be >= 0 and k >= 1")
    try:
        cfg = from_dict(json.loads(config_path.read_text()))
    except ValueError as exc:
        raise UserError(f"{config_path} is not a valid gankit config: {exc}") from None
    out = Path(out) if out is not None else run_dir / "report.html"
    if out.is_dir():
        raise UserError(f"--out {out} is a directory; give a file name such as report.html")
    return cfg, out


def _summary_parts(records: list[dict], cfg) -> list[str]:
    """The table of where training stopped, and the preset's description."""
    parts: list[str] = []
    train_rows = [r for r in records if "loss_d" in r]
    if train_rows:
        last = train_rows[-1]
        summary = {"steps": last["step"], "epoch": last.get("epoch"),
                   "images seen": f"{last.get('kimg', 0):.1f} k",
                   "seconds": last.get("seconds"), "last loss D / G":
                   f"{last['loss_d']:.4f} / {last['loss_g']:.4f}",
                   "last D(x) / D(G(z))": f"{last['d_real']:.3f} / {last['d_fake']:.3f}"}
        scored = [r for r in metric_records(records) if "fid" in r]
        if scored:
            summary["last FID"] = f"{scored[-1]['fid']:.2f} (step {scored[-1]['step']})"
        parts.append('<table class="summary">' + "".join(
            f"<tr><td>{html.escape(k)}</td><td><b>{html.escape(str(v))}</b></td></tr>"
            for k, v in summary.items() if v is not None) + "</table>")
    if cfg.description:
        parts.append(f"<p>{html.escape(cfg.description)}</p>")
    return parts


def _training_parts(run_dir: Path, records: list[dict], max_grids: int) -> list[str]:
    """The final grid, the loss curves and the fixed-noise grids as training went on."""
    # --- samples: the final grid first, it is what a reader looks for ---
    parts = ["<h2>Final samples</h2>"]
    final = run_dir / "samples" / "final.png"
    if final.is_file():
        parts.append(_img(final.read_bytes(), "final samples", min_width=480))
    else:
        parts.append('<p class="note">No samples/final.png yet.</p>')

    # --- losses ---
    parts.append("<h2>Losses</h2>")
    png = loss_png(records)
    if png is None:
        parts.append('<p class="note">The log has no training records yet.</p>')
    else:
        parts.append(_img(png, "loss curves", pixelated=False))

    # --- samples during training ---
    parts.append("<h2>Samples during training (fixed noise)</h2>")
    grids = sample_grid_files(run_dir, max_grids)
    if grids:
        parts.append('<div class="strip">' + "".join(
            f"<figure>{_img(p.read_bytes(), f'step {s}', min_width=200)}<figcaption>step {s}"
            f"</figcaption></figure>" for s, p in grids) + "</div>")
    else:
        parts.append('<p class="note">No sample grids in samples/.</p>')
    return parts


def _quality_parts(records: list[dict]) -> list[str]:
    """The metric curves and the mode-collapse warnings of the log."""
    parts = ["<h2>Quality metrics</h2>"]
    png = metric_png(records)
    if png is None:
        parts.append('<p class="note">No metrics in the log (train with --eval-every N to '
                     'log FID and mode counts).</p>')
    else:
        parts.append(_img(png, "metric curves", pixelated=False))
    parts.append("<h2>Mode collapse</h2>")
    warnings = collapse_warnings(records)
    monitored = any("probe_modes" in r for r in records)
    if warnings:
        parts.append('<div class="warn"><ul>' + "".join(f"<li>{html.escape(w)}</li>"
                                                        for w in warnings) + "</ul></div>")
    elif monitored:
        parts.append('<p class="ok">No mode-collapse warnings in the log.</p>')
    else:
        parts.append('<p class="note">No mode-collapse warnings in the log (the collapse '
                     'monitor runs on gray digit data sets, once an epoch).</p>')
    return parts


def generation_sections(run_dir: Path, cfg, *, neighbours: int, k: int, seed: int,
                        device: str, root: str | None) -> list[str]:
    """A noise-to-image run's own section: the memorisation check (none when
    ``neighbours`` is 0), on the run's data set found under ``root`` (default: where the
    run found it)."""
    if not neighbours:
        return []
    found = cfg if root is None else replace(cfg, data=replace(cfg.data, root=root))
    return ["<h2>Nearest real neighbours (memorisation check)</h2>",
            _neighbours_section(run_dir, found, neighbours, k, seed, device)]


def translation_sections(run_dir: Path, cfg, *, device: str, **options) -> list[str]:
    """A translation run's own section: what its sample pictures show, and its held-out
    scores (the memorisation check's ``options`` do not apply)."""
    from gankit.apps.sampling import load
    from gankit.evaluation.translation import evaluate_translation, format_translation

    third = {"paired": "target", "unpaired": "reconstruction",
             "contrastive": "a held-out image of the target domain (its true target where "
             "the set is paired)"}[cfg.translation.mode]
    parts = ["<h2>Translation</h2>",
             f'<p class="note">Each sample picture shows held-out images in rows: input | '
             f'output | {third} ({cfg.translation.direction}).</p>']
    directions = ["AtoB", "BtoA"] if cfg.translation.mode == "unpaired" else [None]
    try:
        run = load(run_dir, device=device)
        for direction in directions:
            text = format_translation(evaluate_translation(run, direction, device=device))
            parts.append(f"<pre>{html.escape(text, quote=False)}</pre>")
    except UserError as exc:
        parts.append(f'<p class="note">No scores: {html.escape(str(exc))}.</p>')
    return parts


def build_report(run_dir: str | Path, out: str | Path | None = None, *, neighbours: int = 8,
                 k: int = 3, max_grids: int = 12, seed: int = 0, device: str = "cpu",
                 root: str | None = None) -> Path:
    """Write the run's HTML report (default ``RUN_DIR/report.html``) and return its path.

    neighbours: samples in the memorisation check (0 skips it); k: real neighbours shown per
    sample; max_grids: most evolution grids shown (evenly thinned); root: where that check
    reads the run's named data set (default: the run's data.root).
    """
    from gankit.training.checkpoint import atomic_write_text

    run_dir = Path(run_dir)
    cfg, out = _read_run(run_dir, out, neighbours, k, max_grids)
    records = read_log(run_dir / "log.jsonl")
    parts: list[str] = []
    title = f"gankit run {run_dir.resolve().name}"
    parts.append(f"<h1>{html.escape(title)}</h1>")
    generated = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    parts.append(f'<p class="meta">{html.escape(str(run_dir.resolve()))} · preset '
                 f'<b>{html.escape(cfg.preset)}</b> · report written {generated}</p>')
    parts += _summary_parts(records, cfg)
    parts += _training_parts(run_dir, records, max_grids)
    parts += _quality_parts(records)
    # --- the sections of the run's kind (memorisation, translation scores, ...) ---
    parts += report_sections(run_dir, cfg, neighbours=neighbours, k=k, seed=seed,
                             device=device, root=root)

    # --- config ---
    parts.append("<h2>Config</h2>")
    parts.append(f"<pre>{html.escape(cfg.to_json(), quote=False)}</pre>")

    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
    try:
        atomic_write_text(out, page)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out
