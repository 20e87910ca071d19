"""Self-describing checkpoints, written atomically and loaded without running code.

A checkpoint is ``checkpoints/step_XXXXXXX.pt`` (tensors, numbers and strings only, read
with ``torch.load(weights_only=True)``) plus ``step_XXXXXXX.json`` beside it holding its
sha256 and a summary. Files are written to a temporary name, fsynced, then renamed, so a
crash never leaves a half-written checkpoint under a real name.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

from gankit.errors import UserError, first_line

FORMAT = "gankit-checkpoint-1"
_NAME = re.compile(r"step_(\d{7,})\.pt$")


def _atomic_write_bytes(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half."""
    _atomic_write_bytes(Path(path), lambda out: out.write(text.encode("utf-8")))


def atomic_torch_save(path: Path, obj: Any) -> None:
    """``torch.save(obj)`` to ``path`` atomically.

    The object is serialised in memory first: on a full disk torch's zip writer fails with
    an opaque RuntimeError ("unexpected pos ..."), while a plain write of the bytes raises
    OSError(ENOSPC), which callers turn into one clear line.
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    _atomic_write_bytes(Path(path), lambda out: out.write(buffer.getbuffer()))


def writable_file(path: str | Path) -> Path:
    """``path`` as a Path whose folder exists; a folder or an unwritable place is a
    :class:`UserError` in one line."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a directory; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"step_{step:07d}.pt"


def run_dir_of(path: str | Path) -> Path:
    """The run directory of ``path``: itself for a folder, RUN_DIR for RUN_DIR/checkpoints/X.pt."""
    path = Path(path)
    return path.parent.parent if path.is_file() else path


def refuse_existing_run(run_dir: Path) -> None:
    """A :class:`UserError` when ``run_dir`` already holds checkpoints (never overwrite work)."""
    if list_checkpoints(run_dir):
        raise UserError(f"{run_dir} already holds a run; add --resume to continue it or "
                        f"choose another --out")


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoint files of a run, oldest first."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def save_checkpoint(run_dir: Path, state: dict[str, Any], keep: int = 3) -> Path:
    """Write ``state`` (must hold ``step``) atomically; keep the newest ``keep`` checkpoints."""
    state = {"format": FORMAT, **state}
    path = checkpoint_path(run_dir, int(state["step"]))
    atomic_torch_save(path, state)
    summary = {"format": FORMAT, "file": path.name, "sha256": sha256_file(path),
               "step": int(state["step"]), "version": state.get("version")}
    atomic_write_text(path.with_suffix(".json"), json.dumps(summary, indent=2))
    for old in list_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
        old.with_suffix(".json").unlink(missing_ok=True)
    return path


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and verify one checkpoint; any problem is a :class:`UserError` in one line.

    Only tensors and plain containers are accepted (``weights_only=True``): a pickle that
    would construct any other object is refused before it can run.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    summary_path = path.with_suffix(".json")
    if summary_path.is_file():
        try:
            expected = json.loads(summary_path.read_text())["sha256"]
        except (ValueError, KeyError, TypeError):
            raise UserError(f"checkpoint summary {summary_path} is unreadable") from None
        if sha256_file(path) != expected:
            raise UserError(f"checkpoint {path} is corrupted (sha256 does not match "
                            f"{summary_path.name})")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        first = first_line(exc)
        if "weights only load failed" in first.lower():
            # torch's text would advise weights_only=False, i.e. running the file's code
            first = "it holds Python objects other than tensors and plain data (refused)"
        raise UserError(f"cannot load checkpoint {path}: {first[:200]}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError(f"{path} is not a gankit checkpoint")
    return state


def latest_checkpoint(run_dir: Path, map_location="cpu", warn=print) -> dict[str, Any]:
    """Load the newest checkpoint that verifies, falling back to older ones with a warning."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run directory not found: {run_dir}")
    candidates = list_checkpoints(run_dir)
    if not candidates:
        raise UserError(f"no checkpoint in {run_dir / 'checkpoints'}")
    problems = []
    for path in reversed(candidates):
        try:
            return load_checkpoint(path, map_location)
        except UserError as exc:
            problems.append(str(exc))
            warn(f"warning: {exc}; trying an older checkpoint")
    raise UserError(f"no readable checkpoint in {run_dir}: {problems[0]}")
