"""Training kinds by name: the one place that decides what kind a config (and so a run) is.

gankit trains more than one kind of GAN: ``generation`` (noise to images, or to 2-D points)
and ``translation`` (image to image: pix2pix, CycleGAN). A kind's pieces live in several
layers, and a layer may not import a later one, so each layer keeps its own table of the
kinds' pieces, keyed by the kind's name (a :class:`KindTable`):

- here, :data:`KINDS`: its declaration (:class:`Kind`): which configs are of the kind
  (``claims``), its own validation rules and data sets, what its runs do and which
  commands a finished run of it serves;
- :data:`gankit.training.kinds.TRAINING`: its setup (what a run builds before the first
  step), its loader (a finished run from a checkpoint) and, if it serves ``gankit
  sample``, its sampler;
- :data:`gankit.evaluation.kinds.EVALUATION`: its monitors (training callbacks) and its
  ``gankit eval``;
- :data:`gankit.apps.kinds.APPS`: its sections of ``gankit report`` and what ``gankit
  export`` writes.

:func:`kind_of` decides a config's kind from the registered claims (a config no kind
claims is of the default kind, ``generation``); a run's checkpoints carry the name (older
ones without it are read through :func:`kind_of`). The kind is claimed, not a field of its
own, because configs already say it (``translation.mode``), so neither the schema nor the
saved runs change; a kind built into gankit claims by a value of its own config section,
one added from outside by a value of an existing one (the test's kind: its data set's
name). Two kinds claiming one config is a user error. Everything else looks the kind's entry
up in its layer's table instead of asking what kind a config or run is:
``tests/test_layout.py`` allows no such check outside this module. A command a kind's runs
do not serve is refused by :func:`require`, in one line that says what the run is and what
the command needs.

A new kind registers a :class:`Kind` here and its pieces in the three tables (the built-in
kinds' pieces are registered on first use of each table);
``tests/training/test_kind_registry.py`` adds one from a test file and runs it through
train, resume, sample, eval and report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Collection, Generic, TypeVar

from gankit.config.schema import Config
from gankit.errors import UserError

T = TypeVar("T")
DEFAULT = "generation"  # the kind of a config that no other kind claims


@dataclass(frozen=True)
class Kind:
    """A training kind's declaration: its name, which configs it claims, its own config
    rules, and what a finished run of it is for.

    ``claims(cfg)``: whether ``cfg`` is of this kind (None: the default kind, the kind of
    every config no other kind claims); ``check(cfg)``: the kind's own cross-field rules
    (raises :class:`UserError`); ``data_sets()``: (what its data set names are called, the
    known names) for the data-name check, None when the kind checks its data itself;
    ``what``: what its runs do, for messages ("generates from noise"); ``how``: how to
    train one; ``serves``: the ``gankit`` commands a finished run of it serves.
    """

    name: str
    description: str
    what: str
    how: str
    serves: tuple[str, ...]
    claims: Callable[[Config], bool] | None = None
    check: Callable[[Config], None] | None = None
    data_sets: Callable[[], tuple[str, Collection[str]]] | None = None


KINDS: dict[str, Kind] = {}
_TABLES: list["KindTable"] = []


def register_kind(kind: Kind) -> Kind:
    """Declare a training kind; a name is declared once, and one kind is the default."""
    if kind.name in KINDS:
        raise ValueError(f"training kind {kind.name!r} is already registered")
    if kind.claims is None and any(k.claims is None for k in KINDS.values()):
        raise ValueError(f"training kind {kind.name!r} needs claims: {DEFAULT} is the default")
    KINDS[kind.name] = kind
    return kind


def forget_kind(name: str) -> None:
    """Remove a kind and its pieces from every table (a kind registered by a test)."""
    KINDS.pop(name, None)
    for table in _TABLES:
        table.remove(name)


def kind_named(name: str) -> Kind:
    """The declaration of kind ``name``; an unknown name is a :class:`UserError` (a run
    trained by a kind this gankit does not know)."""
    try:
        return KINDS[name]
    except KeyError:
        raise UserError(f"unknown training kind {name!r}: this gankit knows "
                        f"{', '.join(KINDS)}") from None


def kind_of(cfg: Config) -> str:
    """The name of the kind ``cfg`` is of: the one kind that claims it, else the default."""
    claimed = [k.name for k in KINDS.values() if k.claims is not None and k.claims(cfg)]
    if len(claimed) > 1:
        raise UserError(f"this config is of several training kinds at once "
                        f"({', '.join(claimed)}); change it so that one kind claims it")
    return claimed[0] if claimed else DEFAULT


def require(kind: str, command: str, subject: str = "this run") -> None:
    """Nothing when runs of ``kind`` serve ``gankit command``; else a one-line
    :class:`UserError` that says what ``subject`` is and which runs the command needs."""
    own = kind_named(kind)
    if command in own.serves:
        return
    needs = " or ".join(f"a run that {k.what} ({k.how})" for k in KINDS.values()
                        if command in k.serves) or "a run of another kind"
    raise UserError(f"{subject} {own.what}: gankit {command} needs {needs}; this one serves "
                    f"gankit {', '.join(own.serves)}")


class KindTable(Generic[T]):
    """One layer's pieces of the training kinds, by kind name.

    ``builtins()`` registers the built-in kinds' pieces; it runs at the first lookup (the
    pieces import the module that holds the table, so they cannot be registered when it is
    imported). Only a declared kind (:func:`register_kind`) may register pieces.
    """

    def __init__(self, layer: str, builtins: Callable[[], None]):
        self.layer, self._builtins = layer, builtins
        self._entries: dict[str, T] = {}
        self._loaded = False
        _TABLES.append(self)

    def register(self, kind: str, entry: T) -> T:
        if kind not in KINDS:
            raise ValueError(f"declare training kind {kind!r} first (register_kind)")
        if kind in self._entries:
            raise ValueError(f"training kind {kind!r} already has its {self.layer} pieces")
        self._entries[kind] = entry
        return entry

    def remove(self, kind: str) -> None:
        self._entries.pop(kind, None)

    def __getitem__(self, kind: str) -> T:
        if not self._loaded:
            self._loaded = True
            self._builtins()
        kind_named(kind)  # an unknown kind: one line naming the known ones
        try:
            return self._entries[kind]
        except KeyError:
            raise ValueError(f"training kind {kind!r} registered no {self.layer} "
                             f"pieces") from None


# --- the built-in kinds ----------------------------------------------------------------------

def _translation_rules(cfg: Config) -> None:
    tr, d = cfg.translation, cfg.data
    if tr.gan_weight <= 0 and tr.mode != "paired":
        raise UserError("translation.gan_weight=0 (no discriminator) needs "
                        "translation.mode=paired")
    if tr.mode == "contrastive" and tr.generator != "resnet":
        raise UserError(f"translation.mode=contrastive (CUT) compares patches of G's encoder "
                        f"features, which the resnet G has: use translation.generator=resnet, "
                        f"not {tr.generator}")
    if tr.semantic_weight > 0 and tr.mode == "paired":
        raise UserError("translation.semantic_weight is for unpaired runs (cyclegan, cut): a "
                        "paired run already has its targets")
    if d.value_range != "tanh":
        raise UserError("translation runs work in [-1, 1]: data.value_range=tanh")
    if d.mirror:
        raise UserError("--mirror flips the real images of noise-to-image runs; translation "
                        "runs do not take it")


def _image_sets() -> tuple[str, Collection[str]]:
    from gankit.data import DATASETS

    return "data set", DATASETS


def _translation_sets() -> tuple[str, Collection[str]]:
    from gankit.data import TRANSLATION_SETS

    return "translation set", TRANSLATION_SETS


register_kind(Kind(
    "generation", "noise to images (or to 2-D points): every preset but the translation ones",
    what="generates from noise", how="any preset but pix2pix, cyclegan, cut and fastcut",
    serves=("sample", "interpolate", "inpaint", "project", "directions", "edit", "eval",
            "report", "export"),
    data_sets=_image_sets))
register_kind(Kind(
    "translation", "image to image: pix2pix (paired), CycleGAN and CUT (unpaired)",
    what="translates images", how="--preset pix2pix, cyclegan or cut",
    serves=("translate", "eval", "report", "export"),
    claims=lambda cfg: cfg.translation.mode != "off", check=_translation_rules,
    data_sets=_translation_sets))
