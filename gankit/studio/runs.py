"""The runs a studio serves: loaded once at start, read-only afterwards.

Each run directory named on the command line becomes a :class:`StudioRun`: the loaded run,
its name, and what it offers, asked of the training-kinds registry
(:mod:`gankit.config.kinds`: the ``gankit`` commands a run's kind serves), never decided
here by what kind it is. A panel is offered when the run serves the command behind it:

=========  ============================  ==========================================
panel      command(s) the run must serve  and
=========  ============================  ==========================================
generate   sample                        it makes images (not 2-D points)
walk       interpolate                   it makes images; SeFa sliders: directions
project    project                       it makes images; editing: edit, directions
inpaint    inpaint                       it makes images
translate  translate                     the directions its translator takes
run        report                        (every run)
=========  ============================  ==========================================

Nothing here changes after :func:`load_runs`: the networks' parameters stop requiring
gradients once (the latent searches then find nothing to freeze or restore, so requests
that search at the same time never touch a shared flag), and the SeFa directions are
computed once per run. Requests pick a run by its index; no request names a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gankit.errors import UserError

# panel -> the gankit command a run must serve for it (gankit.config.kinds: Kind.serves)
PANEL_COMMANDS = {"generate": "sample", "walk": "interpolate", "project": "project",
                  "inpaint": "inpaint", "translate": "translate", "run": "report"}
IMAGE_PANELS = ("generate", "walk", "project", "inpaint")  # need a run that makes images
SLIDERS = 5  # SeFa directions offered as sliders (the largest eigenvalues)
DIRECTIONS = ("AtoB", "BtoA")


@dataclass(frozen=True)
class Options:
    """How every request of a studio is answered: ``ema``: draw with the EMA generator
    where the run keeps one; ``max_pixels``: the largest upload, width x height."""

    ema: bool = True
    max_pixels: int = 4096 * 4096


@dataclass
class StudioRun:
    """One served run: ``run`` (what :func:`gankit.load` gives), its directory and name,
    the panels it offers (``notes``: why a panel is not offered, or what it lacks) and,
    where it has them, its SeFa directions (K, latent_dim) and translation directions."""

    index: int
    run_dir: Path
    run: Any
    panels: list[str]
    notes: dict[str, str] = field(default_factory=dict)
    sefa: Any = None  # float32 (K, latent_dim) unit rows, or None
    translations: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.run_dir.name

    @property
    def image_shape(self) -> tuple[int, int, int] | None:
        return tuple(self.run.image_shape) if _makes_images(self) else None

    @property
    def latent_dim(self) -> int:
        return int(self.run.config.model.latent_dim)

    @property
    def num_classes(self) -> int:
        return int(getattr(self.run, "num_classes", 0) or 0)

    def info(self) -> dict:
        """What the page needs to build the run's panels (JSON)."""
        from gankit.config.kinds import kind_named

        own = kind_named(self.run.kind)
        shape = self.image_shape
        return {"index": self.index, "name": self.name, "step": int(self.run.step),
                "what": own.what, "serves": list(own.serves), "panels": self.panels,
                "notes": self.notes,
                "image": None if shape is None else dict(zip(("channels", "height",
                                                               "width"), shape)),
                "classes": self.num_classes,
                "latent_dim": self.latent_dim if shape is not None else None,
                "sliders": 0 if self.sefa is None else len(self.sefa),
                "translations": {d: dict(zip(("channels", "height", "width"), s))
                                 for d, s in self.translations.items()}}


def _serves(run, command: str) -> bool:
    from gankit.config.kinds import kind_named

    return command in kind_named(run.kind).serves


def _makes_images(studio_run: StudioRun) -> bool:
    """Whether a run that serves ``gankit sample`` draws images rather than 2-D points."""
    from gankit.data import is_points_shape

    return _serves(studio_run.run, "sample") and \
        not is_points_shape(studio_run.run.image_shape)


def _networks(run) -> list:
    """Every torch module the loaded run holds (its generators, discriminators, EMAs)."""
    from torch import nn

    found = [value for value in vars(run).values() if isinstance(value, nn.Module)]
    nets = getattr(run, "nets", None)  # a translation run keeps them in a TrainingState
    if nets is not None and hasattr(nets, "names"):
        found += [nets.get(name) for name in nets.names()
                  if isinstance(nets.get(name), nn.Module)]
    return found


def _plan_panels(studio_run: StudioRun, ema: bool) -> None:
    """Fill the run's panels, notes, SeFa directions and translation directions."""
    run = studio_run.run
    images = _makes_images(studio_run)
    for panel, command in PANEL_COMMANDS.items():
        if not _serves(run, command):
            continue
        if panel in IMAGE_PANELS and not images:
            studio_run.notes[panel] = "this run makes 2-D points, not images"
            continue
        studio_run.panels.append(panel)
    if images and _serves(run, "directions") and _serves(run, "edit"):
        from gankit.apps.directions import directions

        try:
            studio_run.sefa = directions(run, ema=ema).directions[:SLIDERS].clone()
        except UserError as exc:  # a generator that z does not enter through a Linear
            studio_run.notes["directions"] = str(exc)
    if "translate" in studio_run.panels:
        for direction in DIRECTIONS:
            try:
                run.translator(direction, ema=ema)
            except UserError:  # a paired run translates the way it was trained only
                continue
            studio_run.translations[direction] = tuple(run.input_shape(direction))


def load_runs(run_dirs: list[str | Path], device: str = "cpu", ema: bool = True
              ) -> list[StudioRun]:
    """Load every run directory (or checkpoint file) once; a missing or unreadable run is
    a :class:`UserError` before the server starts."""
    from gankit.apps.sampling import load
    from gankit.training.checkpoint import run_dir_of

    if not run_dirs:
        raise UserError("give at least one run directory")
    served = []
    for index, given in enumerate(run_dirs):
        if not Path(given).exists():
            raise UserError(f"run directory not found: {given}")
        run = load(given, device=device)
        for net in _networks(run):
            net.eval().requires_grad_(False)  # read-only from here on (see the docstring)
        studio_run = StudioRun(index, Path(run_dir_of(given)).resolve(), run, [])
        _plan_panels(studio_run, ema)
        served.append(studio_run)
    return served
