"""``gankit studio`` in a real browser: the server started as a user starts it (a
subprocess), its page driven in headless Chromium through Playwright, each result read back
from the page and checked by value. Any request the page makes to a host other than
127.0.0.1 fails the test.

CI runs as root, so ``make test`` installs Debian's chromium (the Makefile's ``browser``
target) and this test runs there; elsewhere, without a chromium, it is skipped and says why.
One server and one browser serve the whole module (they take seconds to start).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import driver  # noqa: E402  (tests/studio/driver.py, shared with tools/studio_screenshots.py)

pytestmark = pytest.mark.slow

if driver.chromium() is None and not os.environ.get("CI"):
    pytest.skip("no chromium (Debian: apt-get install chromium; `make browser` installs it "
                "as root); the studio's browser test needs one", allow_module_level=True)


@pytest.fixture(scope="module")
def page(studio_run, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    offsite: list[str] = []
    with driver.Server([studio_run]) as server, sync_playwright() as playwright:
        browser = driver.launch(playwright)
        try:
            opened = driver.open_page(browser, server.url, offsite)
            opened.server, opened.offsite = server, offsite
            yield opened
        finally:
            browser.close()
        assert server.alive(), server.output()  # it never went down or restarted
    assert offsite == [], f"the page asked hosts other than 127.0.0.1: {offsite}"


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(((a.astype(float) - b.astype(float)) ** 2).mean())


def test_the_studio_in_a_real_browser(page, studio_run, digits, images, cli, tmp_path):
    import gankit
    from PIL import Image

    process = page.server.process.pid
    digit = digits[7][0].numpy()
    upload = tmp_path / "digit.png"
    upload.write_bytes(images.png(digit))

    # --- generate: the grid the page shows is gankit sample's file, pixel for pixel ---
    grid = driver.generate(page, seed=7, grid=3)
    code, _, err = cli("sample", studio_run, "--seed", "7", "-n", "9", "--out",
                       tmp_path / "s.png")
    assert code == 0, err
    assert np.array_equal(grid, np.asarray(Image.open(tmp_path / "s.png")))

    # --- walk: moving the slider changes the frame ---
    before, after = driver.walk_slider(page, steps=5)
    assert before.shape == after.shape == (28, 28)
    assert np.abs(after.astype(int) - before).mean() > 1

    # --- inpaint: a stroke drawn with the mouse is filled, the other pixels stay ---
    driver.upload_to_inpaint(page, upload)
    driver.stroke(page, [(0.2, 0.5), (0.5, 0.45), (0.8, 0.55)])
    filled, mask = driver.fill(page, steps=30)
    missing = mask == 255
    assert 20 < missing.sum() < 300 and missing[12:17, 5:23].any()  # where the stroke went
    assert np.array_equal(filled[~missing], digit[~missing])
    assert not np.array_equal(filled[missing], digit[missing])

    # --- project: the reconstruction is closer to the upload than a random sample ---
    state, shown, reconstruction = driver.project(page, upload, steps=60)
    assert state == "done", driver.message(page, "project")
    assert np.array_equal(shown, digit)
    randoms = gankit.sample(studio_run, n=8, seed=99)[:, 0].numpy()
    assert _mse(reconstruction, digit) < min(_mse(r, digit) for r in randoms)
    edited = driver.edit_slider(page, direction=0, presses=20)  # amount 2
    assert np.abs(edited.astype(int) - reconstruction).mean() > 0.5

    # --- a bad upload is a sentence in the page, and the server keeps serving ---
    (tmp_path / "notes.png").write_text("not an image at all")
    state, _, _ = driver.project(page, tmp_path / "notes.png")
    assert state == "error"
    assert driver.message(page, "project") == (
        "the upload is not an image this studio reads (PNG, JPEG, BMP, GIF or WebP)")
    assert np.array_equal(driver.generate(page, seed=7, grid=3), grid)

    # --- the run panel shows the report's plots ---
    driver.run_panel(page)
    assert driver.shown(page, "#run-losses").shape[2] in (3, 4)
    assert page.server.process.pid == process and page.server.alive()
