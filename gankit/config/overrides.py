"""Dotted overrides (``train.batch_size=32``), config files and the JSON round trip.

:func:`resolve` applies them in order (preset, config file, explicit overrides) and
validates the result.
"""

from __future__ import annotations

import json
import math
try:  # Python 3.11+ has TOML in the standard library; 3.10 takes the tomli package
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, get_type_hints

from gankit.config.presets import preset
from gankit.config.schema import SECTIONS, Config
from gankit.config.validate import validate
from gankit.errors import UserError, first_line


def coerce(value: Any, kind: Any, key: str) -> Any:
    """Turn ``value`` (often a string from the command line) into the field's type."""
    text = value if isinstance(value, str) else None
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            if text is not None and text.lower() in ("1", "true", "yes", "on"):
                return True
            if text is not None and text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value) if not isinstance(value, str) else int(text.replace("_", ""))
        if kind is float:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
            if not math.isfinite(number):
                raise ValueError
            return number
        if kind is str:
            if not isinstance(value, str):
                raise ValueError
            return value
        if kind == tuple[int, ...]:
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(coerce(item, int, key) for item in items if str(item).strip() != "")
    except (ValueError, TypeError, AttributeError):
        pass
    type_name = getattr(kind, "__name__", "list of integers")
    raise UserError(f"bad value {value!r} for {key}: expected {type_name}")


def _field_types(section_cls: type) -> dict[str, Any]:
    return get_type_hints(section_cls)


def valid_keys() -> list[str]:
    """Every ``section.key`` that ``--set`` accepts."""
    keys = []
    for section in SECTIONS:
        section_cls = type(getattr(Config(), section))
        keys += [f"{section}.{f.name}" for f in fields(section_cls)]
    return keys


def apply_overrides(cfg: Config, overrides: dict[str, Any]) -> Config:
    """Return ``cfg`` with dotted keys (``train.batch_size``) set; unknown keys are errors."""
    for key, value in overrides.items():
        section, _, name = key.partition(".")
        if section not in SECTIONS or not name:
            raise UserError(f"unknown config key {key!r}; keys look like train.batch_size "
                            f"(see `gankit train --dry-run`)")
        section_obj = getattr(cfg, section)
        types = _field_types(type(section_obj))
        if name not in types:
            names = ", ".join(types)
            raise UserError(f"unknown config key {key!r}; {section} has: {names}")
        section_obj = replace(section_obj, **{name: coerce(value, types[name], key)})
        cfg = replace(cfg, **{section: section_obj})
    return cfg


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 1}}`` -> ``{"train.lr": 1}`` (lists are leaves)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML, TOML or JSON config file into flat dotted overrides.

    The file may name a ``preset`` at its top; the other top-level keys are sections.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix in (".toml",):
            tree = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            import yaml

            tree = yaml.safe_load(text) or {}
        elif path.suffix == ".json":
            tree = json.loads(text)
        else:
            raise UserError(f"config file {path} must end in .yaml, .yml, .toml or .json")
    except UserError:
        raise
    except Exception as exc:  # any parser's error is the user's file being malformed
        raise UserError(f"cannot parse config file {path}: {first_line(exc)}") from None
    if not isinstance(tree, dict):
        raise UserError(f"config file {path} must hold a mapping of sections")
    tree.pop("provenance", None)  # a run's config.json records what the run chose; not config
    return flatten(tree)


def from_dict(tree: dict[str, Any]) -> Config:
    """Rebuild a :class:`Config` from :meth:`Config.to_dict` output (JSON round trip)."""
    flat = flatten({k: v for k, v in tree.items() if k in SECTIONS})
    cfg = Config(preset=str(tree.get("preset", "default")),
                 description=str(tree.get("description", "")))
    return apply_overrides(cfg, flat)


def resolve(preset_name: str = "default", file_overrides: dict[str, Any] | None = None,
            overrides: dict[str, Any] | None = None) -> Config:
    """Preset, then config-file keys, then explicit overrides; validated."""
    file_overrides = dict(file_overrides or {})
    preset_name = str(file_overrides.pop("preset", preset_name))
    cfg = preset(preset_name)
    file_overrides.pop("description", None)
    cfg = apply_overrides(cfg, file_overrides)
    cfg = apply_overrides(cfg, overrides or {})
    validate(cfg)
    return cfg
