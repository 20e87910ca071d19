"""``gankit sweep --param KEY=KIND:ARGS`` and ``--storage URL``: parsed and checked before
any trial runs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gankit.errors import UserError

KINDS = ("uniform", "loguniform", "int", "choice")


@dataclass(frozen=True)
class ParamSpec:
    """One searched config key: ``key=kind:args``."""

    key: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    choices: tuple[Any, ...] = ()

    def text(self) -> str:
        if self.kind == "choice":
            return f"{self.key}=choice:{','.join(map(str, self.choices))}"
        return f"{self.key}={self.kind}:{self.low}:{self.high}"

    def suggest(self, trial) -> Any:
        if self.kind == "uniform":
            return trial.suggest_float(self.key, self.low, self.high)
        if self.kind == "loguniform":
            return trial.suggest_float(self.key, self.low, self.high, log=True)
        if self.kind == "int":
            return trial.suggest_int(self.key, self.low, self.high)
        return trial.suggest_categorical(self.key, list(self.choices))

    def example(self) -> Any:
        """A value inside the range (used to check the key before any trial runs)."""
        return self.choices[0] if self.kind == "choice" else self.low


def _scalar(text: str) -> Any:
    """``"3"`` -> 3, ``"0.5"`` -> 0.5, ``"true"`` -> True, else the string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def parse_param(text: str) -> ParamSpec:
    """``"optim.lr_g=loguniform:1e-5:1e-3"`` -> :class:`ParamSpec`; mistakes raise UserError.

    Kinds: ``uniform:a:b``, ``loguniform:a:b`` (0 < a), ``int:a:b`` (whole numbers),
    ``choice:x,y,z``. Keys must be config keys (``gankit train --dry-run`` shows them).
    """
    from gankit.config import valid_keys

    key, sep, spec = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UserError(f"--param takes KEY=KIND:ARGS, e.g. optim.lr_g=loguniform:1e-5:1e-3; "
                        f"got {text!r}")
    if key not in valid_keys():
        raise UserError(f"--param {text!r}: unknown config key {key!r} (keys look like "
                        f"optim.lr_g, train.batch_size)")
    kind, _, args = spec.partition(":")
    kind = kind.strip()
    if kind not in KINDS:
        raise UserError(f"--param {text!r}: unknown kind {kind!r}; use one of "
                        f"{', '.join(KINDS)} (e.g. {key}=uniform:0.1:0.9)")
    if kind == "choice":
        choices = tuple(_scalar(c) for c in args.split(",") if c.strip())
        if not choices:
            raise UserError(f"--param {text!r}: choice needs values, e.g. choice:32,64,128")
        return ParamSpec(key, kind, choices=choices)
    parts = args.split(":")
    if len(parts) != 2:
        raise UserError(f"--param {text!r}: {kind} takes two bounds, {kind}:LOW:HIGH")
    try:
        if kind == "int":
            low, high = int(parts[0]), int(parts[1])
        else:
            low, high = float(parts[0]), float(parts[1])
    except ValueError:
        need = "whole numbers" if kind == "int" else "numbers"
        raise UserError(f"--param {text!r}: the bounds must be {need}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise UserError(f"--param {text!r}: need finite bounds with LOW < HIGH")
    if kind == "loguniform" and low <= 0:
        raise UserError(f"--param {text!r}: loguniform needs LOW > 0")
    return ParamSpec(key, kind, low, high)


def parse_storage(text: str) -> str:
    """An RDB URL; ``sqlite:///path.db`` (the usual) gets its folder created."""
    if "://" not in text:
        raise UserError(f"--storage takes a database URL like sqlite:///sweep.db, got {text!r}")
    if text.startswith("sqlite:///"):
        path = Path(text[len("sqlite:///"):])
        if not str(path) or str(path) == ":memory:":
            raise UserError("--storage needs a database file (sqlite:///sweep.db), not memory")
        try:
            path.expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create the folder of {path}: {exc.strerror or exc}") from None
    return text
