"""The panels that draw from the generator without a search: generate, walk, edit.

Each handler takes a :class:`~gankit.studio.runs.StudioRun` and the request's fields (a
dict) and returns the JSON answer; images go out as PNG data URIs (lossless). Every random
number comes from a ``torch.Generator`` seeded by the request (the library functions do
the same), never from PyTorch's global generator, so requests from several tabs never
change each other's results.

- **generate** calls :func:`gankit.sample` and lays the images out as ``gankit sample``'s
  grid does: the same pixels as ``gankit sample RUN --seed S -n N``.
- **walk**: the great-circle path (:func:`gankit.apps.latent.slerp`) from the first latent
  of seed A to the second latent of seed B, both truncated, in ``frames`` frames generated
  in one batch, as :func:`gankit.interpolate` does; with A = B it is exactly the row that
  ``gankit interpolate --seed A --rows 1 --frames F`` draws (for a conditional run with no
  class chosen, each frame then has class ``frame mod K``, as there). SeFa amounts move
  every frame along the run's directions.
- **edit**: a projected latent moved along the SeFa directions and drawn with a class,
  through :func:`gankit.edit`: all amounts 0 and its own class give exactly the
  projection's reconstruction.
"""

from __future__ import annotations

import math

import torch

from gankit.studio.fields import numbers, optional_class, whole, number
from gankit.studio.runs import Options, StudioRun
from gankit.studio.uploads import Refused

MAX_GRID = 16  # images per side of a generated grid (256 images)
MAX_FRAMES = 64
MAX_SEED = 2 ** 32 - 1
MAX_AMOUNT = 10.0  # SeFa amounts, in prior standard deviations
MAX_LATENT = 100.0  # |z_i| of a latent sent back by the page


def png_uri(image_u8: torch.Tensor) -> str:
    """uint8 (C, H, W), C = 1 or 3, as a ``data:image/png;base64`` URI."""
    from gankit.apps.report import png_data_uri, tensor_png

    return png_data_uri(tensor_png(image_u8))


def grid_image(images_u8: torch.Tensor, one_class: bool = False) -> torch.Tensor:
    """uint8 (N, C, H, W) as ``gankit sample``'s grid (:func:`gankit.data.pictures.save_grid`:
    a near-square grid, 2 px padding, gray repeated to RGB, one image as it is); with
    ``one_class`` one row, as ``gankit sample --class K`` lays it out."""
    from gankit.data.pictures import tile

    n = len(images_u8)
    return tile(images_u8.cpu(), n if one_class else max(1, int(round(n ** 0.5))))


def _truncation(fields: dict) -> float:
    return number(fields, "truncation", 0.0, 10.0, 1.0, open_low=True)


def _flags(ema: bool, psi: float, cls: int | None) -> str:
    text = "" if psi == 1.0 else f" --truncation {psi:g}"
    text += "" if cls is None else f" --class {cls}"
    return text + ("" if ema else " --no-ema")


def generate(sr: StudioRun, fields: dict, opts: Options) -> dict:
    """``{"image", "n", "command"}``: a grid of ``grid`` x ``grid`` samples of ``seed``."""
    from gankit.api import sample

    side = whole(fields, "grid", 1, MAX_GRID, 4)
    seed = whole(fields, "seed", 0, MAX_SEED, 0)
    psi = _truncation(fields)
    cls = optional_class(fields, "class", sr.num_classes)
    images = sample(sr.run, n=side * side, seed=seed, ema=opts.ema, truncation=psi,
                    classes=None if cls is None else [cls])
    return {"image": png_uri(grid_image(images, cls is not None)), "n": side * side,
            "command": f"gankit sample {sr.name} --seed {seed} -n {side * side}"
                       + _flags(opts.ema, psi, cls)}


def _offset(sr: StudioRun, fields: dict) -> torch.Tensor | None:
    """sum_k amount_k * direction_k (latent_dim,) of the request's SeFa amounts, or None
    when all are 0 or the run has no directions."""
    count = 0 if sr.sefa is None else len(sr.sefa)
    amounts = numbers(fields, "amounts", count, MAX_AMOUNT, exact=False)
    if not any(amounts):
        return None
    return (torch.tensor(amounts)[:, None] * sr.sefa[:len(amounts)]).sum(0)


def _first_latents(seed: int, latent_dim: int, skip: int) -> torch.Tensor:
    """Latent number ``skip`` (0: the first) of seed's stream, (1, latent_dim)."""
    generator = torch.Generator().manual_seed(seed)
    for _ in range(skip):
        torch.randn(1, latent_dim, generator=generator)
    return torch.randn(1, latent_dim, generator=generator)


@torch.no_grad()
def walk_frames(sr: StudioRun, seed_a: int, seed_b: int, *, frames: int, psi: float,
                cls: int | None, offset: torch.Tensor | None, ema: bool) -> torch.Tensor:
    """uint8 (frames, C, H, W): the walk of the module's docstring."""
    from gankit.apps.latent import slerp
    from gankit.data import to_uint8
    from gankit.training.finished_run import truncate

    run = sr.run
    G = run.generator if ema else run.G
    z0 = truncate(_first_latents(seed_a, sr.latent_dim, 0), psi)
    z1 = truncate(_first_latents(seed_b, sr.latent_dim, 1), psi)
    z = slerp(z0, z1, torch.linspace(0, 1, frames)).reshape(frames, sr.latent_dim)
    if offset is not None:
        z = z + offset
    device = next(G.parameters()).device
    z = z.to(device)
    images = G(z) if cls is None else G(z, torch.full((frames,), cls, device=device))
    return to_uint8(images.float().cpu(), run.config.data.value_range)


def walk(sr: StudioRun, fields: dict, opts: Options) -> dict:
    """``{"image", "frame", "frames", "command"}``: one frame of the walk."""
    seed_a = whole(fields, "seed_a", 0, MAX_SEED, 0)
    seed_b = whole(fields, "seed_b", 0, MAX_SEED, seed_a)
    frames = whole(fields, "frames", 2, MAX_FRAMES, 10)
    frame = whole(fields, "frame", 0, frames - 1, 0)
    psi = _truncation(fields)
    cls = optional_class(fields, "class", sr.num_classes)
    offset = _offset(sr, fields)
    images = walk_frames(sr, seed_a, seed_b, frames=frames, psi=psi, cls=cls, offset=offset,
                         ema=opts.ema)
    same = seed_a == seed_b and cls is None and offset is None
    command = (f"gankit interpolate {sr.name} --seed {seed_a} --rows 1 --frames {frames}"
               + _flags(opts.ema, psi, None) + f"   # column {frame}") if same else ""
    return {"image": png_uri(images[frame]), "frame": frame, "frames": frames,
            "command": command}


def _latent(sr: StudioRun, fields: dict) -> torch.Tensor:
    """The latent (1, latent_dim) a projection gave the page."""
    z = fields.get("z")
    ok = isinstance(z, list) and len(z) == sr.latent_dim and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        and abs(v) <= MAX_LATENT for v in z)
    if not ok:
        raise Refused(f"z must be the {sr.latent_dim} finite numbers of a projection "
                      f"(each within +-{MAX_LATENT:g})")
    return torch.tensor([z], dtype=torch.float32)


def edit(sr: StudioRun, fields: dict, opts: Options) -> dict:
    """``{"image"}``: a projected latent moved by the SeFa amounts, with a class."""
    from gankit.apps.directions import edit as edit_latents

    z = _latent(sr, fields)
    own = optional_class(fields, "label", sr.num_classes)
    cls = optional_class(fields, "class", sr.num_classes)
    label = cls if cls is not None else own
    if sr.num_classes and label is None:
        raise Refused("label is missing: this run is class-conditional; send the class "
                      "the projection found")
    offset = _offset(sr, fields)
    vector = torch.zeros(1, sr.latent_dim) if offset is None else offset[None]
    strip = edit_latents(sr.run, z, component=0, amounts=[1.0], directions=vector,
                         labels=None if label is None else [label], ema=opts.ema)
    return {"image": png_uri(strip[0, 0])}
