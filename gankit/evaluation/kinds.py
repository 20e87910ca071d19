"""The evaluation layer's table of the training kinds: each kind's monitors and its
``gankit eval`` (see :mod:`gankit.config.kinds`, which decides a config's kind).

:func:`monitors` is the training driver's callback factory that gives a run its kind's
monitors; :func:`evaluate_run` scores a loaded run the way its kind does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from gankit.config.kinds import KindTable, kind_of, require
from gankit.training.trainer import Callback


@dataclass(frozen=True)
class KindEvaluation:
    """A training kind's pieces in the evaluation layer.

    ``monitors(setup, cfg, ctx) -> [Callback]``: the callbacks that score a run of the kind
    while it trains (a ``CallbackFactory`` of :func:`gankit.training.driver.drive`); they emit
    ``eval`` events, which the log keeps. ``evaluate(run, **options) -> {"scores": {...},
    "provenance": {...}}``: ``gankit eval`` of a loaded run, given the command's options by
    keyword (``n``, ``seed``, ``device``, ``data``, ``metrics``, ``reference``,
    ``extractor``, ``extractor_weights``, ``root``, ``progress``, ``direction``: it takes
    those it uses and ignores the others); ``format(result) -> str``: the result for a
    terminal.
    """

    monitors: Callable[[Any, Any, Any], list[Callback]]
    evaluate: Callable[..., dict[str, Any]]
    format: Callable[[dict[str, Any]], str]


def _builtins() -> None:
    from gankit.evaluation import evaluate, monitor, semantic, translation

    EVALUATION.register("generation", KindEvaluation(
        monitor.generation_monitors, evaluate.evaluate_generation, evaluate.format_table))
    EVALUATION.register("translation", KindEvaluation(
        semantic.attach_semantic, translation.evaluate_translation_run,
        translation.format_translation))


EVALUATION: KindTable[KindEvaluation] = KindTable("evaluation", _builtins)


def monitors(setup, cfg, ctx) -> list[Callback]:
    """The monitors of ``cfg``'s kind (a ``CallbackFactory`` of the training driver)."""
    return EVALUATION[kind_of(cfg)].monitors(setup, cfg, ctx)


def evaluate_run(run, **options: Any) -> tuple[dict[str, Any], str]:
    """(result, text) of ``gankit eval`` of a loaded ``run``, by its kind's evaluation;
    a kind that does not serve ``gankit eval`` is a UserError."""
    require(run.kind, "eval")
    entry = EVALUATION[run.kind]
    result = entry.evaluate(run, **options)
    return result, entry.format(result)
