"""The ``gankit`` command, called in-process (``gankit.cli.main``) and once as a real process."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.training.checkpoint import checkpoint_path, save_checkpoint
from gankit.config import PRESETS
from gankit.core.losses import LOSSES

EPOCH_LINE = re.compile(r"^Epoch \[(\d+)/(\d+)\], Loss D: -?\d+\.\d{4}, Loss G: -?\d+\.\d{4}$")
LOG_KEYS = {"step", "loss_d", "loss_g", "d_real", "d_fake", "images_per_s"}


def _assert_one_line_error(code, err):
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gankit: error: ")
    assert "Traceback" not in err


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}


def _log(run_dir: Path) -> list[dict]:
    lines = (run_dir / "log.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line is valid JSON
    return [r for r in records if "loss_d" in r]


# --- train: dry run -----------------------------------------------------------------------

def test_dry_run_prints_the_config_and_writes_nothing(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("train", "--preset", "seed-mlp", "--dry-run")
    assert code == 0 and err == ""
    assert out.splitlines()[0].startswith("preset: seed-mlp")
    assert "g_hidden=256,512,1024" in out and "d_hidden=512,256" in out
    assert "batch_size=64" in out and "epochs=100" in out and "lr_g=0.0002" in out
    code, out, _ = cli("train", "--preset", "seed-mlp", "--dry-run", "--out", tmp_path / "run",
                       "--batch-size", "32", "--set", "optim.lr_g=1e-4")
    assert code == 0
    assert "batch_size=32" in out and "lr_g=0.0001" in out
    assert list(tmp_path.iterdir()) == []  # no runs/, no run dir


def test_dry_run_with_config_file(cli, tmp_path):
    config = tmp_path / "exp.yaml"
    config.write_text("preset: seed-tutorial\ntrain:\n  batch_size: 48\n")
    code, out, _ = cli("train", "--config", config, "--dry-run", "--seed", "9")
    assert code == 0
    assert out.startswith("preset: seed-tutorial")
    assert "batch_size=48" in out and "seed=9" in out and "epochs=200" in out


# --- train: a short real run, then resume ----------------------------------------------------

SHORT = ["--preset", "default", "--batch-size", "16", "--no-progress",
         "--set", "train.log_every=2", "--set", "train.sample_every=2",
         "--set", "train.checkpoint_every=2", "--set", "train.grid_size=16"]


def test_short_run_writes_everything_and_resumes(cli, tmp_path):
    run = tmp_path / "run"
    code, out, err = cli("train", *SHORT, "--steps", "4", "--out", run)
    assert code == 0, err
    assert "preset: default" in out and "trained 4 steps" in out

    config = json.loads((run / "config.json").read_text())
    assert config["preset"] == "default" and config["train"]["steps"] == 4
    assert config["train"]["batch_size"] == 16

    records = _log(run)
    assert [r["step"] for r in records] == [2, 4]
    for record in records:
        assert LOG_KEYS <= set(record)
        assert all(np.isfinite(record[k]) for k in LOG_KEYS)
        assert 0 <= record["d_real"] <= 1 and 0 <= record["d_fake"] <= 1
        assert record["images_per_s"] > 0

    for name in ("step_0000002.png", "step_0000004.png", "final.png"):
        image = Image.open(run / "samples" / name)
        assert image.size == (2 + 4 * 30, 2 + 4 * 30)  # 16 tiles of 28 px, 2 px padding
    assert Image.open(run / "loss.png").size[0] > 100
    ckpts = sorted(p.name for p in (run / "checkpoints").glob("step_*.pt"))
    assert {"step_0000002.pt", "step_0000004.pt"} <= set(ckpts)
    assert ckpts[-1] == "step_0000004.pt" and len(ckpts) <= 3  # train.keep_checkpoints
    events = list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert events and any(b"train/loss_d" in e.read_bytes() for e in events)
    state = torch.load(run / "checkpoints" / "step_0000004.pt", weights_only=True)
    assert state["step"] == 4 and state["images_seen"] == 64
    provenance = config.pop("provenance")  # what this machine chose (calibrate.py)
    assert provenance["gankit_version"] and "calibration" in provenance
    assert json.loads(state["config"]) == config
    assert state["G_ema"] is not None  # the default preset keeps an EMA generator

    # resume: continues at step 4 and stops at 6
    code, out, err = cli("train", "--resume", run, "--steps", "6", "--no-progress")
    assert code == 0, err
    assert "resuming" in out and "at step 4" in out and "trained 6 steps" in out
    assert [r["step"] for r in _log(run)] == [2, 4, 6]
    assert (run / "samples" / "step_0000006.png").is_file()
    state = torch.load(run / "checkpoints" / "step_0000006.pt", weights_only=True)
    assert state["step"] == 6 and state["images_seen"] == 96
    assert json.loads((run / "config.json").read_text())["train"]["steps"] == 6

    # and it ends where an uninterrupted 6-step run ends
    straight = tmp_path / "straight"
    code, _, err = cli("train", *SHORT, "--steps", "6", "--out", straight)
    assert code == 0, err
    other = torch.load(straight / "checkpoints" / "step_0000006.pt", weights_only=True)
    for net in ("G", "D", "G_ema"):
        for key, value in other[net].items():
            assert torch.allclose(state[net][key].float(), value.float(), atol=1e-6), (net, key)
    assert [round(r["loss_d"], 4) for r in _log(straight)] == \
        [round(r["loss_d"], 4) for r in _log(run)]


def test_existing_run_without_resume_is_refused_and_kept(cli, copy_run):
    run = copy_run()
    before = _digest(run / "checkpoints")
    config_before = (run / "config.json").read_text()
    log_before = (run / "log.jsonl").read_text()
    code, _, err = cli("train", "--preset", "seed-tutorial", "--steps", "2", "--out", run,
                       "--no-progress")
    _assert_one_line_error(code, err)
    assert "--resume" in err
    assert _digest(run / "checkpoints") == before
    assert (run / "config.json").read_text() == config_before
    assert (run / "log.jsonl").read_text() == log_before


# --- the tutorial's epoch lines ----------------------------------------------------------------

def test_seed_tutorial_prints_every_ten_epochs(cli, png_folder, tmp_path):
    # 128 images in one batch of the preset's 128: one step per epoch, so 10 epochs are quick
    folder = png_folder(n=128, size=28)
    code, out, err = cli("train", "--preset", "seed-tutorial", "--data", folder, "--epochs", "10",
                         "--out", tmp_path / "run", "--no-progress")
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.startswith("Epoch")]
    assert len(lines) == 1, out
    match = EPOCH_LINE.match(lines[0])
    assert match and match.groups() == ("10", "10")


def test_seed_mlp_prints_every_epoch(cli, png_folder, tmp_path):
    folder = png_folder(n=64, size=28)
    code, out, err = cli("train", "--preset", "seed-mlp", "--data", folder, "--epochs", "3",
                         "--out", tmp_path / "run", "--no-progress")
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.startswith("Epoch")]
    assert [EPOCH_LINE.match(line).groups() for line in lines] == [("1", "3"), ("2", "3"),
                                                                    ("3", "3")]
    ckpts = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("*.pt"))
    assert ckpts[-1] == "step_0000003.pt"  # the preset checkpoints at the end only


def test_seed_keras_prints_its_losses(cli, png_folder, tmp_path):
    folder = png_folder(n=64, size=28)
    code, out, err = cli("train", "--preset", "seed-keras", "--data", folder, "--epochs", "1",
                         "--batch-size", "32", "--out", tmp_path / "run", "--no-progress")
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.startswith("Epoch")]
    assert len(lines) == 1 and EPOCH_LINE.match(lines[0]).groups() == ("1", "1")
    state = torch.load(tmp_path / "run" / "checkpoints" / "step_0000002.pt", weights_only=True)
    # Keras' two D updates per step: Adam has taken 4 steps on D, 2 on G
    assert {float(s["step"]) for s in state["opt_D"]["state"].values()} == {4.0}
    assert {float(s["step"]) for s in state["opt_G"]["state"].values()} == {2.0}


# --- sample -------------------------------------------------------------------------------------

def test_sample_npz(cli, trained_run, tmp_path):
    out = tmp_path / "s.npz"
    code, stdout, err = cli("sample", trained_run, "-n", "10", "--format", "npz", "--out", out)
    assert code == 0, err
    assert "wrote 10 images from step 5" in stdout
    with np.load(out) as data:
        images = data["images"]
    assert images.dtype == np.uint8 and images.shape == (10, 28, 28, 1)
    import gankit

    expected = gankit.sample(trained_run, n=10).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(images, expected)


def test_sample_png_folder_and_grid(cli, trained_run, tmp_path):
    code, _, err = cli("sample", trained_run, "-n", "5", "--format", "png",
                       "--out", tmp_path / "pngs")
    assert code == 0, err
    files = sorted((tmp_path / "pngs").glob("*.png"))
    assert len(files) == 5
    assert np.asarray(Image.open(files[0])).shape == (28, 28)
    code, _, err = cli("sample", trained_run, "-n", "16", "--out", tmp_path / "grid.png")
    assert code == 0, err
    assert Image.open(tmp_path / "grid.png").size == (122, 122)


def test_sample_seed_and_default_outputs(cli, copy_run):
    run = copy_run()
    assert cli("sample", run, "-n", "4", "--format", "npz")[0] == 0
    assert cli("sample", run, "-n", "4")[0] == 0
    assert (run / "sample.png").is_file()
    first = np.load(run / "samples.npz")["images"]
    assert cli("sample", run, "-n", "4", "--format", "npz", "--seed", "1")[0] == 0
    second = np.load(run / "samples.npz")["images"]
    assert first.shape == second.shape == (4, 28, 28, 1)
    assert not np.array_equal(first, second)
    # a checkpoint file works as well as the run directory
    ckpt = run / "checkpoints" / "step_0000005.pt"
    assert cli("sample", ckpt, "-n", "4", "--format", "npz", "--out", run / "c.npz")[0] == 0
    assert np.array_equal(np.load(run / "c.npz")["images"], first)


def test_sample_falls_back_when_the_newest_checkpoint_is_damaged(cli, copy_run, tmp_path):
    run = copy_run()
    state = torch.load(checkpoint_path(run, 5), weights_only=True)
    save_checkpoint(run, {**state, "step": 3}, keep=10)
    newest = checkpoint_path(run, 5)
    newest.write_bytes(newest.read_bytes()[:1000])
    code, out, err = cli("sample", run, "-n", "2", "--format", "npz", "--out", tmp_path / "s.npz")
    assert code == 0, err
    assert "warning" in out and "step_0000005.pt" in out
    assert "from step 3" in out
    assert np.load(tmp_path / "s.npz")["images"].shape == (2, 28, 28, 1)


# --- list ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("what,names", [("presets", PRESETS), ("losses", LOSSES),
                                        ("models", ["mlp", "dcgan"]),
                                        ("datasets", ["mnist5k", "mnist", "cifar10"])])
def test_list(cli, what, names):
    code, out, _ = cli("list", what)
    assert code == 0
    listed = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert set(names) <= listed


# --- bad input: one line, exit code 2, never a traceback ---------------------------------------

def _wrong_shape_run(copy_run):
    run = copy_run("wrong_shape")
    path = checkpoint_path(run, 5)
    state = torch.load(path, weights_only=True)
    state["G"]["model.0.weight"] = torch.zeros(64, 100)  # a G of another width
    save_checkpoint(run, state)  # re-signed, so only the shapes are wrong
    return run


def _other_architecture_run(copy_run):
    run = copy_run("other_arch")
    path = checkpoint_path(run, 5)
    state = torch.load(path, weights_only=True)
    config = json.loads(state["config"])
    config["model"]["name"] = "dcgan"
    state["config"] = json.dumps(config)
    save_checkpoint(run, state)
    return run


def _corrupt_run(copy_run):
    run = copy_run("corrupt")
    for path in (run / "checkpoints").glob("step_*.pt"):
        path.write_bytes(path.read_bytes()[:1000])
    return run


def _bad_image_folder(tmp_path, disk):
    folder = tmp_path / "bad_images"
    disk.write_png(folder / "ok.png", np.zeros((28, 28), np.uint8))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot a png at all")
    return folder


BAD_INPUTS = {
    "unknown preset": (lambda t, c, d: ["train", "--preset", "nope", "--dry-run"],
                       "unknown preset 'nope'"),
    "unknown dataset": (lambda t, c, d: ["train", "--data", "nosuchset", "--steps", "2",
                                         "--out", t / "r"], "unknown data set 'nosuchset'"),
    "unknown --set key": (lambda t, c, d: ["train", "--set", "train.nope=1", "--dry-run"],
                          "unknown config key 'train.nope'"),
    "wrong type": (lambda t, c, d: ["train", "--set", "train.batch_size=abc", "--dry-run"],
                   "bad value 'abc' for train.batch_size"),
    "--set without =": (lambda t, c, d: ["train", "--set", "train.batch_size", "--dry-run"],
                        "KEY=VALUE"),
    "negative batch size": (lambda t, c, d: ["train", "--batch-size", "-3", "--dry-run"],
                            "must be > 0, got -3"),
    "lr 0": (lambda t, c, d: ["train", "--set", "optim.lr_g=0", "--dry-run"],
             "learning rates must be > 0"),
    "beta1 1.5": (lambda t, c, d: ["train", "--set", "optim.beta1=1.5", "--dry-run"],
                  "betas must lie in"),
    "no budget": (lambda t, c, d: ["train", "--preset", "dcgan", "--epochs", "0", "--dry-run"],
                  "give a budget"),
    "missing config file": (lambda t, c, d: ["train", "--config", t / "no.yaml", "--dry-run"],
                            "config file not found"),
    "missing folder": (lambda t, c, d: ["train", "--data", t / "no" / "folder", "--steps", "2",
                                        "--out", t / "r"], "not a folder"),
    "empty folder": (lambda t, c, d: ["train", "--data", _empty(t), "--steps", "2",
                                      "--out", t / "r"], "no images"),
    "unreadable image": (lambda t, c, d: ["train", "--data", _bad_image_folder(t, d),
                                          "--steps", "2", "--out", t / "r"], "broken.png"),
    "unwritable --out": (lambda t, c, d: ["train", "--preset", "seed-tutorial", "--steps", "2",
                                          "--out", _file(t) / "run"], "cannot write"),
    "resume missing run": (lambda t, c, d: ["train", "--resume", t / "absent"],
                           "cannot resume"),
    "no subcommand": (lambda t, c, d: [], "required"),
    "sample missing run": (lambda t, c, d: ["sample", t / "absent"], "run directory not found"),
    "sample corrupt checkpoint": (lambda t, c, d: ["sample", _corrupt_run(c)],
                                  "no readable checkpoint"),
    "sample wrong shapes": (lambda t, c, d: ["sample", _wrong_shape_run(c)],
                            "does not fit its model"),
    "sample other architecture": (lambda t, c, d: ["sample", _other_architecture_run(c)],
                                  "does not fit its model"),
    "sample n 0": (lambda t, c, d: ["sample", t, "-n", "0"], "must be > 0"),
    "sample npz to png": (lambda t, c, d: ["sample", c(), "-n", "2", "--format", "npz",
                                           "--out", t / "x.png"], "writes a .npz file"),
}


def _empty(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def _file(tmp_path):
    path = tmp_path / "a_file"
    path.write_text("not a folder")
    return path


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_and_exit_code_2(cli, tmp_path, copy_run, disk, monkeypatch,
                                               case):
    monkeypatch.chdir(tmp_path)
    make_args, message = BAD_INPUTS[case]
    args = make_args(tmp_path, copy_run, disk)
    code, _, err = cli(*args)
    _assert_one_line_error(code, err)
    assert message in err, err


# --- one real process, end to end ----------------------------------------------------------------

@pytest.mark.slow
def test_end_to_end_in_a_real_process(tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg"}

    def gankit(*args):
        return subprocess.run([sys.executable, "-m", "gankit", *map(str, args)], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120)

    run = tmp_path / "e2e"
    done = gankit("train", "--preset", "seed-tutorial", "--steps", "3", "--out", run,
                  "--set", "train.checkpoint_every=2", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "trained 3 steps" in done.stdout
    assert (run / "samples" / "final.png").is_file()
    ckpts = sorted(p.name for p in (run / "checkpoints").glob("*.pt"))
    assert {"step_0000002.pt", "step_0000003.pt"} <= set(ckpts)
    assert ckpts[-1] == "step_0000003.pt"

    done = gankit("train", "--resume", run, "--steps", "5", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "at step 3" in done.stdout and "trained 5 steps" in done.stdout

    done = gankit("sample", run, "-n", "6", "--format", "npz", "--out", tmp_path / "s.npz")
    assert done.returncode == 0, done.stderr
    with np.load(tmp_path / "s.npz") as data:
        assert data["images"].shape == (6, 28, 28, 1) and data["images"].dtype == np.uint8

    done = gankit("train", "--set", "optim.beta1=1.5", "--dry-run")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith("gankit: error: ") and "Traceback" not in done.stderr
