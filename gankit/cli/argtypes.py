"""argparse types of the ``gankit`` flags: each turns a bad value into a one-line message."""

from __future__ import annotations

import argparse


def whole_number(minimum: int):
    """An argparse type: a whole number >= ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            bound = "> 0" if minimum == 1 else f">= {minimum}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value
    return parse


positive_int = whole_number(1)
nonnegative_int = whole_number(0)


def _finite(text: str, positive: bool, note: str = "") -> float:
    """``text`` as a finite float > 0 (``positive``) or >= 0, else a one-line error."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not ((value > 0 if positive else value >= 0) and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number {'>' if positive else '>='}"
                                         f" 0{note}, got {text}")
    return value


def nonnegative_float(text: str) -> float:
    return _finite(text, positive=False)


def truncation(text: str) -> float:
    return _finite(text, positive=True, note=" (1 = none)")


def at_least_two(text: str) -> int:
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be >= 2 (both ends of the path), got {value}")
    return value


def positive_float(text: str) -> float:
    return _finite(text, positive=True)


def class_list(text: str) -> list[int]:
    try:
        classes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected class numbers like 0,1,2, got {text!r}") from None
    if not classes:
        raise argparse.ArgumentTypeError("give at least one class number")
    return classes


def add_ema_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ema", action=argparse.BooleanOptionalAction, default=True,
                        help="use the EMA generator when the run has one (default)")


# --- flags that several sub-commands share, spelled and explained the same everywhere ----------

def add_device_flag(parser: argparse.ArgumentParser, default: str | None = "auto") -> None:
    """``--device``: where the networks run (checked by the command, not here)."""
    parser.add_argument("--device", default=default, metavar="DEVICE",
                        help="auto (default: cuda when PyTorch sees a GPU, else cpu), cpu, "
                        "cuda or cuda:N")


def add_progress_flag(parser: argparse.ArgumentParser) -> None:
    """``--no-progress``: no progress bar (bars are also off when stderr is no terminal)."""
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (bars also stay off when stderr is not a "
                        "terminal, e.g. in CI logs and SLURM output files)")


def add_seed_flag(parser: argparse.ArgumentParser, default: int | None = 0,
                  what: str = "random numbers") -> None:
    """``--seed``: the seed of ``what``."""
    shown = "" if default is None else f" ({default})"
    parser.add_argument("--seed", type=int, default=default,
                        help=f"seed of the {what}{shown}")


DEPRECATIONS = "deprecations"  # namespace attribute: the warnings of the old spellings used


class DeprecatedAlias(argparse.Action):
    """The former spelling of a renamed flag: it sets the new flag's value and notes a
    warning, which :func:`gankit.cli.main` prints (one line) once the command line parsed."""

    def __init__(self, option_strings, dest, new: str = "", command: str = "", **kwargs):
        super().__init__(option_strings, dest, **kwargs)
        self.new, self.command = new, command

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)
        warning = f"{self.command} {option_string} is deprecated; use {self.new}"
        noted = list(getattr(namespace, DEPRECATIONS, []))
        setattr(namespace, DEPRECATIONS, noted + ([warning] if warning not in noted else []))


def add_renamed_flag(parser: argparse.ArgumentParser, new: str, old: str, **kwargs
                     ) -> argparse.Action:
    """Add flag ``new``, and ``old`` (its former spelling) as a deprecated alias: hidden
    from the help, which names it in ``new``'s text, and still working, with a warning."""
    kwargs["help"] = f"{kwargs['help']} (was {old}, deprecated)"
    action = parser.add_argument(new, **kwargs)
    command = parser.prog.partition(" ")[2]  # "gankit data prepare" -> "data prepare"
    parser.add_argument(old, action=DeprecatedAlias, dest=action.dest, type=action.type,
                        metavar=action.metavar, choices=action.choices,
                        default=argparse.SUPPRESS, help=argparse.SUPPRESS, new=new,
                        command=command)
    return action
