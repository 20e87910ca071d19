"""Which of a run's equivalent ways to step is fastest here: measured once, then cached.

A CPU fp32 run may have several paths to the same mathematics (within float32 rounding):

- the **step**: the hand-written MLP step (:mod:`gankit.speed.fast_mlp`) or the kind's
  general ``d_step``/``g_step``;
- the **products** of gankit's ``Linear`` layers: oneDNN or plain ``F.linear`` (MKL on x86
  builds; :mod:`gankit.speed.products`);
- the **thread count** of an automatic ``train.threads=0``: the count in use or half of it.

On first use :func:`decide` times a few dozen real steps of each eligible combination on
copies of the run's networks and optimisers (one set of copies that the candidates take
turns on: :mod:`gankit.speed.paths` builds what it times), within about 3 s (the run's own
state and random streams are not touched, so the run is the same as one started with the
winning path fixed), keeps the fastest (the fixed choice unless another beats it by more
than :data:`MARGIN`) and caches ``{choice, timings, when}`` in ``calibration.json`` in the
user's cache folder (:func:`cache_path`: ``$GANKIT_CACHE_DIR``, else ``~/.cache/gankit``
or its XDG equivalent), keyed by the CPU model, the ISA caps in the environment, the PyTorch
and gankit versions, the thread count, the networks' shapes and the candidates. A later
run with the same key reads the choice and measures nothing; a corrupt cache file costs
one line and is rebuilt. ``train.calibrate=false`` or ``GANKIT_CALIBRATE=0``
keeps the fixed choice (fast MLP step where it applies, oneDNN, the automatic thread count).

What the user fixed is never a candidate: ``train.fast_mlp=false`` keeps the general step,
``train.threads=N`` keeps N threads, a ``GANKIT_ONEDNN`` setting keeps its library. Runs of
several processes, compiled, deterministic or off the CPU are not calibrated, nor any run
with the machinery off (``GANKIT_SPEED=0``).
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import json
import os
import platform
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from gankit import __version__
from gankit.errors import first_line
from gankit.speed import switches
from gankit.speed.threads import set_count

CACHE_ENV, SWITCH_ENV = "GANKIT_CACHE_DIR", switches.CALIBRATE_ENV
ISA_CAPS = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
FORMAT = "gankit-calibration-1"
# The measurement: WARMUP untimed steps per candidate (oneDNN primitives, Adam's state),
# then rounds of ROUND_STEPS timed steps of every candidate in turn until each has STEPS or
# BUDGET_SECONDS have passed; a candidate's time is its best round's mean (the round least
# disturbed by other work on the machine). Tests shrink these.
WARMUP, ROUND_STEPS, STEPS, BUDGET_SECONDS = 2, 5, 30, 3.0
# The fixed choice stays unless another candidate is faster by more than this fraction: a
# smaller gain is within what a shared machine's load moves a measurement.
MARGIN = 0.03
_clock = time.perf_counter  # tests replace it to count or steer the timings



@dataclass
class Trial:
    """One candidate's training step on private copies of the run's state: ``step()`` runs
    one; ``prepare()`` runs before each timing (the candidate's products on copies that the
    candidates share)."""

    step: Callable[[], None]
    prepare: Callable[[], None] = lambda: None


@dataclass(frozen=True)
class Choice:
    """One way to run the step: ``step`` "fast-mlp" | "general"; ``onednn`` True (oneDNN
    products), False (``F.linear``/MKL) or None (the run has no switchable products);
    ``threads`` PyTorch's intra-op threads."""

    step: str
    onednn: bool | None
    threads: int

    @property
    def label(self) -> str:
        products = {True: "+onednn", False: "+mkl", None: ""}[self.onednn]
        return f"{self.step}{products}/{self.threads}t"

    def describe(self) -> str:
        products = {True: ", oneDNN products", False: ", F.linear (MKL) products",
                    None: ""}[self.onednn]
        return (f"{self.step} step{products}, {self.threads} "
                f"thread{'s' if self.threads != 1 else ''}")


@dataclass
class Decision:
    """What a run uses and how it was decided: ``status`` "measured", "cached", "off"
    (``why`` says which switch), "too slow" (one step of the networks is too long to time
    within the budget; the fixed choice) or "none" (one path: nothing to choose);
    ``timings`` seconds per step by candidate label."""

    choice: Choice
    status: str
    why: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    when: str = ""
    cache: str = ""
    seconds: float = 0.0  # how long the measurement took

    @property
    def active(self) -> bool:
        """Whether the choice came from a calibration (measured now or cached)."""
        return self.status in ("measured", "cached")

    def header(self) -> str | None:
        """The run's header line (None when there was nothing to choose)."""
        head = f"calibration: {self.choice.describe()}"
        if self.status == "measured":
            times = ", ".join(f"{label} {seconds * 1e3:.2f}" for label, seconds
                              in sorted(self.timings.items(), key=lambda kv: kv[1]))
            return (f"{head} (measured here in {self.seconds:.1f} s, ms/step: {times}; "
                    f"saved in {self.cache})")
        if self.status == "cached":
            return f"{head} (measured {self.when} on this machine; cached in {self.cache})"
        if self.status in ("off", "too slow"):
            return f"{head} (fixed: {self.why})"
        return None

    def provenance(self) -> dict:
        """The record config.json keeps under ``provenance.calibration``."""
        record = {"status": self.status, "choice": asdict(self.choice),
                  "label": self.choice.label}
        if self.why:
            record["why"] = self.why
        if self.timings:
            record["ms_per_step"] = {k: round(v * 1e3, 4) for k, v in self.timings.items()}
        if self.when:
            record["when"] = self.when
        if self.seconds:
            record["seconds"] = round(self.seconds, 3)
        if self.cache:
            record["cache"] = self.cache
        return record


# --- what may be chosen ---------------------------------------------------------------------

def switched_off(cfg) -> str | None:
    """Why calibration is off for ``cfg`` (``train.calibrate=false`` or
    ``GANKIT_CALIBRATE=0``), or None when it is on."""
    if not cfg.train.calibrate:
        return "train.calibrate=false"
    if switches.is_off(SWITCH_ENV):
        return f"{SWITCH_ENV}={os.environ[SWITCH_ENV]}"
    return None


def options(cfg, device: torch.device, world_size: int, *, fast: bool, onednn: bool | None,
            threads: int, library_fixed: bool = False) -> tuple[Choice, list[Choice]]:
    """(the fixed choice, the candidates, fixed choice first) of a run whose fixed step is
    the hand-written one when ``fast``, whose gankit ``Linear`` products go through oneDNN
    (``onednn`` True), ``F.linear`` (False) or are not switchable (None), on ``threads``
    threads; ``library_fixed``: the user named the library, which then stays. One
    candidate: nothing to calibrate."""
    t = cfg.train
    default = Choice("fast-mlp" if fast else "general", onednn, threads)
    if (device.type != "cpu" or world_size > 1 or t.compile or t.cuda_graphs
            or t.deterministic):
        return default, [default]
    steps = ["fast-mlp", "general"] if fast else ["general"]
    libraries = [True, False] if onednn and not library_fixed else [onednn]
    counts = [threads] + ([threads // 2] if t.threads == 0 and threads > 1 else [])
    return default, [Choice(*combo) for combo in itertools.product(steps, libraries, counts)]


# --- the cache ------------------------------------------------------------------------------

def cache_path() -> Path:
    """``calibration.json`` in ``$GANKIT_CACHE_DIR``, else ``$GANKIT_CACHE`` (the folder of
    ``gankit eval``'s reference features), else ``$XDG_CACHE_HOME/gankit``, else
    ``~/.cache/gankit``."""
    folder = os.environ.get(CACHE_ENV) or os.environ.get("GANKIT_CACHE")
    if not folder:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        folder = Path(base) / "gankit"
    return Path(folder) / "calibration.json"


def cpu_model(path: str = "/proc/cpuinfo") -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), else what :mod:`platform` knows."""
    try:
        with open(path) as info:
            for line in info:
                if line.startswith(("model name", "Model Name", "Hardware")):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cache_key(nets: dict[str, nn.Module], shapes: dict, threads: int,
              candidates: list[Choice]) -> dict:
    """What a cached choice holds for: this machine, libraries and networks."""
    params = {name: [[n, list(p.shape)] for n, p in net.named_parameters()]
              for name, net in nets.items()}
    digest = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    return {"cpu": cpu_model(), "isa_caps": {k: os.environ.get(k, "") for k in ISA_CAPS},
            "torch": torch.__version__, "gankit": __version__, "threads": threads,
            "networks": digest, **shapes, "candidates": sorted(c.label for c in candidates)}


def _key_id(key: dict) -> str:
    return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


def read_cache(path: Path, echo) -> dict[str, dict]:
    """The cache's entries by key id; a missing file is empty, an unreadable or malformed
    one is too, with one line saying it is rebuilt."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        echo(f"calibration: cannot read the cache {path} ({first_line(exc)}); rebuilding it")
        return {}
    try:
        tree = json.loads(text)
        if not (isinstance(tree, dict) and tree.get("format") == FORMAT
                and isinstance(tree.get("entries"), dict)):
            raise ValueError(f"not a {FORMAT} file")
    except ValueError as exc:
        echo(f"calibration: the cache {path} is corrupt ({first_line(exc)}); rebuilding it")
        return {}
    return tree["entries"]


def _cached(entry, candidates: list[Choice]) -> Choice | None:
    """The cached choice of a well-formed entry if it is still a candidate."""
    try:
        choice = Choice(**entry["choice"])
    except (TypeError, KeyError):
        return None
    return choice if choice in candidates else None


def _timings(value) -> dict[str, float]:
    """A cached entry's timings (seconds per step by label); {} for anything else."""
    try:
        return {str(label): float(seconds) for label, seconds in value.items()}
    except (AttributeError, TypeError, ValueError):
        return {}


def write_cache(path: Path, entries: dict[str, dict], echo) -> None:
    """Write the entries through a temporary file and a rename (readers never see half a
    file; a write lost in a crash only means measuring again); a cache that cannot be
    written costs one line."""
    text = json.dumps({"format": FORMAT, "entries": entries}, indent=1)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError as exc:
        echo(f"calibration: cannot write the cache {path} ({exc.strerror or exc}); the "
             f"next run measures again")


# --- the measurement ------------------------------------------------------------------------

def _timed(trial: Trial, choice: Choice, steps: int) -> float:
    """Seconds per step of ``steps`` steps run as ``choice`` says."""
    set_count(choice.threads)
    trial.prepare()
    step = trial.step
    start = _clock()
    for _ in range(steps):
        step()
    return (_clock() - start) / max(steps, 1)


def _rounds(candidates: list[Choice], steps: dict[Choice, Trial], started: float,
            budget: float) -> dict[Choice, float] | None:
    """Warm-ups, then interleaved rounds within the budget (see :data:`STEPS`)."""
    last: dict[Choice, float] = {}
    for choice in candidates:
        last[choice] = _timed(steps[choice], choice, WARMUP)
        if _clock() - started > 2 * budget:
            return None
    best = {c: float("inf") for c in candidates}
    done = 0
    while done < STEPS:
        spent, guess = _clock() - started, sum(last.values()) * ROUND_STEPS
        if spent + guess > (2 * budget if done == 0 else budget):
            break
        for choice in candidates:
            last[choice] = _timed(steps[choice], choice, ROUND_STEPS)
            best[choice] = min(best[choice], last[choice])
        done += ROUND_STEPS
    return best if done else None


def measure(candidates: list[Choice], trial: Callable[[Choice], Trial],
            budget_seconds: float | None = None) -> dict[Choice, float] | None:
    """Seconds per step of each candidate (see :data:`STEPS`), or None when the networks are
    too big to time within about ``budget_seconds`` (default :data:`BUDGET_SECONDS`).
    ``trial(choice)`` returns the :class:`Trial` of a candidate on copies of the run's
    state; all are built first, with the process's own settings. The run's random streams
    and thread count are restored afterwards."""
    budget = BUDGET_SECONDS if budget_seconds is None else budget_seconds
    threads = torch.get_num_threads()
    started = _clock()
    with torch.random.fork_rng(devices=[]):
        try:
            steps = {choice: trial(choice) for choice in candidates}
            return _rounds(candidates, steps, started, budget)
        finally:
            set_count(threads)


def decide(cfg, default: Choice, candidates: list[Choice], key: dict,
           trial: Callable[[Choice], Trial], echo) -> Decision:
    """The path a run uses: ``default`` when there is one candidate or calibration is
    off; else the cached choice for ``key``, or the fastest that :func:`measure` finds
    (then cached)."""
    if len(candidates) <= 1:
        return Decision(default, "none")
    why = switched_off(cfg)
    if why:
        return Decision(default, "off", why)
    path = cache_path()
    entries = read_cache(path, echo)
    entry = entries.get(_key_id(key))
    choice = _cached(entry, candidates) if isinstance(entry, dict) else None
    if choice is not None:
        slow, when = entry.get("status") == "too slow", str(entry.get("when", ""))
        return Decision(choice, "too slow" if slow else "cached",
                        f"a step is too long to time (cached {when})" if slow else "",
                        timings=_timings(entry.get("timings")), when=when, cache=str(path))
    started = time.monotonic()
    timings = measure(candidates, trial)
    seconds = time.monotonic() - started
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if timings is None:
        decision = Decision(default, "too slow", "a step is too long to time within "
                            f"{BUDGET_SECONDS:g} s", when=when, cache=str(path))
    else:
        fastest = min(candidates, key=lambda c: timings[c])
        if timings[default] <= timings[fastest] * (1 + MARGIN):
            fastest = default
        decision = Decision(fastest, "measured", timings={c.label: t for c, t in
                                                           timings.items()},
                            when=when, cache=str(path), seconds=seconds)
    entries[_key_id(key)] = {"key": key, "choice": asdict(decision.choice),
                             "status": decision.status, "timings": decision.timings,
                             "when": when}
    write_cache(path, entries, echo)
    return decision
