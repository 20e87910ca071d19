"""Checkpoints: atomic writes, pruning, corruption fallback, and refusing to run pickles."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch

from gankit.training.checkpoint import (FORMAT, atomic_write_text, checkpoint_path, latest_checkpoint,
                               list_checkpoints, load_checkpoint, save_checkpoint, sha256_file)
from gankit.errors import UserError


def _state(step):
    torch.manual_seed(step)
    return {"step": step, "version": "test", "config": json.dumps({"preset": "x"}),
            "G": {"w": torch.randn(3, 4), "b": torch.zeros(3)},
            "opt": {"state": {0: {"step": torch.tensor(float(step))}}, "lr": 1e-3},
            "rng_cpu": torch.get_rng_state(), "G_ema": None, "shape": [1, 28, 28]}


def _files(run_dir):
    return sorted(p.name for p in (run_dir / "checkpoints").iterdir())


def test_save_load_round_trip(tmp_path):
    state = _state(7)
    path = save_checkpoint(tmp_path, state)
    assert path == checkpoint_path(tmp_path, 7) == tmp_path / "checkpoints" / "step_0000007.pt"
    # no temporary files left behind; a summary with the hash sits beside the checkpoint
    assert _files(tmp_path) == ["step_0000007.json", "step_0000007.pt"]
    summary = json.loads(path.with_suffix(".json").read_text())
    assert summary["sha256"] == sha256_file(path) and summary["step"] == 7
    loaded = load_checkpoint(path)
    assert loaded["format"] == FORMAT
    assert loaded["step"] == 7 and loaded["version"] == "test" and loaded["G_ema"] is None
    assert torch.equal(loaded["G"]["w"], state["G"]["w"])
    assert torch.equal(loaded["G"]["b"], state["G"]["b"])
    assert torch.equal(loaded["rng_cpu"], state["rng_cpu"])
    assert loaded["opt"]["state"][0]["step"].item() == 7.0 and loaded["opt"]["lr"] == 1e-3
    assert loaded["config"] == state["config"] and loaded["shape"] == [1, 28, 28]
    assert latest_checkpoint(tmp_path)["step"] == 7


def test_failed_write_leaves_no_file_under_the_real_name(tmp_path):
    save_checkpoint(tmp_path, _state(1))
    bad = {**_state(2), "unpicklable": lambda: None}  # torch.save fails half way
    # that failure, not another (Python versions differ in its type, not in its words)
    with pytest.raises((pickle.PicklingError, AttributeError), match="(?i)can't pickle"):
        save_checkpoint(tmp_path, bad)
    assert _files(tmp_path) == ["step_0000001.json", "step_0000001.pt"]
    assert latest_checkpoint(tmp_path)["step"] == 1


def test_a_write_that_fails_on_the_disk_leaves_nothing_behind(tmp_path, monkeypatch):
    """The bytes were written but could not be made durable (the disk filled up, an I/O
    error): the error reaches the caller as it was, the temporary file is removed and the
    previous checkpoint is still the newest."""
    import errno

    save_checkpoint(tmp_path, _state(1))
    real_fsync = os.fsync

    def fsync(fd):
        if os.fstat(fd).st_size:  # the checkpoint's bytes, not the folder
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError, match="No space left") as info:
        save_checkpoint(tmp_path, _state(2))
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "step_0000001.json", "step_0000001.pt"]  # no temporary file either
    assert latest_checkpoint(tmp_path, warn=pytest.fail)["step"] == 1


def test_atomic_write_text_replaces_whole_file(tmp_path):
    path = tmp_path / "sub" / "config.json"
    atomic_write_text(path, "first")
    atomic_write_text(path, "second")
    assert path.read_text() == "second"
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.json"]


def test_keep_k_prunes_oldest(tmp_path):
    for step in (1, 2, 3, 10, 20):
        save_checkpoint(tmp_path, _state(step), keep=2)
    assert _files(tmp_path) == ["step_0000010.json", "step_0000010.pt",
                                "step_0000020.json", "step_0000020.pt"]
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_0000010.pt", "step_0000020.pt"]


def test_list_checkpoints_orders_by_step_not_name(tmp_path):
    for step in (9, 10_000_000, 100):
        save_checkpoint(tmp_path, _state(step), keep=5)
    (tmp_path / "checkpoints" / "notes.pt").write_text("ignored")
    steps = [int(p.stem.split("_")[1]) for p in list_checkpoints(tmp_path)]
    assert steps == [9, 100, 10_000_000]
    assert latest_checkpoint(tmp_path)["step"] == 10_000_000


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_bit(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_truncate, _flip_bit])
def test_damaged_newest_falls_back_to_previous_with_a_warning(tmp_path, damage):
    save_checkpoint(tmp_path, _state(1))
    save_checkpoint(tmp_path, _state(2))
    damage(checkpoint_path(tmp_path, 2))
    warnings = []
    state = latest_checkpoint(tmp_path, warn=warnings.append)
    assert state["step"] == 1
    assert torch.equal(state["G"]["w"], _state(1)["G"]["w"])
    assert len(warnings) == 1
    assert "step_0000002.pt" in warnings[0] and "older checkpoint" in warnings[0]
    with pytest.raises(UserError, match="corrupted"):
        load_checkpoint(checkpoint_path(tmp_path, 2))


def test_truncated_checkpoint_without_summary_is_still_caught(tmp_path):
    save_checkpoint(tmp_path, _state(1))
    save_checkpoint(tmp_path, _state(2))
    path = checkpoint_path(tmp_path, 2)
    path.with_suffix(".json").unlink()
    _truncate(path)
    with pytest.raises(UserError, match="cannot load checkpoint"):
        load_checkpoint(path)
    warnings = []
    assert latest_checkpoint(tmp_path, warn=warnings.append)["step"] == 1
    assert len(warnings) == 1


def test_no_good_checkpoint_is_a_user_error(tmp_path):
    save_checkpoint(tmp_path, _state(1))
    save_checkpoint(tmp_path, _state(2))
    _truncate(checkpoint_path(tmp_path, 1))
    _flip_bit(checkpoint_path(tmp_path, 2))
    warnings = []
    with pytest.raises(UserError, match="no readable checkpoint"):
        latest_checkpoint(tmp_path, warn=warnings.append)
    assert len(warnings) == 2


def test_missing_run_or_checkpoints_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="run directory not found"):
        latest_checkpoint(tmp_path / "absent")
    with pytest.raises(UserError, match="no checkpoint"):
        latest_checkpoint(tmp_path)
    with pytest.raises(UserError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "step_0000001.pt")


def test_a_torch_file_that_is_not_a_gankit_checkpoint(tmp_path):
    path = checkpoint_path(tmp_path, 1)
    path.parent.mkdir(parents=True)
    torch.save({"step": 1, "w": torch.zeros(2)}, path)
    with pytest.raises(UserError, match="not a gankit checkpoint"):
        load_checkpoint(path)
    torch.save([torch.zeros(2)], path)
    with pytest.raises(UserError, match="not a gankit checkpoint"):
        load_checkpoint(path)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_crafted_pickle_is_refused_and_does_not_run(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = checkpoint_path(tmp_path, 1)
    path.parent.mkdir(parents=True)
    evil = {"format": FORMAT, "step": 1, "x": _Payload(marker)}
    if writer == "pickle":
        path.write_bytes(pickle.dumps(evil))
    else:
        torch.save(evil, path)
    assert not marker.exists()
    with pytest.raises(UserError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)
    assert "refused" in str(info.value)
    assert "weights_only" not in str(info.value)  # never advise loading it unsafely
    with pytest.raises(UserError):
        latest_checkpoint(tmp_path, warn=lambda _: None)
    assert not marker.exists()
