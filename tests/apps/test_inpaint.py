"""Inpainting: latent search with restarts (and class search), blending, files, mistakes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from gankit.cli import main
from gankit.errors import UserError
from gankit.apps.inpaint import box_mask, inpaint_batch, lower_half_mask, parse_box


class LinearG(nn.Module):
    """A toy generator: tanh(W z [+ class offset]) as (C, 8, 8) images."""

    def __init__(self, latent_dim=4, channels=1, num_classes=0, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.latent_dim, self.num_classes, self.channels = latent_dim, num_classes, channels
        self.W = nn.Parameter(torch.randn(channels * 64, latent_dim, generator=g) * 0.3)
        self.offsets = nn.Parameter(torch.randn(max(num_classes, 1), channels * 64,
                                                generator=g) * 1.0)

    def forward(self, z, labels=None):
        h = z @ self.W.T
        if self.num_classes:
            h = h + self.offsets[labels]
        return torch.tanh(h).view(-1, self.channels, 8, 8)


@pytest.mark.parametrize("channels", [1, 3])
def test_batch_recovers_hidden_pixels_of_images_the_generator_can_make(channels):
    torch.manual_seed(0)
    G = LinearG(channels=channels).eval()
    z_true = torch.randn(3, 4) * 0.5
    with torch.no_grad():
        x = G(z_true)
    known = lower_half_mask(3, (8, 8))
    result = inpaint_batch(G, x, known, latent_dim=4, restarts=2, steps=150, lr=0.1,
                           prior_weight=0.0)
    assert result.filled.shape == x.shape and result.z.shape == (3, 4)
    assert torch.equal(result.filled[:, :, :4], x[:, :, :4])  # known pixels kept exactly
    assert result.labels is None
    assert float(result.fit_mse.max()) < 1e-3
    assert float(result.hidden_mse.max()) < 1e-2
    # Filling with G beats filling with grey.
    grey = ((x[:, :, 4:] * 0.5 + 0.5 - 0.5) ** 2).mean()
    assert float(result.hidden_mse.mean()) < float(grey) / 10
    assert not any(p.requires_grad is False for p in G.parameters())  # G left as it was


def test_conditional_generator_search_finds_the_class():
    G = LinearG(num_classes=5, seed=1).eval()
    labels = torch.tensor([3, 0, 4])
    with torch.no_grad():
        x = G(torch.zeros(3, 4), labels)
    known = lower_half_mask(3, (8, 8))
    result = inpaint_batch(G, x, known, latent_dim=4, restarts=1, steps=40, lr=0.1, keep=2)
    assert torch.equal(result.labels, labels)
    assert float(result.hidden_mse.max()) < 1e-2


def test_masks_and_boxes():
    assert parse_box("1,2,3,4") == (1, 2, 3, 4)
    known = box_mask("2,1,3,2", (8, 8))
    assert known.shape == (1, 8, 8) and int((known == 0).sum()) == 6
    assert known[0, 1, 2] == 0 and known[0, 0, 2] == 1
    for bad in ("1,2,3", "a,b,c,d", "0,0,0,4", "-1,0,2,2"):
        with pytest.raises(UserError):
            parse_box(bad)
    with pytest.raises(UserError, match="outside"):
        box_mask("6,0,4,2", (8, 8))
    with pytest.raises(UserError, match="mask size"):
        inpaint_batch(LinearG(), torch.zeros(2, 1, 8, 8), torch.ones(2, 1, 7, 8), latent_dim=4)


def _digit_png(path, size=28, rgb=False):
    array = np.zeros((size, size), np.uint8)
    array[6:22, 12:16] = 255  # a "1"
    if rgb:
        array = np.stack([array] * 3, -1)
    Image.fromarray(array).save(path)
    return path


def test_cli_box_and_mask_write_the_filled_image(trained_run, tmp_path, capsys):
    image = _digit_png(tmp_path / "digit.png")
    out = tmp_path / "filled.png"
    code = main(["inpaint", str(trained_run), "--image", str(image), "--box", "0,14,28,14",
                 "--out", str(out), "--search-steps", "5", "--restarts", "2"])
    assert code == 0
    text = capsys.readouterr().out
    assert "392 pixels filled" in text and "fit MSE" in text
    filled = np.asarray(Image.open(out))
    original = np.asarray(Image.open(image))
    assert filled.shape == (28, 28)
    assert np.array_equal(filled[:14], original[:14])  # known pixels come from the input

    mask = np.zeros((28, 28), np.uint8)
    mask[10:20, 10:20] = 255  # white = missing
    Image.fromarray(mask).save(tmp_path / "mask.png")
    code = main(["inpaint", str(trained_run), "--image", str(image), "--mask",
                 str(tmp_path / "mask.png"), "--out", str(out), "--search-steps", "3",
                 "--feature-weight", "0.5"])
    assert code == 0 and "100 pixels filled" in capsys.readouterr().out


def test_cli_weights_reach_the_search(trained_run, tmp_path, monkeypatch):
    """--prior-weight and --realism-weight (the run's D on the whole image) are the search's
    prior_weight and d_weight; a positive realism weight calls D, the default does not."""
    import gankit.apps.inpaint as inpaint

    seen, real_batch = [], inpaint.inpaint_batch

    def spy(*args, **kwargs):
        calls = []
        kwargs["D"].register_forward_hook(lambda *a: calls.append(1))
        result = real_batch(*args, **kwargs)
        seen.append((kwargs["prior_weight"], kwargs["d_weight"], len(calls)))
        return result

    monkeypatch.setattr(inpaint, "inpaint_batch", spy)
    image = _digit_png(tmp_path / "digit.png")
    base = ["inpaint", str(trained_run), "--image", str(image), "--box", "0,14,28,14",
            "--out", str(tmp_path / "o.png"), "--search-steps", "4", "--restarts", "1"]
    assert main(base) == 0
    assert main(base + ["--prior-weight", "0.5", "--realism-weight", "0.1"]) == 0
    assert seen[0][:2] == (0.25, 0.0) and seen[0][2] == 0  # D never called by default
    assert seen[1][:2] == (0.5, 0.1) and seen[1][2] > 0


def test_api_accepts_tensors_and_rgb_files_of_gray_runs(trained_run, tmp_path):
    import gankit

    rgb = _digit_png(tmp_path / "rgb.png", rgb=True)  # converted to the run's one channel
    result = gankit.inpaint_image(trained_run, rgb, box=(0, 0, 28, 10), steps=3, restarts=1)
    assert result["filled"].shape == (1, 28, 28) and result["filled"].dtype == torch.uint8
    image = torch.zeros(1, 28, 28, dtype=torch.uint8)
    known = torch.ones(1, 28, 28)
    known[:, 20:] = 0
    again = gankit.inpaint_image(trained_run, image, mask=known, steps=3, restarts=1)
    assert torch.equal(again["filled"][:, :20], image[:, :20])


@pytest.mark.parametrize("extra, message", [
    (["--image", "{tmp}/missing.png", "--box", "0,0,4,4"], "image not found"),
    (["--image", "{tmp}/digit.png", "--box", "20,20,10,4"], "outside"),
    (["--image", "{tmp}/small.png", "--box", "0,0,4,4"], "run makes 28x28"),
    (["--image", "{tmp}/digit.png", "--mask", "{tmp}/small.png"], "mask"),
    (["--image", "{tmp}/digit.png", "--box", "0,0,4"], "x,y,w,h"),
    (["--image", "{tmp}/digit.png"], "one of the arguments --mask --box is required"),
    (["--image", "{tmp}/digit.png", "--box", "0,0,4,4", "--prior-weight", "-1"], ">= 0"),
])
def test_cli_user_errors_are_one_line_exit_2(trained_run, tmp_path, capsys, extra, message):
    _digit_png(tmp_path / "digit.png")
    _digit_png(tmp_path / "small.png", size=20)
    args = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    code = main(["inpaint", str(trained_run), *args, "--out", str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_cli_missing_run(tmp_path, capsys):
    assert main(["inpaint", str(tmp_path / "nope"), "--image", "x.png", "--box", "0,0,1,1"]) == 2
    assert "not found" in capsys.readouterr().err


def test_cli_api_and_benchmark_share_the_search_defaults(load_bench):
    """`gankit inpaint`, gankit.inpaint_image and bench/inpaint_heldout.py (whose figure the
    README quotes) search with the same restarts and steps as inpaint_batch."""
    import inspect

    import gankit
    from gankit.cli.parser import build_parser

    batch = inspect.signature(inpaint_batch).parameters
    wanted = {name: batch[name].default for name in ("restarts", "steps")}
    cli = build_parser().parse_args(["inpaint", "RUN", "--image", "x.png", "--box", "0,0,1,1"])
    image = inspect.signature(gankit.inpaint_image).parameters
    bench = load_bench("inpaint_heldout")
    flags = {"restarts": "restarts", "steps": "search_steps"}  # API keyword -> CLI dest
    for name, value in wanted.items():
        assert getattr(cli, flags[name]) == value
        assert image[name].default == value
        assert bench.SEARCH_DEFAULTS[name] == value
    # the weights bench/inpaint_tuning.py chose, the same on every path
    assert cli.prior_weight == image["prior_weight"].default == \
        batch["prior_weight"].default == 0.25
    assert cli.realism_weight == image["realism_weight"].default == \
        batch["d_weight"].default == 0.0


def test_the_inpainting_weights_are_tuned_on_digits_the_benchmark_never_scores(load_bench):
    """bench/inpaint_tuning.py trains on 4,250 digits and validates on 250 others, none of
    them among the 500 held-out digits bench/inpaint_heldout.py scores."""
    from gankit.evaluation.metrics.extractors import split_mnist5k

    tuning = load_bench("inpaint_tuning")
    train_rows, validation_rows = tuning.validation_split()
    _, held_out = split_mnist5k(5000, 500, seed=0)
    train, validation, scored = (set(r.tolist()) for r in (train_rows, validation_rows,
                                                            held_out))
    assert (len(train), len(validation)) == (4250, 250)
    assert not train & validation and not (train | validation) & scored
    assert len(train | validation | scored) == 5000
    assert tuning.validation_split()[1].tolist() == validation_rows.tolist()  # seeded


# --- the search shared with projection, and folders ----------------------------------------------

# The last commit of the search before it moved to gankit/apps/latent_search.py (which
# projection shares): inpaint_batch must give the same bits as it did there.
BEFORE = "b7832ccd0d0d6cc8f7b31048bf446e553f612a87"


def _inpaint_before(monkeypatch):
    """gankit/apps/inpaint.py as it was at BEFORE, imported from git."""
    import subprocess
    import sys
    import types
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(["git", "show", f"{BEFORE}:gankit/apps/inpaint.py"], cwd=root,
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"commit {BEFORE[:7]} is not in this checkout: {done.stderr.strip()}")
    module = types.ModuleType("inpaint_before")
    monkeypatch.setitem(sys.modules, "inpaint_before", module)  # its dataclass looks it up
    exec(compile(done.stdout, f"inpaint.py@{BEFORE[:7]}", "exec"), module.__dict__)
    return module


def test_the_shared_search_gives_inpainting_the_bits_it_gave_before(trained_run, monkeypatch):
    """Pins inpaint_batch's output on fixed seeds to the code before the search was shared:
    several images in chunks, the class search, the feature loss and the realism term."""
    import gankit

    before = _inpaint_before(monkeypatch)
    run = gankit.load(trained_run)
    torch.manual_seed(0)
    toy_x = torch.rand(5, 1, 8, 8) * 2 - 1
    digits = torch.rand(3, 1, 28, 28) * 2 - 1
    cases = [
        (LinearG(), toy_x, lower_half_mask(5, (8, 8)), dict(latent_dim=4, restarts=2, steps=30,
                                                             lr=0.1)),
        (LinearG(num_classes=5, seed=1), toy_x, lower_half_mask(5, (8, 8)),
         dict(latent_dim=4, restarts=2, steps=20, keep=3, max_candidates=25, seed=3)),
        (run.generator, digits, lower_half_mask(3, (28, 28)),
         dict(latent_dim=100, restarts=2, steps=8, feature_weight=0.5, D=run.D, d_weight=0.1,
              max_candidates=4)),
    ]
    for G, x, known, options in cases:
        old, new = before.inpaint_batch(G, x, known, **options), \
            inpaint_batch(G, x, known, **options)
        for key in ("filled", "generated", "z", "labels", "fit_mse", "hidden_mse"):
            a, b = getattr(old, key), getattr(new, key)
            assert (a is None and b is None) or torch.equal(a, b), key


def _digits(folder, count, size=28):
    """``count`` different digit-like PNGs in ``folder`` (and a sub-folder)."""
    for i in range(count):
        array = np.zeros((size, size), np.uint8)
        array[4 + i:20, 8 + 2 * i:12 + 2 * i] = 255
        path = folder / ("more" if i % 2 else "") / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(path)


@pytest.mark.parametrize("run_fixture", ["trained_run", "conditional_run"])
def test_a_folder_gives_each_image_the_pixels_it_gets_alone(request, run_fixture, tmp_path,
                                                            capsys):
    import gankit

    run = gankit.load(request.getfixturevalue(run_fixture))
    _digits(tmp_path / "in", 3)
    search = dict(box="0,14,28,14", steps=12, restarts=2, seed=5)
    folder = gankit.inpaint_folder(run, tmp_path / "in", tmp_path / "out", **search)
    names = ["0.png", "2.png", "more/1.png"]  # sorted paths
    assert folder["paths"] == [tmp_path / "out" / name for name in names]
    for i, name in enumerate(names):
        alone = gankit.inpaint_image(run, tmp_path / "in" / name, **search)
        assert alone["fit_mse"] == float(folder["fit_mse"][i])  # the same bits, not close
        assert alone["hidden_mse"] == float(folder["hidden_mse"][i])
        filled = np.asarray(Image.open(tmp_path / "out" / name))
        assert np.array_equal(filled, alone["filled"][0].numpy())
        original = np.asarray(Image.open(tmp_path / "in" / name))
        assert np.array_equal(filled[:14], original[:14])  # the known pixels, as given
    code = main(["inpaint", str(run.run_dir), "--input", str(tmp_path / "in"), "--out",
                 str(tmp_path / "cli"), "--box", "0,14,28,14", "--search-steps", "12",
                 "--restarts", "2", "--seed", "5"])
    assert code == 0 and "wrote 3 filled image(s)" in capsys.readouterr().out
    for name in names:
        assert np.array_equal(np.asarray(Image.open(tmp_path / "cli" / name)),
                              np.asarray(Image.open(tmp_path / "out" / name)))


@pytest.mark.parametrize("extra, message", [
    (["--input", "{tmp}/nope"], "--input not found"),
    (["--input", "{tmp}/mixed"], "run makes 28x28"),
    (["--input", "{tmp}/in", "--out", "{tmp}/x.png"], "--out names a folder"),
    (["--input", "{tmp}/in", "--image", "{tmp}/in/0.png"], "not allowed with argument"),
    (["--box", "0,0,4,4"], "one of the arguments --image --input is required"),
])
def test_folder_mistakes_are_one_line_exit_2(trained_run, tmp_path, capsys, extra, message):
    _digits(tmp_path / "in", 2)
    _digits(tmp_path / "mixed", 1)
    _digits(tmp_path / "mixed" / "small", 1, size=20)
    args = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    if "--box" not in args:
        args += ["--box", "0,0,4,4"]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "out")]
    code = main(["inpaint", str(trained_run), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
