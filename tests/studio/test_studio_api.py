"""The studio's handlers, by value, through Starlette's test client: each panel gives what
the library (and so the command) gives for the same settings, the known pixels of an
inpainting stay as given, concurrent requests keep their own results, and the runs'
panels come from the kinds registry."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import torch

import gankit

# Starlette 1.x suggests httpx2 for its test client; httpx still works
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

PAGE = {"x-gankit-studio": "1"}


@pytest.fixture(scope="module")
def app(studio_run, trained_run, translation_run):
    """The studio over run 0: default (conditional DCGAN), 1: seed-tutorial (unconditional
    MLP), 2: cyclegan (translation, both ways)."""
    from gankit.studio import create_app

    return create_app([studio_run, trained_run, translation_run], max_upload_mb=1,
                      max_pixels=1024 * 1024)


@pytest.fixture(scope="module")
def client(app):
    from starlette.testclient import TestClient

    with TestClient(app, headers=PAGE) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def runs(studio_run, trained_run, translation_run):
    return [gankit.load(studio_run), gankit.load(trained_run), gankit.load(translation_run)]


def ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


# --- what each run offers -------------------------------------------------------------------

def test_runs_offer_the_panels_their_kind_serves(client):
    answer = ok(client.get("/api/runs"))
    default, tutorial, cyclegan = answer["runs"]
    assert default["panels"] == ["generate", "walk", "project", "inpaint", "run"]
    assert default["classes"] == 10 and default["sliders"] == 5
    assert default["image"] == {"channels": 1, "height": 28, "width": 28}
    assert tutorial["classes"] == 0 and tutorial["sliders"] == 5
    assert cyclegan["panels"] == ["translate", "run"] and cyclegan["image"] is None
    assert sorted(cyclegan["translations"]) == ["AtoB", "BtoA"]  # unpaired: both ways
    assert answer["limits"] == {"max_upload_bytes": 1024 * 1024, "max_pixels": 1024 * 1024}


def test_a_panel_the_run_does_not_serve_is_refused_by_the_registry(client):
    response = client.post("/api/generate", json={"run": 2})
    assert response.status_code == 400
    assert "run 2 (studio-cyclegan) translates images: gankit sample needs a run that " \
           "generates from noise" in response.json()["error"]


# --- generate, walk, edit -------------------------------------------------------------------

@pytest.mark.parametrize("run, extra, flags", [
    (0, {}, []), (0, {"class": 7, "truncation": 0.7}, ["--truncation", "0.7", "--class", "7"]),
    (1, {"grid": 3}, [])])
def test_generate_gives_the_pixels_of_gankit_sample(client, cli, runs, images, tmp_path,
                                                    studio_run, trained_run, run, extra,
                                                    flags):
    request = {"run": run, "seed": 11, "grid": 4, **extra}
    answer = ok(client.post("/api/generate", json=request))
    n = request["grid"] ** 2
    out = tmp_path / "grid.png"
    run_dir = [studio_run, trained_run][run]
    code, _, err = cli("sample", run_dir, "--seed", "11", "-n", n, *flags, "--out", out)
    assert code == 0, err
    from PIL import Image

    shown = images.pixels(answer["image"])
    assert np.array_equal(shown, np.asarray(Image.open(out)))  # gankit sample's own file
    classes = [extra["class"]] if "class" in extra else None
    drawn = gankit.sample(runs[run], n=n, seed=11, truncation=extra.get("truncation", 1.0),
                          classes=classes)
    assert np.array_equal(shown[2:30, 2:30, 0], drawn[0, 0].numpy())  # the first image
    assert answer["n"] == n
    assert answer["command"] == " ".join(["gankit sample", run_dir.name, "--seed 11 -n",
                                          str(n), *flags])  # the command shown: this one


@pytest.mark.parametrize("run", [0, 1])
def test_walk_frames_are_gankit_interpolate_frames(client, runs, images, studio_run,
                                                   trained_run, run):
    frames = gankit.interpolate(runs[run], frames=8, rows=1, seed=5)[0]
    for frame in (0, 3, 7):
        answer = ok(client.post("/api/walk", json={"run": run, "seed_a": 5, "seed_b": 5,
                                                   "frames": 8, "frame": frame}))
        assert np.array_equal(images.pixels(answer["image"]),
                              frames[frame].permute(1, 2, 0).numpy()[..., 0])
        name = [studio_run, trained_run][run].name
        assert answer["command"] == (f"gankit interpolate {name} --seed 5 --rows 1 --frames "
                                     f"8   # column {frame}")


def test_walk_sliders_and_class_change_the_frame(client, images):
    base = {"run": 0, "seed_a": 1, "seed_b": 2, "frames": 10, "frame": 4, "class": 3}
    plain = images.pixels(ok(client.post("/api/walk", json=base))["image"])
    zero = images.pixels(ok(client.post("/api/walk", json={**base, "amounts": [0, 0]}))["image"])
    moved = images.pixels(ok(client.post("/api/walk", json={**base, "amounts": [0, 3]}))["image"])
    other = images.pixels(ok(client.post("/api/walk", json={**base, "class": 8}))["image"])
    later = images.pixels(ok(client.post("/api/walk", json={**base, "frame": 9}))["image"])
    assert np.array_equal(plain, zero)
    for changed in (moved, other, later):
        assert np.abs(changed.astype(int) - plain).mean() > 1


# --- project and edit -----------------------------------------------------------------------

def test_projection_is_closer_than_a_random_sample_and_edits_start_from_it(client, runs,
                                                                          digits, images):
    digit = digits[3]
    answer = ok(client.post("/api/project", data={"run": 0, "steps": 40, "seed": 2},
                            files={"image": ("d.png", images.png(digit), "image/png")}))
    upload = digit[0].numpy().astype(float)
    reconstruction = images.pixels(answer["reconstruction"]).astype(float)
    assert np.array_equal(images.pixels(answer["upload"]), digit[0].numpy())
    random = gankit.sample(runs[0], n=8, seed=123)[:, 0].numpy().astype(float)
    error = ((reconstruction - upload) ** 2).mean()
    assert error < min(((r - upload) ** 2).mean() for r in random)
    assert answer["fit_mse"] == pytest.approx(error / 255 ** 2, rel=1e-3)
    assert 0 <= answer["label"] < 10 and len(answer["z"]) == 100
    same = gankit.project(runs[0], digit[None], restarts=1, steps=40, seed=2)
    assert answer["fit_mse"] == pytest.approx(float(same.fit_mse[0]), rel=1e-4)
    # editing: amounts 0 and its own class give the reconstruction itself
    edit = {"run": 0, "z": answer["z"], "label": answer["label"]}
    kept = ok(client.post("/api/edit", json={**edit, "amounts": [0, 0, 0, 0, 0]}))
    assert np.array_equal(images.pixels(kept["image"]), reconstruction.astype(np.uint8))
    moved = ok(client.post("/api/edit", json={**edit, "amounts": [3, 0, 0, 0, 0]}))
    other = ok(client.post("/api/edit", json={**edit, "class": (answer["label"] + 1) % 10}))
    for image in (moved, other):
        assert np.abs(images.pixels(image["image"]).astype(float) - reconstruction).mean() > 1


# --- inpaint --------------------------------------------------------------------------------

def test_inpainting_keeps_the_known_pixels_exactly(client, digits, images):
    digit = digits[5][0].numpy()
    mask = np.zeros((28, 28), np.uint8)
    mask[10:20, 4:24] = 255  # white = missing
    answer = ok(client.post("/api/inpaint", data={"run": 0, "steps": 20},
                            files={"image": ("d.png", images.png(digit), "image/png"),
                                   "mask": ("m.png", images.png(mask), "image/png")}))
    filled = images.pixels(answer["filled"])
    known = mask == 0
    assert np.array_equal(filled[known], digit[known])
    assert not np.array_equal(filled[~known], digit[~known])  # the hole was filled anew
    assert answer["missing_pixels"] == 200
    assert np.array_equal(images.pixels(answer["mask"]), mask)
    boxed = ok(client.post("/api/inpaint", data={"run": 1, "box": "0,14,28,14", "steps": 5},
                           files={"image": ("d.png", images.png(digit), "image/png")}))
    assert np.array_equal(images.pixels(boxed["filled"])[:14], digit[:14])
    assert boxed["label"] is None and "--box 0,14,28,14" in boxed["command"]


# --- translate and the run panel --------------------------------------------------------------

@pytest.mark.parametrize("direction", ["AtoB", "BtoA"])
def test_translate_gives_gankit_translate(client, runs, digits, images, direction):
    from gankit.apps.translate import resize_u8

    for size in (28, 8):
        image = resize_u8(digits[:1], (size, size))
        answer = ok(client.post("/api/translate", data={"run": 2, "direction": direction},
                                files={"image": ("d.png", images.png(image[0]), "image/png")}))
        expected = gankit.translate(runs[2], resize_u8(image, (28, 28)), direction)
        assert np.array_equal(images.pixels(answer["output"]), expected[0, 0].numpy())
        assert answer["direction"] == direction


def test_the_run_panel_returns_the_logs_curves(client, studio_run, images):
    from gankit.apps.report import sample_grid_files
    from gankit.training.charts import loss_png
    from gankit.training.run_log import read_log

    answer = ok(client.get("/api/history", params={"run": 0}))
    records = [r for r in read_log(studio_run / "log.jsonl") if "loss_d" in r]
    assert answer["curves"]["step"] == [r["step"] for r in records]
    for key in ("loss_d", "loss_g", "d_real", "d_fake"):
        assert answer["curves"][key] == pytest.approx([r[key] for r in records])
    assert records and answer["curves"]["step"][-1] == answer["step"] == 200
    assert np.array_equal(images.pixels(answer["loss_plot"]),
                          images.pixels(loss_png(read_log(studio_run / "log.jsonl"))))
    grids = sample_grid_files(studio_run)
    assert [s["step"] for s in answer["samples"]] == [step for step, _ in grids]
    assert np.array_equal(images.pixels(answer["final"]),
                          images.pixels((studio_run / "samples" / "final.png").read_bytes()))


# --- several tabs at once ---------------------------------------------------------------------

def test_concurrent_requests_keep_their_own_results_and_the_global_rng(app, client, digits,
                                                                     images):
    import httpx

    upload = {"image": ("d.png", images.png(digits[2]), "image/png")}
    requests = [("/api/generate", {"json": {"run": 0, "seed": s, "grid": 2}})
                for s in range(6)]
    requests += [("/api/walk", {"json": {"run": 1, "seed_a": s, "frames": 6, "frame": 2}})
                 for s in range(4)]
    requests += [("/api/project", {"data": {"run": 0, "steps": 4, "seed": s}, "files": upload})
                 for s in range(2)]
    requests += [("/api/inpaint", {"data": {"run": 0, "steps": 4, "seed": s,
                                            "box": "0,14,28,14"}, "files": upload})
                 for s in range(2)]

    def picture(answer: dict) -> str:
        return answer.get("image") or answer.get("reconstruction") or answer["filled"]

    alone = [picture(ok(client.post(path, **kwargs))) for path, kwargs in requests]
    assert len(set(alone[:10])) == 10  # (4 search steps may find one image for two seeds)

    async def together():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                     headers=PAGE) as async_client:
            return await asyncio.gather(*[async_client.post(path, **kwargs)
                                          for path, kwargs in requests])

    torch.manual_seed(1234)
    before = torch.get_rng_state()
    answers = asyncio.run(together())
    assert torch.equal(torch.get_rng_state(), before)  # no request drew from the global RNG
    assert [picture(ok(a)) for a in answers] == alone


# --- bad input: each gets one sentence, and the server keeps serving --------------------------

def _png_header(width: int, height: int) -> bytes:
    """A PNG of only a header (IHDR, IEND): it declares width x height gray pixels and holds
    none, so decoding it could only fail; a size check must come first."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I",
                                                                      zlib.crc32(kind + data))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0,
                                                            0, 0, 0)) + chunk(b"IEND", b"")


def _bad_requests(images, digit: np.ndarray) -> list:
    """(what, method, path, keyword arguments of the client's request, status, text)."""
    from PIL import Image
    import io

    def encoded(mode: str, fmt: str) -> bytes:
        buffer = io.BytesIO()
        Image.new(mode, (28, 28)).save(buffer, fmt)
        return buffer.getvalue()

    good = images.png(digit)

    def upload(data: bytes, **fields):
        return {"data": {"run": 0, "steps": 1, **fields},
                "files": {"image": ("x.png", data, "image/png")}}

    project, generate = "/api/project", "/api/generate"
    huge = (chunk for chunk in [b'{"run": 0, "pad": "' + b"x" * 600_000] * 2)
    return [
        ("not an image", "post", project, upload(b"GIF? no: plain text"), 400,
         "is not an image this studio reads (PNG, JPEG, BMP, GIF or WebP)"),
        ("0 bytes", "post", project, upload(b""), 400, "the upload is empty (0 bytes)"),
        ("a 50,000 x 50,000 px header", "post", project, upload(_png_header(50_000, 50_000)),
         413, "declares 2,500,000,000 pixels, more than this studio's limit of 1,048,576"),
        ("a 2,000 x 2,000 px header", "post", project, upload(_png_header(2000, 2000)), 413,
         "is 2,000 x 2,000 pixels, more than this studio's limit of 1,048,576 pixels"),
        ("CMYK: wrong channels", "post", project, upload(encoded("CMYK", "JPEG")), 400,
         "has Pillow mode CMYK (4 channels of ink); the studio takes 8-bit gray or RGB"),
        ("16-bit gray", "post", project, upload(encoded("I;16", "PNG")), 400,
         "mode I;16 (16-bit gray)"),
        ("the wrong size", "post", project, upload(images.png(np.zeros((30, 30), np.uint8))),
         400, "the upload is 30x30 pixels but this run makes 28x28 images; resize it first"),
        ("truncated", "post", project, upload(good[:len(good) // 2]), 400,
         "could not be decoded (image file is truncated): is it complete?"),
        ("no file", "post", project, {"data": {"run": 0}}, 400,
         "no image uploaded: send the file in the form field 'image'"),
        ("a path as the run", "post", project, upload(good, run="../../etc/passwd"), 400,
         "there is no run '../../etc/passwd': runs are picked by index"),
        ("a path as the box", "post", "/api/inpaint", upload(good, box="../../etc/passwd"),
         400, "--box takes x,y,w,h (four whole numbers), got '../../etc/passwd'"),
        ("an unknown run", "post", generate, {"json": {"run": 7}}, 400,
         "there is no run 7: runs are picked by index, and this studio serves runs 0 to 2"),
        ("bad JSON", "post", generate, {"content": b"{seed: 1"}, 400, "bad JSON: Expecting"),
        ("JSON that is no object", "post", generate, {"content": b"[1, 2]"}, 400,
         "bad JSON: the request must be an object of named fields"),
        ("a negative grid", "post", generate, {"json": {"grid": -4}}, 400,
         "grid must be a whole number from 1 to 16, got -4"),
        ("a huge grid", "post", generate, {"json": {"grid": 100_000}}, 400,
         "grid must be a whole number from 1 to 16, got 100000"),
        ("NaN truncation", "post", generate, {"content": b'{"truncation": NaN}'}, 400,
         "bad JSON: NaN is not a number the studio takes"),
        ("'nan' truncation", "post", generate, {"json": {"truncation": "nan"}}, 400,
         "truncation must be a finite number above 0 up to 10, got 'nan'"),
        ("a class out of range", "post", generate, {"json": {"class": 10}}, 400,
         "class must be a whole number from 0 to 9, got 10"),
        ("a class of an unconditional run", "post", generate, {"json": {"run": 1,
                                                                       "class": 3}}, 400,
         "class: this run is not class-conditional"),
        ("a frame past the walk", "post", "/api/walk", {"json": {"frames": 8, "frame": 8}},
         400, "frame must be a whole number from 0 to 7, got 8"),
        ("a latent of the wrong length", "post", "/api/edit", {"json": {"z": [0.5] * 3,
                                                                        "label": 1}}, 400,
         "z must be the 100 finite numbers of a projection"),
        ("a mask with no hole", "post", "/api/inpaint",
         {"data": {"run": 0}, "files": {"image": ("x.png", good, "image/png"),
                                        "mask": ("m.png", images.png(np.zeros((28, 28),
                                                                              np.uint8)))}},
         400, "the mask marks no pixel as missing"),
        ("a body over the cap, declared", "post", generate, {"content": b"{}" + b" " * 2 ** 21},
         413, "the request is larger than this studio's limit of 1 MB"),
        ("a body over the cap, streamed", "post", generate, {"content": huge}, 413,
         "the request is larger than this studio's limit of 1 MB (gankit studio "
         "--max-upload-mb)"),
        ("not from the page", "post", generate, {"json": {}, "headers": {
            "x-gankit-studio": "0"}}, 403, "API requests must come from the studio's page"),
        ("a direction the run lacks", "post", "/api/translate",
         upload(good, run=2, direction="sideways"), 400,
         "direction must be one of AtoB, BtoA, got 'sideways'"),
        ("an unknown API", "get", "/api/../../etc/passwd", {}, 404, "no such page or API"),
    ]


def test_bad_requests_each_get_a_sentence_and_the_server_keeps_serving(app, client, digits,
                                                                       images):
    good = {"run": 0, "seed": 4, "grid": 2}
    before = ok(client.post("/api/generate", json=good))["image"]
    studio, loaded = app.state.studio, [r.run for r in app.state.studio.runs]
    cases = _bad_requests(images, digits[0][0].numpy())
    assert len(cases) >= 20
    for what, method, path, kwargs, status, text in cases:
        response = getattr(client, method)(path, **kwargs)
        assert (response.status_code, response.headers["content-type"]) == \
            (status, "application/json"), (what, response.text)
        error = response.json()["error"]
        assert text in error and "\n" not in error and "Traceback" not in error, (what, error)
    # the same app, the same loaded runs, and a good request still gives the same pixels
    assert app.state.studio is studio and [r.run for r in studio.runs] == loaded
    assert ok(client.post("/api/generate", json=good))["image"] == before


def test_a_transparent_upload_is_read_on_white_as_gankit_translate_reads_it():
    """RGBA uploads: transparent pixels become white, half-transparent ones blend (the
    studio and `gankit translate` must see the same pixels)."""
    import io

    from PIL import Image

    from gankit.studio.uploads import decode_image

    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 128)  # half-transparent red on white: (255, 127, 127)
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    rgb = decode_image(buffer.getvalue(), 10_000, channels=3)
    assert (rgb[1:, 1:] == 255).all() and abs(int(rgb[0, 0, 1]) - 127) <= 1
    gray = decode_image(buffer.getvalue(), 10_000, channels=1)
    assert (gray[1:, 1:] == 255).all()
