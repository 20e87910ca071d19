"""Pinned weights files of gankit's own extractors: written deterministically, checked by
sha256 whenever they are loaded, and loaded without running code (``weights_only``)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from gankit.errors import UserError, first_line


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_weights(net: nn.Module, out: Path, **fields) -> None:
    """Save ``net``'s weights and ``fields`` (plain numbers and strings) to ``out``.

    Saved by path, not through a buffer: the zip's record names come from the file name, and
    they are part of the pinned sha256."""
    state = {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}
    try:
        torch.save({"state_dict": state, **fields}, out)
    except (OSError, RuntimeError) as exc:  # a full disk is a RuntimeError in torch's writer
        raise UserError(f"cannot write {out}: {first_line(exc)}") from None


def read_pinned(path: str | Path, expected_sha256: str | None, make_hint: str
                ) -> tuple[dict, str]:
    """(the saved dict, its sha256) of a weights file; a missing file (``make_hint``: the
    command that makes it) or one whose sha256 is not ``expected_sha256`` is a UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"extractor weights not found: {path} (make them with `{make_hint}`)")
    digest = sha256_file(path)
    if expected_sha256 is not None and digest != expected_sha256:
        raise UserError(f"extractor weights {path} have sha256 {digest[:16]}..., expected "
                        f"{expected_sha256[:16]}...; the file is corrupt or not gankit's")
    try:
        return torch.load(path, map_location="cpu", weights_only=True), digest
    except Exception as exc:  # any unreadable file is the user's to fix
        raise UserError(f"cannot load extractor weights {path}: {first_line(exc)[:160]}") from None


def build_pinned(make: Callable[[int], nn.Module], saved: dict, path: str | Path) -> nn.Module:
    """``make(num_classes)`` with the saved weights loaded, in eval mode; building does not
    move the training RNG. A mismatched file is a UserError."""
    try:
        with torch.random.fork_rng(devices=[]):
            net = make(int(saved["num_classes"]))
        net.load_state_dict(saved["state_dict"])
    except Exception as exc:
        raise UserError(f"cannot load extractor weights {path}: {first_line(exc)[:160]}") from None
    return net.eval()
