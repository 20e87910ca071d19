"""gankit report: one self-contained HTML page, rendered by a real browser where there is one."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit.cli import main
from gankit.errors import UserError
from gankit.apps.report import build_report, collapse_warnings, nearest_neighbours, sample_grid_files

DATA_URI = re.compile(r'<img[^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture(scope="module")
def report_run(tmp_path_factory):
    """seed-tutorial, 12 steps, logged every 2 and sampled every 4; plus quality records
    (fid, modes, a collapse warning) as the monitor writes them."""
    out = tmp_path_factory.mktemp("report") / "run"
    torch.manual_seed(0)
    gankit.train("seed-tutorial", out=out, steps=12, train__log_every=2,
                 train__sample_every=4)
    with open(out / "log.jsonl", "a", encoding="utf-8") as log:
        for step, fid, modes, probe, warn in ((4, 300.0, 6, 8, 0), (8, 250.0, 7, 9, 0),
                                              (12, 260.0, 4, 5, 1)):
            record = {"step": step, "fid": fid, "modes": modes, "probe_modes": probe,
                      "probe_mode_kl": 0.5}
            if warn:
                record["collapse_warning"] = 1
            log.write(json.dumps(record) + "\n")
    return out


def decoded_pngs(page: str) -> list[Image.Image]:
    images = []
    for payload in DATA_URI.findall(page):
        image = Image.open(io.BytesIO(base64.b64decode(payload, validate=True)))
        assert image.format == "PNG"
        image.load()  # decodes the whole file: a truncated PNG fails here
        images.append(image)
    return images


def test_report_is_one_self_contained_file(report_run, tmp_path):
    path = gankit.write_report(report_run, out=tmp_path / "r.html", neighbours=4, k=2)
    assert path == tmp_path / "r.html"
    page = path.read_text(encoding="utf-8")
    # every image is inline and decodes as a PNG; nothing is fetched from anywhere
    assert page.count("<img") == len(DATA_URI.findall(page))
    images = decoded_pngs(page)
    # loss plot + metric plot + 3 evolution grids (steps 4, 8, 12) + final + 4 x (1 + 2)
    assert len(images) == 2 + 3 + 1 + 4 * 3
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"""(src|href)=["'](?!data:)""", page)
    assert "@import" not in page and "url(" not in page
    # the sections: config, metrics, evolution, warnings
    assert '"preset": "seed-tutorial"' in page
    assert "step 4" in page and "step 12" in page
    assert "possible mode collapse" in page and "covers 5 classes (it covered 9 at step 8)" in page
    assert "last FID" in page


def test_report_cli_default_path_and_no_neighbours(report_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(report_run, run)
    assert main(["report", str(run), "--neighbours", "0"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {run / 'report.html'}"
    page = (run / "report.html").read_text()
    assert "memorisation" not in page
    assert len(decoded_pngs(page)) == 2 + 3 + 1


def test_report_without_training_records_or_data(report_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(report_run, run)
    (run / "log.jsonl").unlink()
    cfg = json.loads((run / "config.json").read_text())
    cfg["data"]["name"] = str(tmp_path / "gone")  # the training images are not here any more
    (run / "config.json").write_text(json.dumps(cfg))
    page = build_report(run, neighbours=2).read_text()
    assert "no training records" in page and "memorisation check was skipped" in page


@pytest.mark.parametrize("make_args, message", [
    (lambda t: ["report", str(t / "missing")], "run directory not found"),
    (lambda t: ["report", str(t)], "not a gankit run"),
])
def test_report_user_errors(tmp_path, capsys, make_args, message):
    assert main(make_args(tmp_path)) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_report_unwritable_out(report_run, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["report", str(report_run), "--neighbours", "0", "--out",
                 str(blocker / "r.html")]) == 2
    assert "cannot write" in capsys.readouterr().err
    with pytest.raises(UserError, match="is a directory"):
        build_report(report_run, out=tmp_path, neighbours=0)


def test_nearest_neighbours_finds_copies_and_excludes_self():
    generator = torch.Generator().manual_seed(0)
    real = torch.randint(0, 256, (50, 1, 4, 4), dtype=torch.uint8, generator=generator)
    queries = real[[3, 17]].clone()
    queries[1, 0, 0, 0] ^= 1  # one grey level off
    dist, idx = nearest_neighbours(queries, real, k=2, chunk=7)  # chunks of 7 cross the rows
    assert idx[:, 0].tolist() == [3, 17]
    assert dist[0, 0] == 0 and dist[1, 0] == pytest.approx(1 / 255, abs=1e-6)
    assert (dist[:, 1] > dist[:, 0]).all()
    # the brute-force answer
    flat = real.reshape(50, -1).float() / 255
    brute = torch.cdist(queries.reshape(2, -1).float() / 255, flat,
                        compute_mode="donot_use_mm_for_euclid_dist").sort(1)
    assert torch.allclose(dist, brute.values[:, :2], atol=1e-5)
    dist, idx = nearest_neighbours(real[[3]], real, k=1, exclude=torch.tensor([3]))
    assert idx[0, 0] != 3 and dist[0, 0] > 0


def test_sample_grid_files_thins_evenly(tmp_path):
    (tmp_path / "samples").mkdir()
    for step in range(0, 2000, 100):
        (tmp_path / "samples" / f"step_{step:07d}.png").write_bytes(b"")
    (tmp_path / "samples" / "final.png").write_bytes(b"")
    picked = [s for s, _ in sample_grid_files(tmp_path, limit=5)]
    assert picked[0] == 0 and picked[-1] == 1900 and len(picked) == 5
    assert len(sample_grid_files(tmp_path, limit=50)) == 20


def test_collapse_warnings_from_log_records():
    records = [{"step": 1, "loss_d": 1.0}, {"step": 10, "probe_modes": 10},
               {"step": 20, "probe_modes": 4, "collapse_warning": 1}]
    assert collapse_warnings(records) == [
        "step 20: possible mode collapse: the probe batch covers 4 classes (it covered 10 at "
        "step 10)"]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(_chromium() is None, reason="no chromium binary on PATH (Debian: "
                    "apt-get install chromium); the headless rendering test needs one")
def test_report_renders_in_headless_chromium(report_run, tmp_path):
    page = build_report(report_run, out=tmp_path / "report.html", neighbours=2, k=1)
    shot = tmp_path / "shot.png"
    command = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
               f"--screenshot={shot}", "--window-size=1200,2000", page.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert shot.is_file(), done.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(np.int16)
    assert pixels.shape[:2] == (2000, 1200)
    assert pixels.std() > 20  # not a blank page
    # matplotlib's first two colours (loss D and loss G lines): the loss plot was drawn
    for colour in ((31, 119, 180), (255, 127, 14)):
        assert (np.abs(pixels - colour).sum(-1) < 30).sum() > 50, colour
    # the final grid (shown first, 4x enlarged): ~200k noisy grey pixels (R = G = B, neither
    # white nor black); anti-aliased text gives only a few thousand
    grey = (pixels[..., 0] == pixels[..., 1]) & (pixels[..., 1] == pixels[..., 2])
    assert (grey & (pixels[..., 0] > 40) & (pixels[..., 0] < 215)).sum() > 100_000


@pytest.mark.parametrize("copies", [True, False])
def test_memorisation_verdict(report_run, tmp_path, monkeypatch, copies):
    """Samples that are training images are flagged as near copies; noise is not."""
    from gankit.apps import sampling
    from gankit.config.overrides import from_dict
    from gankit.data import load_dataset

    config = json.loads((report_run / "config.json").read_text())
    real = load_dataset(from_dict(config).data).samples

    def fake_sample(run, n, seed=0, **_):
        if copies:
            return real[:n].clone()
        generator = torch.Generator().manual_seed(seed)
        return torch.randint(0, 256, (n, *real.shape[1:]), generator=generator,
                             dtype=torch.uint8)

    monkeypatch.setattr(sampling, "sample", fake_sample)
    page = build_report(report_run, out=tmp_path / "r.html", neighbours=4).read_text()
    if copies:
        assert page.count("<b>near copy</b>") == 4
        assert "4 of 4 samples lie closer to a training image" in page
    else:
        assert "near copy" not in page and "No sample is closer" in page
