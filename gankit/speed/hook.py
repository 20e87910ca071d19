"""``tune(session)``: the one call by which the training driver hands a session of a run to the
speed machinery, and what it gets back.

In order (each step says why it sits where it does):

1. the load window opens (:func:`gankit.speed.threads.open_load_window`), so that the
   work below fills the automatic thread count's measurement instead of a sleep;
2. ``train.precision=auto`` is resolved (:mod:`gankit.speed.precision`): the kind builds
   its general step for a known precision;
3. the driver's ``build(cfg)`` runs the training kind: data, networks, optimisers and its
   general step, nothing of the machinery;
4. the thread count is applied (``train.threads``; automatic: the CPUs other work leaves
   free over the window);
5. the run's optimisers get the lazy step (:mod:`gankit.speed.lazy_imports`);
6. for a kind that offers its step to be tuned: the products, the step (the kind's general
   one, or it with the hand-written MLP update) and the thread count, fixed or calibrated
   (:mod:`gankit.speed.paths`), recorded for ``config.json``;
7. the thread governor, where the count is automatic, for the driver to put among the
   callbacks.

With ``GANKIT_SPEED=0`` only 2, 3 and a named ``train.threads`` remain: plain PyTorch with
the kind's general step (recorded as the calibration ``off``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from gankit.speed import governor, lazy_imports, paths, precision, products, switches, threads
from gankit.speed.calibrate import Choice, Decision
from gankit.speed.paths import Offer


@dataclass
class Built:
    """What the driver's ``build(cfg)`` returns: the kind's session (``setup``, opaque
    here), its general step, what it offers to tune (None: nothing) and the optimisers of
    its state."""

    setup: Any
    step: Any
    offer: Offer | None = None
    optimisers: list[torch.optim.Optimizer] = field(default_factory=list)


@dataclass
class Session:
    """A session of a run as the driver hands it over: the config, where it trains, how it
    prints, and ``build(cfg) -> Built`` (the training kind, given the config with its
    precision resolved)."""

    cfg: Any
    device: torch.device
    world_size: int
    is_main: bool
    echo: Callable[[str], None]
    build: Callable[[Any], Built]


@dataclass
class Tuned:
    """What the driver takes back: the kind's session, the step the trainer runs, callbacks
    to put before the log writers (the thread governor) and what ``config.json`` records
    under ``provenance``."""

    setup: Any
    step: Any
    callbacks: list[Any] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)


def tune(session: Session) -> Tuned:
    """Build the session's run through ``session.build`` and make it fast (see the module's
    text for the order)."""
    on = switches.speed_on()
    device, world_size, echo = session.device, session.world_size, session.echo
    if on:
        threads.open_load_window()
    cfg = precision.for_run(session.cfg, device, world_size, session.is_main, echo)
    built = session.build(cfg)
    t = cfg.train
    threads.threads_for_run(t.threads, device, t.deterministic, follow=on)
    automatic = torch.get_num_threads() if t.threads == 0 else 0
    step, provenance = built.step, {}
    if on:
        lazy_imports.lazy_steps(built.optimisers)
    if built.offer is not None:
        if on:
            decision, fast = paths.choose(cfg, device, world_size, built.offer, echo)
            step = paths.apply(decision.choice, built.offer, built.step, fast)
        else:
            decision = _off(cfg, device, built.offer)
            echo(decision.header())
        provenance = {"calibration": decision.provenance()}
    callbacks = []
    if on and governor.applies(cfg, device, world_size):  # governor.for_run: tests replace it
        callbacks.append(governor.for_run(torch.get_num_threads(), automatic))
    return Tuned(built.setup, step, callbacks, provenance)


def _off(cfg, device: torch.device, offer: Offer) -> Decision:
    """The record of a run with the machinery off: the general step, ``F.linear`` products
    where the networks have gankit ``Linear`` layers, PyTorch's thread count."""
    plain = False if products.switchable(cfg, device, offer.networks) else None
    return Decision(Choice("general", plain, torch.get_num_threads()), "off",
                    switches.off_reason())


def skip_compiler_import() -> list[str]:
    """``gankit train``'s start-up: let PyTorch's optimisers skip importing torch's compiler
    (:func:`gankit.speed.lazy_imports.skip_dynamo_import`); nothing with the machinery
    off. Returns what it changed."""
    return lazy_imports.skip_dynamo_import() if switches.speed_on() else []
