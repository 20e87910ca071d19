"""Semantic consistency's classifiers (CyCADA, Hoffman et al. 2018), handed to a translation
run's step.

The classifiers belong to the evaluation layer (:mod:`gankit.evaluation.metrics.
classifiers`), which the training layer may not import; so the translation kind's callback
factory (:data:`gankit.evaluation.kinds.EVALUATION`) gives a run with
``translation.semantic_weight > 0`` its :class:`~gankit.training.translation_steps.Semantic`
before the first step, on a fresh run and on a resumed one alike. Each domain's classifier is
``translation.classifier_a`` / ``classifier_b``, or the built-in one of the domain
(digits: digits-cnn, mnist: mnist-cnn).
"""

from __future__ import annotations

from gankit.errors import UserError
from gankit.training.translation_steps import Semantic


def classifier_spec(cfg, domain: str, side: str) -> str:
    """The classifier of domain ``side`` ("a" or "b", named ``domain``) for ``cfg``."""
    from gankit.evaluation.translation import DOMAIN_CLASSIFIERS

    spec = getattr(cfg.translation, f"classifier_{side}") or DOMAIN_CLASSIFIERS.get(domain)
    if not spec:
        raise UserError(f"translation.semantic_weight needs a classifier of domain "
                        f"{side.upper()} ({domain}): train one with `gankit extractor train "
                        f"--folder DIR --out FILE` and set translation.classifier_{side}=FILE")
    return spec


def attach_semantic(setup, cfg, ctx) -> list:
    """The translation kind's callback factory: no callbacks, but a run with semantic
    consistency gets its step's :class:`Semantic` (source classifiers frozen, on the run's
    device)."""
    if cfg.translation.semantic_weight <= 0:
        return []
    from gankit.evaluation.metrics.classifiers import source_classifier

    data, step = setup.data, setup.strategy
    device = str(ctx.device)
    classifiers = [source_classifier(classifier_spec(cfg, domain, side), device=device)
                   for domain, side in ((data.a_domain, "a"), (data.b_domain, "b"))]
    if step.reverse:  # a one-way run B -> A: its input domain is B
        classifiers.reverse()
    step.semantic = Semantic(*classifiers, weight=cfg.translation.semantic_weight)
    return []
