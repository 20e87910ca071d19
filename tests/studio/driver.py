"""Driving ``gankit studio`` in a real browser: start the server as a subprocess, open its
page in headless Chromium through Playwright, and use each panel as a person would (type,
click, move a slider, draw with the mouse, upload a file), reading the images the page shows
back as pixels.

Shared by ``tests/studio/test_studio_browser.py`` and ``tools/studio_screenshots.py``.
Playwright drives the Debian Chromium (``/usr/bin/chromium``; Playwright's own browser
downloads are not reachable offline), and every request the page makes to a host other than
127.0.0.1 is recorded and aborted.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
LOCAL = "127.0.0.1"
TIMEOUT_MS = 60_000


def chromium() -> str | None:
    """The Debian Chromium's executable, or another chromium on PATH; None without one."""
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Server:
    """``gankit studio RUN ... --port 0`` in a subprocess: ``url`` once it serves; its
    stdout and stderr are collected (``output()``). Use as a context manager."""

    def __init__(self, runs: list[Path], *extra: str, timeout: float = 120.0):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        command = [sys.executable, "-m", "gankit", "studio", *map(str, runs), "--port", "0",
                   "--device", "cpu", *extra]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: list[str] = []
        self.url = self._wait_for_url(timeout)

    def _wait_for_url(self, timeout: float) -> str:
        found = threading.Event()

        def read():
            for line in self.process.stdout:
                self.lines.append(line)
                if "http://" in line:
                    found.set()
        threading.Thread(target=read, daemon=True).start()
        started = time.monotonic()
        while not found.wait(0.1):
            if self.process.poll() is not None or time.monotonic() - started > timeout:
                self.stop()
                raise RuntimeError(f"gankit studio did not start:\n{self.output()}")
        line = next(line for line in self.lines if "http://" in line)
        return line[line.index("http://"):].split()[0]

    def output(self) -> str:
        return "".join(self.lines)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def launch(playwright):
    """Headless Chromium (the Debian build) under Playwright."""
    return playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)


def open_page(browser, url: str, offsite: list[str], viewport=(1100, 900)):
    """The studio's page, ready; every request to a host other than 127.0.0.1 is appended
    to ``offsite`` and aborted."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})

    def guard(route):
        parts = urlparse(route.request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname != LOCAL:
            offsite.append(route.request.url)
            return route.abort()
        return route.continue_()
    context.route("**/*", guard)
    page = context.new_page()
    page.on("request", lambda request: _record(request.url, offsite))
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]")
    return page


def _record(url: str, offsite: list[str]) -> None:
    parts = urlparse(url)
    if parts.scheme not in ("data", "blob") and parts.hostname != LOCAL and url not in offsite:
        offsite.append(url)


# --- reading the page ---------------------------------------------------------------------

def pixels(data_uri: str) -> np.ndarray:
    """uint8 pixels of a ``data:image/png;base64`` URI, as Pillow reads the PNG."""
    from PIL import Image

    assert data_uri and data_uri.startswith("data:image/png;base64,"), (data_uri or "")[:40]
    with Image.open(io.BytesIO(base64.b64decode(data_uri.split(",", 1)[1]))) as image:
        return np.asarray(image).copy()


def shown(page, selector: str) -> np.ndarray:
    """The pixels of the image the page shows at ``selector`` (its PNG source)."""
    return pixels(page.get_attribute(selector, "src"))


def _answers(page, panel: str) -> int:
    return int(page.get_attribute(f"#panel-{panel}", "data-done") or 0)


def answered(page, panel: str, action) -> str:
    """Do ``action()``, wait until the panel has its answer; return its data-state (done or
    error) and leave any error message in the panel."""
    before = _answers(page, panel)
    action()
    wait_until(page, f"Number(document.querySelector('#panel-{panel}').dataset.done || 0) "
                     f"> {before}")
    return page.get_attribute(f"#panel-{panel}", "data-state")


def wait_until(page, expression: str, timeout_ms: int = TIMEOUT_MS) -> None:
    """Poll the JavaScript ``expression`` until it is true. (Playwright's
    ``wait_for_function`` evaluates a string inside the page, which the studio's
    Content-Security-Policy forbids; ``page.evaluate`` is not bound by it.)"""
    deadline = time.monotonic() + timeout_ms / 1000
    while not page.evaluate(f"() => Boolean({expression})"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_ms} ms for {expression}")
        time.sleep(0.05)


def message(page, panel: str) -> str:
    return page.inner_text(f"#panel-{panel} .message")


def tab(page, panel: str) -> None:
    page.click(f"#tabs button[data-panel={panel}]")


# --- using the panels -----------------------------------------------------------------------

def generate(page, seed: int, grid: int) -> np.ndarray:
    """Generate a grid of ``grid`` x ``grid`` of ``seed``; the grid the page shows."""
    tab(page, "generate")
    page.wait_for_selector("#panel-generate[data-done]")  # the first look's answer
    page.fill("#generate-form input[name=seed]", str(seed))
    page.fill("#generate-form input[name=grid]", str(grid))
    state = answered(page, "generate", lambda: page.click("#generate-form button[type=submit]"))
    assert state == "done", message(page, "generate")
    return shown(page, "#generate-image")


def walk_slider(page, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The walk's frame before and after moving its slider ``steps`` to the right with the
    keyboard."""
    tab(page, "walk")
    page.wait_for_selector("#panel-walk[data-state=done]")
    before = shown(page, "#walk-image")
    for _ in range(steps):  # one press at a time, on the focused slider, each answered
        # before the next (a press while a frame is on its way supersedes that frame)
        assert answered(page, "walk", lambda: page.press("#walk-slider", "ArrowRight")) == "done"
    wait_until(page, f"document.querySelector('#walk-slider').value == {steps} && "
                     f"document.querySelector('#panel-walk').dataset.state == 'done'")
    return before, shown(page, "#walk-image")


def upload_to_inpaint(page, image: Path) -> None:
    tab(page, "inpaint")
    loaded = int(page.get_attribute("#panel-inpaint", "data-source") or 0)
    page.set_input_files("#inpaint-form input[name=image]", str(image))
    wait_until(page, f"Number(document.querySelector('#panel-inpaint').dataset.source || 0)"
                     f" > {loaded}")


def stroke(page, points: list[tuple[float, float]]) -> None:
    """Draw through ``points`` (fractions of the canvas' width and height) with the mouse
    button held down."""
    box = page.locator("#inpaint-canvas").bounding_box()
    xy = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for x, y in xy[1:]:
        page.mouse.move(x, y, steps=8)
    page.mouse.up()


def fill(page, steps: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Fill the drawn region; (the filled image, the mask the server used: 255 = missing)."""
    page.fill("#inpaint-settings input[name=steps]", str(steps))
    state = answered(page, "inpaint",
                     lambda: page.click("#inpaint-settings button[type=submit]"))
    assert state == "done", message(page, "inpaint")
    return shown(page, "#inpaint-filled"), shown(page, "#inpaint-mask")


def project(page, image: Path, steps: int = 100) -> tuple[str, np.ndarray, np.ndarray]:
    """Upload ``image`` and project it: (state, the upload, the reconstruction) as shown;
    the pixels are None unless the state is done."""
    tab(page, "project")
    page.set_input_files("#project-form input[name=image]", str(image))
    page.fill("#project-form input[name=steps]", str(steps))
    state = answered(page, "project", lambda: page.click("#project-form button[type=submit]"))
    if state != "done":
        return state, None, None
    return state, shown(page, "#project-upload"), shown(page, "#project-reconstruction")


def edit_slider(page, direction: int, presses: int) -> np.ndarray:
    """Move SeFa slider ``direction`` of the edit panel right ``presses`` times (0.1 each);
    the edited image."""
    page.focus(f"#edit-sliders input[data-direction='{direction}']")
    for _ in range(presses - 1):
        page.keyboard.press("ArrowRight")
    answered(page, "project", lambda: page.keyboard.press("ArrowRight"))
    wait_until(page, "document.querySelector('#panel-project').dataset.state == 'done'")
    return shown(page, "#project-edited")


def translate(page, image: Path, direction: str) -> np.ndarray:
    tab(page, "translate")
    page.set_input_files("#translate-form input[name=image]", str(image))
    page.select_option("#translate-form select[name=direction]", direction)
    state = answered(page, "translate",
                     lambda: page.click("#translate-form button[type=submit]"))
    assert state == "done", message(page, "translate")
    return shown(page, "#translate-output")


def run_panel(page) -> None:
    assert answered(page, "run", lambda: tab(page, "run")) == "done", message(page, "run")
    wait_until(page, "document.querySelector('#run-losses').complete")


def pick_run(page, index: int) -> None:
    page.select_option("#run-picker", str(index))
