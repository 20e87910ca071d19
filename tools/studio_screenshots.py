"""Screenshots of each panel of ``gankit studio`` for the docs (docs/images/studio-*.png).

It drives the studio exactly as its browser test does (``tests/studio/driver.py``: the
server as a subprocess, headless Debian Chromium through Playwright, every request to a host
other than 127.0.0.1 aborted and reported) over a noise-to-image run and a translation run,
and saves one picture per panel.

    python tools/studio_screenshots.py --run runs/default --translation-run runs/cyclegan
    python tools/studio_screenshots.py --run runs/default --out /tmp/shots   # no translate

Without ``--run`` it trains the default preset for ``--train-steps`` into ``--work`` first.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "studio"))
import driver  # noqa: E402  (tests/studio/driver.py)


def digit_png(path: Path, index: int) -> Path:
    """A held-out digit of the embedded mnist5k (one no run of the benches trained on)."""
    from PIL import Image

    from gankit.data.embedded import load_mnist5k
    from gankit.evaluation.metrics.extractors import split_mnist5k

    _, held_out = split_mnist5k(5000, 500, seed=0)
    image = load_mnist5k().samples[int(held_out[index]), 0].numpy()
    Image.fromarray(image).save(path)
    return path


def shoot(page, name: str, out: Path) -> Path:
    """The page's top (the panel and its results) as ``out/studio-NAME.png``."""
    from PIL import Image

    path = out / f"studio-{name}.png"
    picture = Image.open(io.BytesIO(page.screenshot(full_page=True)))
    picture.crop((0, 0, picture.width, min(picture.height, 760))).convert("RGB").save(
        path, optimize=True)
    print(f"wrote {path}")
    return path


def panels(page, work: Path, out: Path, translation: bool) -> None:
    """Use every panel once, as a person would, and picture it."""
    digit = digit_png(work / "digit.png", 0)
    driver.generate(page, seed=3, grid=6)
    shoot(page, "generate", out)
    driver.walk_slider(page, steps=6)
    page.focus("#walk-sliders input[data-direction='1']")
    driver.answered(page, "walk", lambda: [page.keyboard.press("ArrowRight")
                                           for _ in range(15)])
    driver.wait_until(page, "document.querySelector('#panel-walk').dataset.state == 'done'")
    shoot(page, "walk", out)
    state, _, _ = driver.project(page, digit, steps=100)
    assert state == "done", driver.message(page, "project")
    driver.edit_slider(page, direction=0, presses=15)
    shoot(page, "project", out)
    driver.upload_to_inpaint(page, digit)
    driver.stroke(page, [(0.15, 0.55), (0.5, 0.6), (0.85, 0.65)])
    driver.fill(page, steps=60)
    shoot(page, "inpaint", out)
    driver.run_panel(page)
    shoot(page, "run", out)
    if translation:
        driver.pick_run(page, 1)
        driver.translate(page, digit, "BtoA")  # an MNIST digit: domain B
        shoot(page, "translate", out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="a trained noise-to-image run (default: "
                        "train the default preset into WORK/run)")
    parser.add_argument("--translation-run", type=Path, help="a translation run for the "
                        "translate panel (none: that picture is skipped)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/gankit-studio-shots"))
    parser.add_argument("--train-steps", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    run = args.run
    if run is None:
        run = args.work / "run"
        if not (run / "checkpoints").is_dir():
            subprocess.run([sys.executable, "-m", "gankit", "train", "--preset", "default",
                            "--steps", str(args.train_steps), "--minutes", "0", "--out",
                            str(run), "--no-progress"], check=True)
    runs = [run] + ([args.translation_run] if args.translation_run else [])
    offsite: list[str] = []
    with driver.Server(runs) as server, sync_playwright() as playwright:
        browser = driver.launch(playwright)
        try:
            page = driver.open_page(browser, server.url, offsite, viewport=(1100, 760))
            panels(page, args.work, args.out, bool(args.translation_run))
        finally:
            browser.close()
    if offsite:
        raise SystemExit(f"the page asked hosts other than 127.0.0.1: {offsite}")


if __name__ == "__main__":
    main()
