"""The fields of a request, checked one by one: each mistake is one sentence that names the
field, says what it takes and what came (shortened), never a traceback.

Requests carry numbers only: a run is picked by its index among the runs named at start,
and no field is ever used as a path.
"""

from __future__ import annotations

import json
import math
from typing import Any

from gankit.studio.uploads import Refused


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_json(body: bytes) -> dict:
    """A JSON object; NaN and Infinity (which Python's json would accept) are refused."""
    def constant(name: str):
        raise Refused(f"bad JSON: {name} is not a number the studio takes")
    try:
        value = json.loads(body or b"{}", parse_constant=constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refused(f"bad JSON: {str(exc).splitlines()[0][:80]}") from None
    if not isinstance(value, dict):
        raise Refused("bad JSON: the request must be an object of named fields")
    return value


def whole(fields: dict, name: str, low: int, high: int, default: int | None = None) -> int:
    """A whole number in [low, high]; numbers written as text (form fields) count."""
    value = fields.get(name, default)
    if value is None:
        raise Refused(f"{name} is missing: give a whole number from {low} to {high}")
    number = integer(value)
    if number is None or not low <= number <= high:
        raise Refused(f"{name} must be a whole number from {low} to {high}, got "
                      f"{shown(value)}")
    return number


def integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.isinteger():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 20:
        return int(value)
    return None


def number(fields: dict, name: str, low: float, high: float, default: float,
           *, open_low: bool = False) -> float:
    """A finite number in [low, high] (``open_low``: > low)."""
    value = fields.get(name, default)
    parsed = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        parsed = float(value)
    elif isinstance(value, str) and len(value) < 40:
        try:
            parsed = float(value)
        except ValueError:
            parsed = None
    above = parsed is not None and (parsed > low if open_low else parsed >= low)
    if parsed is None or not math.isfinite(parsed) or not above or parsed > high:
        bound = f"{'above' if open_low else 'from'} {low:g} {'up ' if open_low else ''}to " \
                f"{high:g}"
        raise Refused(f"{name} must be a finite number {bound}, got {shown(value)}")
    return parsed


def numbers(fields: dict, name: str, count: int, bound: float, *, exact: bool = True,
            default: list | None = None) -> list[float]:
    """A list of ``count`` finite numbers (or at most ``count`` unless ``exact``), each
    within +-bound."""
    value = fields.get(name, default if default is not None else [])
    ok = isinstance(value, list) and (len(value) == count if exact else len(value) <= count)
    ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                    and math.isfinite(v) and abs(v) <= bound for v in value)
    if not ok:
        size = f"{count}" if exact else f"at most {count}"
        raise Refused(f"{name} must be a list of {size} finite numbers between "
                      f"{-bound:g} and {bound:g}, got {shown(value)}")
    return [float(v) for v in value]


def choice(fields: dict, name: str, options: list[str], default: str | None = None) -> str:
    value = fields.get(name, default)
    if value not in options:
        raise Refused(f"{name} must be one of {', '.join(options)}, got {shown(value)}")
    return value


def optional_class(fields: dict, name: str, classes: int) -> int | None:
    """A class index of a conditional run, or None (absent, null or empty)."""
    value = fields.get(name)
    if value is None or value == "":
        return None
    if not classes:
        raise Refused(f"{name}: this run is not class-conditional, it has no classes")
    return whole(fields, name, 0, classes - 1)
