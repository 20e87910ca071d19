"""The run's charts (gankit.training.charts), drawn with Pillow: the loss plot and the metric
curves."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from gankit.training.charts import COLOURS, MARKER, Panel, draw, loss_png, metric_png, nice_ticks


@pytest.mark.parametrize("low, high, integer, expected", [
    (0.0, 1.0, False, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (-0.05, 3000.0, True, [0, 1000, 2000, 3000]),
    (-1.0, 1.0, True, [-1, 0, 1]),  # one training step: no fractional steps
    (0.93, 1.51, False, [1.0, 1.2, 1.4]),
    (2.0, 2.0, False, [2.0]),
    (0.0, math.nan, False, []),
])
def test_nice_ticks(low, high, integer, expected):
    assert nice_ticks(low, high, integer=integer) == pytest.approx(expected)


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def _pixels_of(image, colour: str) -> np.ndarray:
    """(row, column) positions of pixels of exactly ``colour``."""
    return np.argwhere((np.asarray(image) == _rgb(colour)).all(axis=2))


def test_curves_are_drawn_where_their_values_are():
    # a rising line in the top panel, a flat one at 0.25 of the bottom panel's fixed 0..1
    image = draw([Panel([("up", [0, 5, 10], [0.0, 0.5, 1.0])]),
                  Panel([("flat", [0, 5, 10], [0.25, 0.25, 0.25])], ylim=(0.0, 1.0))],
                 width=400, height=400)
    assert image.size == (400, 400)
    up = _pixels_of(image, COLOURS[0])
    up = up[up[:, 1] < 300]  # leave the legend's sample line out
    top_half = up[up[:, 0] < 200]
    assert len(top_half) > 100
    left, right = top_half[top_half[:, 1].argmin()], top_half[top_half[:, 1].argmax()]
    assert left[0] > right[0]  # rows grow downwards: the line rises to the right
    flat = _pixels_of(image, COLOURS[0])
    flat = flat[(flat[:, 0] > 200) & (flat[:, 1] < 300)]
    rows = np.unique(flat[:, 0])
    assert rows.max() - rows.min() <= 2  # horizontal
    # the bottom panel spans rows 200..355: 0.25 of the way up from its bottom is row 316
    assert 314 <= rows.mean() <= 319


def test_non_finite_values_are_skipped_and_short_curves_get_markers():
    image = draw([Panel([("a", [0, 1, 2], [1.0, math.nan, math.inf])])], width=300, height=200)
    # one finite point is left: drawn as a marker, so its colour is present
    assert len(_pixels_of(image, COLOURS[0])) > 20


def test_loss_png_of_a_log():
    assert loss_png([]) is None
    assert loss_png([{"step": 5, "fid": 3.0}]) is None  # scores only, no training record
    records = [{"step": s, "loss_d": 1.0 + s / 100, "loss_g": 2.0 - s / 100,
                "d_real": 0.6, "d_fake": 0.4} for s in range(0, 100, 10)]
    image = Image.open(io.BytesIO(loss_png(records)))
    assert image.format == "PNG" and image.size == (800, 600)
    pixels = np.asarray(image.convert("RGB"))
    for colour in COLOURS[:2]:  # loss D and loss G (and D(x), D(G(z)) below)
        assert (pixels == _rgb(colour)).all(axis=2).sum() > 200
    # a kind without D's statistics (e.g. translation) draws the losses only
    only_losses = [{k: r[k] for k in ("step", "loss_d", "loss_g")} for r in records]
    assert Image.open(io.BytesIO(loss_png(only_losses))).size == (800, 600)


def test_metric_png_draws_one_panel_per_score_with_collapse_markers():
    assert metric_png([{"step": 10, "loss_d": 1.0}]) is None  # training records only
    records = [{"step": s, "fid": 50.0 - s / 10, "modes": 10} for s in range(0, 500, 100)]
    records[3]["collapse_warning"] = "possible mode collapse"
    image = Image.open(io.BytesIO(metric_png(records)))
    assert image.size == (800, 2 * 220 + 60)  # two scores: fid and modes
    pixels = np.asarray(image.convert("RGB"))
    assert (pixels == _rgb(COLOURS[0])).all(axis=2).sum() > 200
    marker = np.argwhere((pixels == _rgb(MARKER)).all(axis=2))
    assert len(np.unique(marker[:, 1])) <= 3 and len(marker) > 300  # one vertical line per panel
