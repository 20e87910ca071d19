"""DiffAugment policy strings (``"translation,cutout"``), checked without importing torch, so
that validating a config needs none; the transforms themselves are in
:mod:`gankit.core.augment`."""

from __future__ import annotations

# The transforms a policy can name, in the order they are applied (colour first, as in the
# paper); :data:`gankit.core.augment.POLICIES` holds one entry for each.
TRANSFORM_NAMES: tuple[str, ...] = ("color", "translation", "cutout")


def parse_policy(policy: str) -> list[str]:
    """"translation,cutout" -> ["translation", "cutout"]; unknown names raise ValueError."""
    names = [name.strip() for name in policy.split(",") if name.strip()]
    for name in names:
        if name not in TRANSFORM_NAMES:
            raise ValueError(f"unknown DiffAugment transform {name!r} in {policy!r}; choose "
                             f"from: {', '.join(TRANSFORM_NAMES)}")
    return names
