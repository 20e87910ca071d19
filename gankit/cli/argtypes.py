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
