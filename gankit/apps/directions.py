"""Latent directions without training (SeFa), and edits along them.

SeFa (Shen & Zhou, "Closed-Form Factorization of Latent Semantics in GANs", CVPR 2021,
arXiv:2007.06600): the first layer z passes through is affine, y = W z + b, so moving z by a
unit vector n moves y by W n; the directions that move y most are the unit n maximising
|W n|^2 = n^T W^T W n, the eigenvectors of W^T W, in order of their eigenvalues. No
training, no sampling: a few milliseconds on the weights.

Which W (:func:`first_layer`): the first ``nn.Linear`` of G that z enters, i.e. the MLPs'
first layer (``model.0``, 100 -> 256 in ``seed-mlp``) and the DCGAN's and ResNet's projection
to the first feature map (``project.0``, (100 + K) -> 128 x 7 x 7 at 28 px). A class-
conditional G appends the class one-hot after z (:func:`gankit.core.models.conditioning.
with_class`); those K columns are left out, so the directions live in z's space alone.

Sign rule: an eigenvector's sign is arbitrary (and differs between LAPACK builds), so each
direction is flipped, if needed, to make its largest-magnitude component positive (the
first of equal ones). The same weights then always give the same directions.

Edits (:func:`edit`): z + a * n for amounts a, each n a unit vector, so an amount is in raw
latent units, which for z ~ N(0, I) are also standard deviations of the prior along n
(amount 3: three sigma). For a class-conditional run the class is a direction too: the same
z drawn with other classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gankit.apps.latent_search import generate_rows, noise_run
from gankit.errors import UserError

SIGN_RULE = "largest-magnitude component positive"


@dataclass
class Directions:
    """SeFa's directions of a run: unit rows (K, latent_dim), largest eigenvalue first."""

    directions: torch.Tensor  # float32 (K, latent_dim)
    eigenvalues: torch.Tensor  # float64 (K,), descending
    layer: str  # the name of G's module whose weight W is


def first_layer(G: nn.Module, latent_dim: int, num_classes: int = 0
                ) -> tuple[str, torch.Tensor]:
    """(name, W (out, latent_dim)) of G's first Linear layer, which z enters: the z columns
    of its weight, the class one-hot's columns (after z's) left out."""
    for name, module in G.named_modules():
        if isinstance(module, nn.Linear):
            if module.in_features != latent_dim + num_classes:
                break
            return name, module.weight.detach()[:, :latent_dim]
    raise UserError("SeFa needs a generator whose first layer is a Linear layer of z; this "
                    "run's generator starts otherwise")


def fix_signs(vectors: torch.Tensor) -> torch.Tensor:
    """Rows of ``vectors`` (K, D), each flipped so that its largest-magnitude component
    (the first of equal ones) is positive: the sign rule."""
    biggest = vectors.abs().argmax(1)
    signs = torch.sign(vectors.gather(1, biggest[:, None]))
    return vectors * torch.where(signs == 0, torch.ones_like(signs), signs)


def sefa(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(directions float32 (D, D), eigenvalues float64 (D,)) of W (out, D): the eigenvectors
    of W^T W as unit rows, largest eigenvalue first, signs by :func:`fix_signs`."""
    w = weight.detach().double().cpu()
    eigenvalues, vectors = torch.linalg.eigh(w.T @ w)  # ascending
    order = torch.arange(len(eigenvalues) - 1, -1, -1)
    return fix_signs(vectors.T[order]).float(), eigenvalues[order]


def directions(run, *, ema: bool = True, device: str = "cpu") -> Directions:
    """SeFa's latent directions of a run (or run directory); the API's ``gankit.directions``.
    Deterministic: the same run always gives the same directions (the sign rule)."""
    run = noise_run(run, "directions", device)
    G = run.generator if ema else run.G
    name, weight = first_layer(G, run.config.model.latent_dim, run.num_classes)
    vectors, eigenvalues = sefa(weight)
    return Directions(vectors, eigenvalues, name)


def save_directions(found: Directions, path: str | Path) -> Path:
    """npz with keys ``directions`` float32 (K, latent_dim), ``eigenvalues`` float64 (K,),
    ``layer`` and ``sign_rule`` (strings)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, directions=found.directions.numpy(), eigenvalues=found.eigenvalues.numpy(),
                 layer=np.array(found.layer), sign_rule=np.array(SIGN_RULE))
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def read_directions(path: str | Path, latent_dim: int) -> torch.Tensor:
    """The directions (K, latent_dim) of an npz written by :func:`save_directions`."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as saved:
            vectors = saved["directions"]
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"cannot read directions from {path} (gankit directions writes "
                        f"them): {exc}") from None
    if vectors.ndim != 2 or vectors.shape[1] != latent_dim:
        raise UserError(f"the directions in {path} have shape {vectors.shape}; this run's "
                        f"latents have {latent_dim} dimensions")
    return torch.from_numpy(vectors.astype(np.float32))


def parse_amounts(text: str) -> torch.Tensor:
    """``"start:stop:count"`` -> ``linspace(start, stop, count)`` (float32), or one number
    -> a single amount; anything else is a UserError."""
    parts = text.split(":")
    try:
        if len(parts) == 1:
            return torch.tensor([float(parts[0])])
        if len(parts) == 3:
            start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
            if count >= 1 and all(np.isfinite((start, stop))):
                return torch.linspace(start, stop, count)
    except ValueError:
        pass
    raise UserError(f"--amount takes start:stop:count (e.g. -3:3:7: seven amounts from -3 to "
                    f"3) or one number, got {text!r}")


@torch.no_grad()
def output_change(G: nn.Module, vectors: torch.Tensor, *, latent_dim: int, amount: float = 3.0,
                  latents: int = 64, seed: int = 0, num_classes: int = 0) -> torch.Tensor:
    """(K,) the mean absolute change of G's output (model range) when ``latents`` seeded z
    (all classes in turn for a conditional G) move by ``amount`` along each row of
    ``vectors`` (K, latent_dim): how much each direction does."""
    device = next(G.parameters()).device
    z = torch.randn(latents, latent_dim, generator=torch.Generator().manual_seed(seed))
    z = z.to(device)
    labels = torch.arange(latents, device=device) % num_classes if num_classes else None
    base = generate_rows(G, z, labels)
    changes = []
    for vector in vectors.to(device):
        moved = generate_rows(G, z + amount * vector, labels)
        changes.append((moved - base).abs().mean())
    return torch.stack(changes).cpu()


def edit(run, z, *, component: int | None = None, amounts=None,
         labels: torch.Tensor | None = None, classes: list[int] | None = None,
         directions=None, ema: bool = True, device: str = "cpu") -> torch.Tensor:
    """Images of latents moved along one SeFa direction, or drawn with other classes; the
    API's ``gankit.edit``.

    run: a loaded run or a run directory. z: float (N, latent_dim), or the path of an npz
    from ``gankit project`` (whose labels it also takes). component: walk direction K (0:
    the largest eigenvalue) by ``amounts`` (a tensor, a list or ``"start:stop:count"``;
    default -3:3:7), in raw latent units (= prior standard deviations); or classes: the
    same z with each of these classes instead (a conditional run; the first column keeps
    each latent's own class). labels: int (N,), the classes of a conditional run's z.
    directions: (K, latent_dim) or an npz from ``gankit directions`` (default: the run's).
    Returns uint8 (N, A, C, H, W), a row per latent: amount 0 gives G(z) itself, the
    pixels of its projection.
    """
    from gankit.data import to_uint8

    run = noise_run(run, "edit", device)
    G = run.generator if ema else run.G
    latent_dim = run.config.model.latent_dim
    z, labels = _latents(z, labels, run)
    if (component is None) == (classes is None):
        raise UserError("give exactly one of --component K (a direction) or --class K "
                        "(another class)")
    if classes is not None:
        rows, row_labels, columns = _class_rows(z, labels, classes, run.num_classes)
    else:
        vectors = _vectors(directions, run, ema, latent_dim)
        if not 0 <= component < len(vectors):
            raise UserError(f"--component {component} is out of range: this run has "
                            f"{len(vectors)} directions, 0..{len(vectors) - 1}")
        steps = parse_amounts(amounts) if isinstance(amounts, str) else torch.as_tensor(
            [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0] if amounts is None else amounts,
            dtype=torch.float32).reshape(-1)
        rows = (z[:, None, :] + steps[None, :, None] * vectors[component]).reshape(-1, latent_dim)
        columns = len(steps)
        row_labels = None if labels is None else labels.repeat_interleave(columns)
    device = next(G.parameters()).device
    with torch.no_grad():
        images = generate_rows(G, rows.to(device),
                               None if row_labels is None else row_labels.to(device))
    images = to_uint8(images.float(), run.config.data.value_range).cpu()
    return images.reshape(len(z), columns, *images.shape[1:])


def _latents(z, labels, run) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(z float32 (N, D), labels (N,) or None) checked against the run."""
    latent_dim = run.config.model.latent_dim
    if isinstance(z, (str, Path)):
        from gankit.apps.project import read_latents

        saved = read_latents(z, latent_dim)
        z, labels = saved["z"], saved["labels"] if labels is None else labels
    z = torch.as_tensor(z, dtype=torch.float32)
    if z.dim() != 2 or z.shape[1] != latent_dim or not len(z):
        raise UserError(f"latents must be (N, {latent_dim}), got {tuple(z.shape)}")
    if not run.num_classes:
        return z, None
    if labels is None:
        raise UserError("this run is class-conditional: the latents need their classes "
                        "(the labels of gankit project's npz)")
    labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
    if len(labels) != len(z) or bool(((labels < 0) | (labels >= run.num_classes)).any()):
        raise UserError(f"the latents' classes must be {len(z)} numbers in "
                        f"0..{run.num_classes - 1}")
    return z, labels


def _class_rows(z: torch.Tensor, labels: torch.Tensor | None, classes: list[int],
                num_classes: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(rows (N * (1 + len(classes)), D), their labels, columns): each latent with its own
    class, then with each of ``classes``."""
    if not num_classes or labels is None:
        raise UserError("--class needs a class-conditional run (this one is not)")
    bad = [c for c in classes if not 0 <= int(c) < num_classes]
    if bad or not classes:
        raise UserError(f"class {bad[0] if bad else '(none)'} is out of range: this run "
                        f"knows classes 0..{num_classes - 1}")
    columns = 1 + len(classes)
    grid = torch.cat([labels[:, None], torch.tensor(classes).long()[None].expand(len(z), -1)],
                     1)
    return z.repeat_interleave(columns, 0), grid.reshape(-1), columns


def _vectors(given, run, ema: bool, latent_dim: int) -> torch.Tensor:
    """The directions to walk: given (a tensor or an npz path) or the run's own."""
    if given is None:
        return directions(run, ema=ema).directions
    if isinstance(given, (str, Path)):
        return read_directions(given, latent_dim)
    vectors = torch.as_tensor(given, dtype=torch.float32)
    if vectors.dim() != 2 or vectors.shape[1] != latent_dim:
        raise UserError(f"directions must be (K, {latent_dim}), got {tuple(vectors.shape)}")
    return vectors
