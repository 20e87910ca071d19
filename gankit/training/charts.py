"""The charts of a run, drawn with Pillow: the loss plot every run writes at its end
(``RUN_DIR/loss.png``) and the quality-metric curves of ``gankit report``; ``gankit watch``
shows the same loss plot.

Why not matplotlib: importing it costs about 0.75 s on a 2-core AVX2 machine, which a
``gankit train --steps 1`` paid on exit for one small picture. Pillow is already loaded for
the sample grids, and a chart of a few curves needs only axes, ticks, polylines, markers
and a legend.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path

from gankit.training.run_log import metric_names, metric_records, read_log

# matplotlib's first colours, so the plots look as they did
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")
MARKER = "#f4b6b6"  # vertical markers (e.g. a mode-collapse warning)


@dataclass
class Panel:
    """One chart: curves (label, xs, ys) sharing an x axis, a y label, optional y limits and
    vertical markers at some x values."""

    curves: list[tuple[str, list[float], list[float]]] = field(default_factory=list)
    ylabel: str = ""
    ylim: tuple[float, float] | None = None
    markers: list[float] = field(default_factory=list)


def nice_ticks(low: float, high: float, count: int = 5, integer: bool = False) -> list[float]:
    """About ``count`` round tick values (steps of 1, 2 or 5 x 10^k) within [low, high];
    ``integer``: steps of at least 1 (an axis of training steps)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        return [low]
    raw = (high - low) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if integer:
        step = max(step, 1)
    ticks, k = [], math.ceil(low / step - 1e-9)
    while k * step <= high + 1e-9 * step:
        ticks.append(round(k * step, 10))
        k += 1
    return ticks


def _label(value: float) -> str:
    """A tick's text: integers without decimals, others with up to 3 significant digits."""
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.3g}"


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # scalable (Pillow >= 10.1 with FreeType)
    except (TypeError, OSError):
        return ImageFont.load_default()


def _limits(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    if high == low:
        low, high = low - 0.5, high + 0.5
    pad = 0.05 * (high - low)  # a margin so extreme points do not sit on the frame
    return low - pad, high + pad


@dataclass
class _Frame:
    """Where one panel sits on the canvas and how data maps to pixels."""

    left: float
    right: float
    top: float
    bottom: float
    x_range: tuple[float, float]
    y_range: tuple[float, float]

    def px(self, x: float, y: float) -> tuple[float, float]:
        (x0, x1), (y0, y1) = self.x_range, self.y_range
        return (self.left + (x - x0) / (x1 - x0) * (self.right - self.left),
                self.bottom - (y - y0) / (y1 - y0) * (self.bottom - self.top))


def _x_range(panels: list[Panel]) -> tuple[float, float]:
    xs = [x for p in panels for _, xs, _ in p.curves for x in xs]
    low, high = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if high == low:
        low, high = low - 1, high + 1
    pad = 0.05 * (high - low)
    return low - pad, high + pad


def _draw_axes(image, pen, panel: Panel, frame: _Frame, font) -> None:
    """The frame, the y ticks with their labels, and the rotated y label."""
    from PIL import Image, ImageDraw

    pen.rectangle([frame.left, frame.top, frame.right, frame.bottom], outline="black")
    for tick in nice_ticks(*frame.y_range):
        _, py = frame.px(frame.x_range[0], tick)
        pen.line([frame.left - 4, py, frame.left, py], fill="black")
        pen.text((frame.left - 7, py), _label(tick), fill="black", font=font, anchor="rm")
    if panel.ylabel:
        height = int(frame.bottom - frame.top)
        text = Image.new("RGB", (height, 18), "white")
        ImageDraw.Draw(text).text((height / 2, 9), panel.ylabel, fill="black", font=font,
                                  anchor="mm")
        image.paste(text.rotate(90, expand=True), (4, int(frame.top)))


def _draw_curves(pen, panel: Panel, frame: _Frame, font) -> None:
    """Markers behind, then the curves (a curve of fewer than 3 points also gets dots; non-
    finite values leave gaps), then the legend in the top right corner."""
    for x in panel.markers:
        px, _ = frame.px(x, frame.y_range[0])
        pen.line([px, frame.top + 1, px, frame.bottom - 1], fill=MARKER, width=2)
    for number, (_, xs, ys) in enumerate(panel.curves):
        colour = COLOURS[number % len(COLOURS)]
        points = [frame.px(x, y) for x, y in zip(xs, ys) if math.isfinite(y)]
        if len(points) >= 2:
            pen.line(points, fill=colour, width=2)
        if len(points) < 3:
            for px, py in points:
                pen.ellipse([px - 4, py - 4, px + 4, py + 4], fill=colour)
    labels = [label for label, _, _ in panel.curves]
    if labels:
        box_w = 30 + max(pen.textlength(t, font=font) for t in labels)
        x0, y0 = frame.right - box_w - 8, frame.top + 8
        pen.rectangle([x0, y0, x0 + box_w, y0 + 18 * len(labels) + 4], fill="white",
                      outline="#cccccc")
        for number, label in enumerate(labels):
            y = y0 + 11 + 18 * number
            pen.line([x0 + 5, y, x0 + 22, y], fill=COLOURS[number % len(COLOURS)], width=2)
            pen.text((x0 + 26, y), label, fill="black", font=font, anchor="lm")


def draw(panels: list[Panel], xlabel: str = "", width: int = 800, height: int = 600):
    """A PIL RGB image of ``panels`` stacked vertically, sharing the bottom x axis."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), "white")
    pen, font = ImageDraw.Draw(image), _font(13)
    x_range = _x_range(panels)
    left, right, top_margin, bottom_margin, gap = 80, width - 20, 15, 45, 30
    panel_h = (height - top_margin - bottom_margin - gap * (len(panels) - 1)) / max(1, len(panels))
    for index, panel in enumerate(panels):
        top = top_margin + index * (panel_h + gap)
        y_range = panel.ylim or _limits([y for _, _, ys in panel.curves for y in ys])
        frame = _Frame(left, right, top, top + panel_h, x_range, y_range)
        _draw_axes(image, pen, panel, frame, font)
        _draw_curves(pen, panel, frame, font)
    bottom = height - bottom_margin
    axis = _Frame(left, right, 0, bottom, x_range, (0.0, 1.0))
    for tick in nice_ticks(*x_range, integer=True):
        px, _ = axis.px(tick, 0.0)
        pen.line([px, bottom, px, bottom + 4], fill="black")
        pen.text((px, bottom + 6), _label(tick), fill="black", font=font, anchor="mt")
    if xlabel:
        pen.text(((left + right) / 2, height - 6), xlabel, fill="black", font=font, anchor="md")
    return image


def png_bytes(image) -> bytes:
    """A PIL image as PNG bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def loss_png(records: list[dict]) -> bytes | None:
    """PNG bytes of loss_d/loss_g (top) and D(x)/D(G(z)) (bottom) against step, or None when
    ``records`` (log records; those with ``loss_d`` are used) hold no training record."""
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


def metric_png(records: list[dict]) -> bytes | None:
    """PNG bytes of one panel per logged score (fid, modes, probe_modes, ...) against step,
    with a marker at each mode-collapse warning; None when the log holds no score."""
    rows, names = metric_records(records), metric_names(records)
    if not names:
        return None
    warned = [r["step"] for r in rows if r.get("collapse_warning")]
    panels = [Panel([(name, [r["step"] for r in rows if name in r],
                      [float(r[name]) for r in rows if name in r])], ylabel=name,
                    markers=warned) for name in names]
    return png_bytes(draw(panels, xlabel="step", height=int(220 * len(names) + 60)))


def plot_losses(log_path: str | Path, out_png: str | Path) -> Path | None:
    """Draw the loss plot of the log at ``log_path`` into ``out_png``; None when the log has
    no training records yet."""
    png = loss_png(read_log(log_path))
    if png is None:
        return None
    out_png = Path(out_png)
    out_png.write_bytes(png)
    return out_png
