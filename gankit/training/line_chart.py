"""Line charts drawn with Pillow: the loss plot every training run writes at its end.

Why not matplotlib: importing it costs about 0.75 s on a 2-core AVX2 machine, which a
``gankit train --steps 1`` paid on exit for one small picture (issue 17's start-up budget is
2 s beyond ``import torch``). Pillow is already loaded for the sample grids, and a chart of
two to four curves needs only axes, ticks, polylines and a legend.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

# matplotlib's first colours, so the plot looks as it did
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")


@dataclass
class Panel:
    """One chart: curves (label, xs, ys) sharing an x axis, a y label and optional y limits."""

    curves: list[tuple[str, list[float], list[float]]] = field(default_factory=list)
    ylabel: str = ""
    ylim: tuple[float, float] | None = None


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
    first = math.ceil(low / step - 1e-9)
    ticks = []
    k = first
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


def draw(panels: list[Panel], xlabel: str = "", width: int = 800, height: int = 600):
    """A PIL RGB image of ``panels`` stacked vertically, sharing the bottom x axis.

    A curve with fewer than 3 points is drawn with markers (a single point has no line).
    Non-finite values are skipped (a gap in the line).
    """
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), "white")
    pen = ImageDraw.Draw(image)
    font = _font(13)
    xs_all = [x for p in panels for _, xs, _ in p.curves for x in xs]
    x_low, x_high = (min(xs_all), max(xs_all)) if xs_all else (0.0, 1.0)
    if x_high == x_low:
        x_low, x_high = x_low - 1, x_high + 1
    pad = 0.05 * (x_high - x_low)
    x_low, x_high = x_low - pad, x_high + pad
    left, right, top_margin, bottom_margin, gap = 80, 20, 15, 45, 30
    panel_h = (height - top_margin - bottom_margin - gap * (len(panels) - 1)) / max(1, len(panels))

    for index, panel in enumerate(panels):
        top = top_margin + index * (panel_h + gap)
        bottom = top + panel_h
        y_low, y_high = panel.ylim or _limits([y for _, _, ys in panel.curves for y in ys])

        def to_px(x: float, y: float, top=top, bottom=bottom, y_low=y_low, y_high=y_high):
            px = left + (x - x_low) / (x_high - x_low) * (width - left - right)
            py = bottom - (y - y_low) / (y_high - y_low) * (bottom - top)
            return px, py

        pen.rectangle([left, top, width - right, bottom], outline="black")
        for tick in nice_ticks(y_low, y_high):
            _, py = to_px(x_low, tick)
            pen.line([left - 4, py, left, py], fill="black")
            pen.text((left - 7, py), _label(tick), fill="black", font=font, anchor="rm")
        if panel.ylabel:
            text = Image.new("RGB", (int(panel_h), 18), "white")
            ImageDraw.Draw(text).text((panel_h / 2, 9), panel.ylabel, fill="black", font=font,
                                      anchor="mm")
            image.paste(text.rotate(90, expand=True), (4, int(top)))
        for number, (label, xs, ys) in enumerate(panel.curves):
            colour = COLOURS[number % len(COLOURS)]
            points = [to_px(x, y) for x, y in zip(xs, ys) if math.isfinite(y)]
            if len(points) >= 2:
                pen.line(points, fill=colour, width=2)
            if len(points) < 3:
                for px, py in points:
                    pen.ellipse([px - 4, py - 4, px + 4, py + 4], fill=colour)
        labels = [label for label, _, _ in panel.curves]
        if labels:  # legend in the top right corner
            box_w = 30 + max(pen.textlength(t, font=font) for t in labels)
            x0, y0 = width - right - box_w - 8, top + 8
            pen.rectangle([x0, y0, x0 + box_w, y0 + 18 * len(labels) + 4], fill="white",
                          outline="#cccccc")
            for number, label in enumerate(labels):
                y = y0 + 11 + 18 * number
                pen.line([x0 + 5, y, x0 + 22, y], fill=COLOURS[number % len(COLOURS)], width=2)
                pen.text((x0 + 26, y), label, fill="black", font=font, anchor="lm")

    bottom = height - bottom_margin
    for tick in nice_ticks(x_low, x_high, integer=True):
        px = left + (tick - x_low) / (x_high - x_low) * (width - left - right)
        pen.line([px, bottom, px, bottom + 4], fill="black")
        pen.text((px, bottom + 6), _label(tick), fill="black", font=font, anchor="mt")
    if xlabel:
        pen.text(((left + width - right) / 2, height - 6), xlabel, fill="black", font=font,
                 anchor="md")
    return image


def png_bytes(image) -> bytes:
    """A PIL image as PNG bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
