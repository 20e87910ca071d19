"""Which way each quality score is better, and ``train.target`` values such as ``fid=20``.

The table lives in the config layer because validating ``train.target`` needs it; the
metrics (:mod:`gankit.evaluation.metrics`) import it from here.
"""

from __future__ import annotations

from gankit.errors import UserError

# Which way is better, per score: "min" (lower) or "max" (higher).
DIRECTIONS: dict[str, str] = {
    "fid": "min", "kid": "min", "is": "max", "precision": "max", "recall": "max",
    "density": "max", "coverage": "max", "modes": "max", "mode_kl": "min",
}


def parse_target(text: str) -> tuple[str, float]:
    """``"fid=20"`` -> ``("fid", 20.0)``; the score must have a known direction."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or name not in DIRECTIONS:
        raise UserError(f"target {text!r} must look like SCORE=VALUE with SCORE one of: "
                        f"{', '.join(DIRECTIONS)}")
    try:
        number = float(value)
    except ValueError:
        raise UserError(f"target {text!r}: {value!r} is not a number") from None
    return name, number
