"""``gankit train``'s config flags, built from the schema's declared options.

Each config field that declares a ``flag`` (:func:`gankit.config.schema.option`) becomes one
flag, with the field's help text, metavar and choices, and an argparse type that turns a
bad value into one line. A flag given on the command line overrides its config key; one not
given leaves the preset's (or the config file's) value alone.
"""

from __future__ import annotations

import argparse

from gankit.cli.argtypes import nonnegative_float, positive_float, whole_number
from gankit.config.options import Option, train_flags

# argument groups of ``gankit train --help``, by config section
GROUPS = {"data": "data", "model": "model", "train": "training"}


def _value_type(option: Option):
    """The argparse type of ``option``'s flag: bounds come from its declared ``low``."""
    if option.choices:
        return type(option.choices[0])
    if option.type is int:
        return int if option.low is None else whole_number(int(option.low))
    if option.type is float:
        return positive_float if option.low and option.low > 0 else nonnegative_float
    return str


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """Add a flag for every declared option, grouped by config section."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for option in train_flags():
        title = GROUPS.get(option.section, option.section)
        if title not in groups:
            groups[title] = parser.add_argument_group(f"{title} options (config keys "
                                                      f"{option.section}.*)")
        help_text = f"{option.help} ({option.key})"
        if option.type is bool:
            groups[title].add_argument(option.flag, dest=option.key, action="store_true",
                                       default=None, help=help_text)
            continue
        groups[title].add_argument(option.flag, dest=option.key, default=None,
                                   type=_value_type(option), choices=option.choices,
                                   metavar=None if option.choices else option.metavar,
                                   help=help_text)


def config_overrides(args: argparse.Namespace) -> dict[str, object]:
    """{config key: value} of the config flags given on the command line."""
    given = {option.key: getattr(args, option.key, None) for option in train_flags()}
    return {key: value for key, value in given.items() if value is not None}
