"""``gankit list WHAT``: the rows of one registry, ``name  description``.

Registries are imported only when listed, so that ``gankit --help`` and ``gankit list
presets`` do not load the model code.
"""

from __future__ import annotations

from importlib import import_module

# what -> (module, attribute): where the registry of ``gankit list what`` lives
LISTINGS = {
    "presets": ("gankit.config.presets", "PRESETS"),
    "models": ("gankit.core.models", "MODELS"),
    "losses": ("gankit.core.losses", "LOSSES"),
    "datasets": ("gankit.data", "DATASETS"),
    "translations": ("gankit.data", "TRANSLATION_SETS"),
    "metrics": ("gankit.evaluation.metrics", "METRICS"),
    "extractors": ("gankit.evaluation.metrics.extractors", "EXTRACTORS"),
}

# Rows a listing shows besides the registered names.
EXTRA_ROWS = {
    "datasets": [("PATH", "any folder of images (recursive; sub-folders are classes), or a "
                          "prepared data set (gankit data prepare)")],
    "translations": [("PATH", "a folder: trainA/ + trainB/ (unpaired), A/ + B/ matched by "
                              "name, or train/ of side-by-side AB images (paired)")],
}


def rows(what: str) -> list[tuple[str, str]]:
    """(name, description) rows of ``gankit list what``."""
    module, attribute = LISTINGS[what]
    return getattr(import_module(module), attribute).describe() + EXTRA_ROWS.get(what, [])


def cmd_list(args) -> int:
    table = rows(args.what)
    width = max(len(name) for name, _ in table)
    for name, text in table:
        print(f"{name:<{width}}  {text}")
    return 0
