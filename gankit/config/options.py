"""The declared options of the config, read from the schema's fields (torch-free).

:func:`options` lists every config key with its type, default and help text;
:func:`train_flags` the ones ``gankit train`` spells as flags. The train parser
(:mod:`gankit.cli.parser`), the Python API's keywords (:mod:`gankit.api`) and the docs'
reference of config keys (``tools/cli_reference.py``) are built from them, so an option is
written once, in :mod:`gankit.config.schema`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, get_type_hints

from gankit.config.schema import SECTIONS, Config


@dataclass(frozen=True)
class Option:
    """One config key, as the schema declares it."""

    key: str  # "train.batch_size"
    type: Any  # int, float, str, bool or tuple[int, ...]
    default: Any
    help: str
    flag: str | None = None  # "--batch-size" where gankit train has a flag for it
    metavar: str | None = None
    choices: tuple | None = None
    low: float | None = None  # the smallest value the flag accepts
    api: str | None = None  # gankit.train's short keyword ("batch_size")

    @property
    def section(self) -> str:
        return self.key.partition(".")[0]


def options() -> list[Option]:
    """Every config key, section by section in the schema's order."""
    found = []
    defaults = Config()
    for section in SECTIONS:
        section_cls = type(getattr(defaults, section))
        types = get_type_hints(section_cls)
        for f in fields(section_cls):
            meta = f.metadata
            found.append(Option(key=f"{section}.{f.name}", type=types[f.name],
                                default=getattr(getattr(defaults, section), f.name),
                                help=meta.get("help", ""), flag=meta.get("flag"),
                                metavar=meta.get("metavar"), choices=meta.get("choices"),
                                low=meta.get("low"), api=meta.get("api")))
    return found


def train_flags() -> list[Option]:
    """The options ``gankit train`` takes as flags, in the schema's order."""
    return [option for option in options() if option.flag]


def api_keywords() -> dict[str, str]:
    """``gankit.train``'s short keywords: {"batch_size": "train.batch_size", ...}."""
    return {option.api: option.key for option in train_flags()}
