"""The applications' table of the training kinds: each kind's sections of ``gankit report``
and what ``gankit export`` writes of its runs (see :mod:`gankit.config.kinds`, which
decides a config's kind and which commands a kind's runs serve).

The other commands need no table: ``gankit sample`` draws with the sampler of the run's
kind (:data:`gankit.training.kinds.TRAINING`), ``gankit eval`` scores with its evaluation
(:data:`gankit.evaluation.kinds.EVALUATION`), ``gankit translate`` calls the run's own
``translate(images_u8, direction, ema, batch_size)`` and ``input_shape(direction)``, and
``interpolate`` and ``inpaint`` serve noise-to-image runs only; each first asks
:func:`gankit.config.kinds.require` whether the run's kind serves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from gankit.config.kinds import KindTable, kind_of, require


@dataclass(frozen=True)
class KindApps:
    """A training kind's pieces in the applications.

    ``report(run_dir, cfg, *, neighbours, k, seed, device, root) -> [html]``: the kind's
    sections of the report page, after the losses, pictures and metric curves that every
    run has; ``export(run, ema, direction) -> Exported``: the network ``gankit export``
    writes, an example input, its metadata and how to describe it
    (:class:`gankit.apps.export.Exported`); None for a kind that does not serve export.
    """

    report: Callable[..., list[str]]
    export: Callable[..., Any] | None = None


def _builtins() -> None:
    from gankit.apps import export, report

    APPS.register("generation", KindApps(report.generation_sections, export.generator_export))
    APPS.register("translation", KindApps(report.translation_sections,
                                          export.translator_export))


APPS: KindTable[KindApps] = KindTable("apps", _builtins)


def report_sections(run_dir: Path, cfg, **options: Any) -> list[str]:
    """The report sections of the kind of the run in ``run_dir`` (config ``cfg``)."""
    kind = kind_of(cfg)
    require(kind, "report", subject=str(run_dir))
    return APPS[kind].report(run_dir, cfg, **options)


def exporter(run) -> Callable[..., Any]:
    """``export(run, ema, direction) -> Exported`` of the run's kind; a kind that does not
    serve ``gankit export`` is a UserError."""
    require(run.kind, "export")
    return APPS[run.kind].export
