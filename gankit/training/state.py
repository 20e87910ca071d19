"""``TrainingState``: everything a run needs to continue where it stopped.

The state holds the networks, the EMA generator, the optimisers, the schedulers, the
counters and the random-number generators, plus whatever a training kind registers
(an image pool, a second optimiser). It alone turns them into a checkpoint's dictionary
and back, so a new kind joins the checkpoint by registering, not by editing the trainer:

    state = TrainingState()
    state.register("G", G)
    state.register("opt_G", opt_G)
    state.register("pool", pool)          # anything with state_dict()/load_state_dict()
    checkpoint = state.state_dict()       # {"G": ..., "opt_G": ..., "pool": ..., "step": ...}

The dictionary is flat, one key per entry, as gankit's checkpoints have always been, so
checkpoints written before the state existed load unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol

import torch


class Stateful(Protocol):
    """What an entry of the state must offer (``nn.Module``, ``Optimizer`` and friends do)."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> Any: ...


@dataclass
class Counters:
    """Where the run stands; units in the names."""

    step: int = 0  # updates done (one batch each)
    epoch: int = 0  # whole passes over the data done
    batch_in_epoch: int = 0  # batches of the current epoch done
    images_seen: int = 0  # real images trained on, over all processes
    seconds: float = 0.0  # training time of the earlier sessions of this run

    def advance(self, images: int) -> None:
        """One more update on ``images`` real images."""
        self.step += 1
        self.batch_in_epoch += 1
        self.images_seen += images

    def end_epoch(self) -> None:
        self.epoch += 1
        self.batch_in_epoch = 0


class TrainingState:
    """Named stateful entries, counters and RNG; owns ``state_dict``/``load_state_dict``.

    ``optional`` entries may be missing from a checkpoint (written before they existed, or
    by a run without them, e.g. an EMA generator); a missing required entry is a KeyError.
    ``None`` entries are kept as ``None`` (a run without EMA writes ``G_ema: None``).
    """

    def __init__(self, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.counters = Counters()
        self._entries: dict[str, Stateful | None] = {}
        self._optional: set[str] = set()

    # --- entries ------------------------------------------------------------------------
    def register(self, name: str, entry: Stateful | None, optional: bool = False) -> None:
        """Add ``entry`` to every checkpoint under ``name``."""
        if name in self._entries or name in _COUNTER_NAMES or name in _RNG_NAMES:
            raise ValueError(f"the training state already has an entry named {name!r}")
        if entry is not None and not (hasattr(entry, "state_dict")
                                      and hasattr(entry, "load_state_dict")):
            raise TypeError(f"{name!r} has no state_dict()/load_state_dict()")
        self._entries[name] = entry
        if optional:
            self._optional.add(name)

    def replace(self, name: str, entry: Stateful) -> None:
        """Put ``entry`` where ``name`` was (e.g. a network converted for synchronised
        BatchNorm: same tensors, another module)."""
        if name not in self._entries:
            raise KeyError(name)
        self._entries[name] = entry

    def first(self, *names: str) -> Any:
        """The first of ``names`` that holds an entry (e.g. ``first("G_ema", "G")``)."""
        for name in names:
            if self._entries.get(name) is not None:
                return self._entries[name]
        raise KeyError(f"none of {names} is in the training state")

    def __getitem__(self, name: str) -> Any:
        return self._entries[name]

    def __contains__(self, name: str) -> bool:
        return self._entries.get(name) is not None

    def get(self, name: str, default: Any = None) -> Any:
        entry = self._entries.get(name)
        return default if entry is None else entry

    def names(self) -> list[str]:
        return list(self._entries)

    # --- checkpoints ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Counters, every entry's ``state_dict()`` (or None), and the RNG states."""
        out: dict[str, Any] = asdict(self.counters)
        for name, entry in self._entries.items():
            out[name] = entry.state_dict() if entry is not None else None
        out["rng_cpu"] = torch.get_rng_state()
        out["rng_cuda"] = (torch.cuda.get_rng_state(self.device)
                           if self.device.type == "cuda" else None)
        return out

    def load_state_dict(self, state: dict[str, Any], rng: bool = True,
                        only: tuple[str, ...] | None = None) -> None:
        """Restore counters and entries (``only``: just these entries, e.g. the networks
        for inference) and, with ``rng``, the random-number generators."""
        for f in fields(Counters):
            if f.name in state:
                kind = type(getattr(self.counters, f.name))  # int or float
                setattr(self.counters, f.name, kind(state[f.name]))
        for name, entry in self._entries.items():
            if entry is None or (only is not None and name not in only):
                continue
            if state.get(name) is None:
                if name in self._optional:
                    continue
                raise KeyError(f"the checkpoint has no {name!r}")
            entry.load_state_dict(state[name])
        if rng:
            self.restore_rng(state)

    def restore_rng(self, state: dict[str, Any]) -> None:
        """The random streams as the checkpoint left them (done last on resume: building a
        run draws random numbers, and a resumed run must draw what an unbroken one draws)."""
        torch.set_rng_state(state["rng_cpu"])
        if self.device.type == "cuda" and state.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(state["rng_cuda"], self.device)


_COUNTER_NAMES = {f.name for f in fields(Counters)}
_RNG_NAMES = {"rng_cpu", "rng_cuda"}
