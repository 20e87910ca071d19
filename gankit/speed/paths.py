"""Which step, products and thread count a tunable run takes (:func:`choose`), and the step
that follows from the choice.

A kind that can be tuned (the noise-to-image kind) offers what is needed as an
:class:`Offer`: its networks and optimisers, its general step's loss, the networks as that
step calls them, a way to build the general step again on other entries (the calibration's
copies), a way to give a step another update (the hand-written MLP step) and a trial (one
step of a step on a batch of the run's shapes). The machinery imports nothing of the
training layer: the offer is read by its attributes.

How often things are built: the kind builds its general step once, for the run. When the
calibration measures (a cache miss), it makes one set of copies of G, D and their
optimisers, rebuilds the general step on them once and builds the hand-written step on them
once; every candidate (step x products x threads) takes turns on those copies, its products
set on them before each of its timings. The run's own hand-written step is built once, on
the run's networks, where it applies; the general step is never rebuilt for the run.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Mapping, Protocol, Sequence

import torch
from torch import nn

from gankit.speed import calibrate, fast_mlp, lazy_imports, products
from gankit.speed.calibrate import Choice, Decision, Trial
from gankit.speed.threads import set_count

ENTRIES = ("G", "D", "opt_G", "opt_D")  # what the calibration copies


class Offer(Protocol):
    """What a tunable kind offers (``gankit.training.strategies.Tunable``).

    ``entries``: the run's own G, D, opt_G and opt_D; ``networks``: every network of the run
    (G, D, G_ema: their gankit ``Linear`` layers take the chosen products); ``called``: G
    and D as the general step calls them (a wrapper rules the hand-written step out);
    ``loss``: the general step's loss; ``conditional``: whether G and D take classes;
    ``key``: the run's shapes, for the calibration's cache. ``rebuild(entries)``: the
    general step on other entries; ``with_update(step, update)``: ``step`` with
    ``update(real, z, update_g) -> stats`` as its update; ``trial(step)``: one step of
    ``step`` on a batch of the run's shapes (random streams are the caller's concern).
    """

    entries: Mapping[str, Any]
    networks: Sequence[nn.Module]
    called: tuple[nn.Module, nn.Module]
    loss: Any
    conditional: bool
    key: dict

    def rebuild(self, entries: Mapping[str, Any]) -> Any: ...

    def with_update(self, step: Any, update: Callable) -> Any: ...

    def trial(self, step: Any) -> Callable[[], None]: ...


def _fast_step(cfg, device: torch.device, world_size: int, offer: Offer, *, entries, called,
               onednn: bool):
    G_run, D_run = called
    return fast_mlp.fast_mlp_step(cfg, G_run, D_run, entries["opt_G"], entries["opt_D"],
                                  offer.loss, device=device, conditional=offer.conditional,
                                  world_size=world_size, onednn=onednn)


class Trials:
    """``trials(choice) -> Trial`` for :func:`gankit.speed.calibrate.measure`: one set of
    copies of the run's G, D and optimisers, made at the first call (a cached choice copies
    nothing), the general step rebuilt on them once and the hand-written step (``fast``)
    built on them once."""

    def __init__(self, cfg, device: torch.device, world_size: int, offer: Offer, fast: bool):
        self.cfg, self.device, self.world_size, self.offer = cfg, device, world_size, offer
        self.want_fast = fast
        self.copies: dict[str, Any] | None = None
        self.fast = None
        self.runs: dict[str, Callable[[], None]] = {}

    def _build(self) -> dict[str, Any]:
        # copied together, so that the copied optimisers hold the copied parameters
        copies = copy.deepcopy({name: self.offer.entries[name] for name in ENTRIES})
        lazy_imports.lazy_steps([copies["opt_G"], copies["opt_D"]])
        general = self.offer.rebuild(copies)
        self.runs["general"] = self.offer.trial(general)
        if self.want_fast:
            self.fast = _fast_step(self.cfg, self.device, self.world_size, self.offer,
                                   entries=copies, called=(copies["G"], copies["D"]),
                                   onednn=True)
            self.runs["fast-mlp"] = self.offer.trial(self.offer.with_update(general, self.fast))
        return copies

    def __call__(self, choice: Choice) -> Trial:
        if self.copies is None:
            self.copies = self._build()
        nets = (self.copies["G"], self.copies["D"])

        def prepare() -> None:
            if choice.onednn is not None:
                products.select(nets, choice.onednn)
                if self.fast is not None:
                    self.fast.onednn = choice.onednn

        return Trial(self.runs[choice.step], prepare)


def choose(cfg, device: torch.device, world_size: int, offer: Offer, echo
           ) -> tuple[Decision, fast_mlp.FastMLPStep | None]:
    """(the fixed choice or the calibration's, measured now or cached and printed; the
    hand-written step on the run's own networks where it applies, else None)."""
    library = products.library() if products.switchable(cfg, device, offer.networks) else None
    fast = _fast_step(cfg, device, world_size, offer, entries=offer.entries,
                      called=offer.called, onednn=True) if library is True else None
    default, candidates = calibrate.options(cfg, device, world_size, fast=fast is not None,
                                            onednn=library, threads=torch.get_num_threads(),
                                            library_fixed=products.user_fixed())
    G, D = offer.entries["G"], offer.entries["D"]
    key = calibrate.cache_key({"G": G, "D": D}, offer.key, default.threads, candidates)
    trials = Trials(cfg, device, world_size, offer, fast is not None)
    decision = calibrate.decide(cfg, default, candidates, key, trials, echo)
    if decision.header():
        echo(decision.header())
    return decision, fast


def apply(choice: Choice, offer: Offer, general: Any,
          fast: fast_mlp.FastMLPStep | None) -> Any:
    """The run's step for ``choice``: its threads and products set, and the kind's general
    step, or that step with ``fast`` (the hand-written MLP step on the run's own G, D and
    optimisers) as its update."""
    set_count(choice.threads)
    if choice.onednn is not None:
        products.select(offer.networks, choice.onednn)
    if choice.step != "fast-mlp" or fast is None:
        return general
    fast.onednn = bool(choice.onednn)
    return offer.with_update(general, fast)
