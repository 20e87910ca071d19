"""Walking the latent space: spherical interpolation, the truncation trick, GIFs.

``gankit interpolate RUN_DIR`` draws pairs of latents z0, z1 ~ N(0, I), generates the images
along the great circle between each pair (one row of the grid per pair) and, with ``--gif``,
an animation that walks all the rows at once.

Why spherical: in high dimension almost all of N(0, I)'s mass lies near the sphere of
radius sqrt(d); the straight line between two such points cuts through the low-norm
interior, where the generator was never trained, while the arc (slerp) keeps the norm
typical (White, "Sampling Generative Networks", 2016).

Truncation: ``truncate(z, psi)`` scales z towards the prior's mean, ``z * psi``. For a
N(0, I) prior this is StyleGAN's truncation trick (``w_avg + psi * (w - w_avg)``, Karras et
al. 2019) applied in z, where the mean latent is 0: psi < 1 trades variety for typical,
cleaner images, psi = 1 changes nothing. (BigGAN's variant instead re-draws the components
with |z_i| above a threshold; gankit scales, which is smooth in psi, keeps the random
stream of a seed unchanged, and commutes with slerp.)
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import torch

from gankit.errors import UserError
from gankit.config.kinds import require
from gankit.training.finished_run import check_truncation, truncate


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of ``z0`` and ``z1``.

    z0, z1: (B, D); t: (T,) in [0, 1]. Returns (B, T, D): ``out[b, 0] == z0[b]`` and
    ``out[b, -1] == z1[b]`` when t runs from 0 to 1. The angle is measured between the
    directions; the norm is interpolated along the arc too, so two latents of equal norm
    give a path of that norm. Nearly parallel pairs fall back to the straight line.
    """
    assert z0.shape == z1.shape and z0.dim() == 2, (z0.shape, z1.shape)
    t = t.to(z0.dtype).view(1, -1, 1)
    a, b = z0.unsqueeze(1), z1.unsqueeze(1)
    cos = torch.nn.functional.cosine_similarity(z0, z1, dim=1).clamp(-1, 1).view(-1, 1, 1)
    omega = torch.arccos(cos)
    sin = torch.sin(omega)
    parallel = sin.abs() < 1e-6
    safe = torch.where(parallel, torch.ones_like(sin), sin)
    arc = (torch.sin((1 - t) * omega) / safe) * a + (torch.sin(t * omega) / safe) * b
    line = (1 - t) * a + t * b
    return torch.where(parallel, line, arc)


@torch.no_grad()
def interpolate(run, frames: int | None = None, *, rows: int = 8, seed: int = 0,
                truncation: float = 1.0, ema: bool = True, batch_size: int = 500,
                steps: int | None = None) -> torch.Tensor:
    """Images along slerp paths between ``rows`` random pairs of latents, ``frames`` images
    per path (both ends included; default 10).

    ``run`` is a :class:`gankit.apps.sampling.Run` or a run directory / checkpoint path. The
    latents are drawn on the CPU from ``seed`` (the same images on every device), then
    truncated. ``steps`` is the former name of ``frames`` (deprecated). Returns uint8
    (rows, frames, C, H, W).
    """
    from gankit.data import to_uint8
    from gankit.apps.sampling import load

    frames = _frames(frames, steps)
    if rows < 1:
        raise UserError(f"--rows must be >= 1, got {rows}")
    truncation = check_truncation(truncation)
    run = load(run) if isinstance(run, (str, Path)) else run
    require(run.kind, "interpolate")
    G = run.generator if ema else run.G
    device = next(G.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    latent_dim = run.config.model.latent_dim
    z0 = torch.randn(rows, latent_dim, generator=generator)
    z1 = torch.randn(rows, latent_dim, generator=generator)
    z = slerp(truncate(z0, truncation), truncate(z1, truncation),
              torch.linspace(0, 1, frames)).reshape(rows * frames, latent_dim)
    images = torch.cat([G(chunk.to(device)).float().cpu() for chunk in z.split(batch_size)])
    images = to_uint8(images, run.config.data.value_range)
    return images.reshape(rows, frames, *images.shape[1:])


def _frames(frames: int | None, steps: int | None) -> int:
    """The images per path of :func:`interpolate`, from ``frames`` or its deprecated name
    ``steps`` (which warns); at least 2, both ends of the path."""
    if steps is not None:
        if frames is not None:
            raise TypeError("interpolate() got frames and steps; give frames only (steps is "
                            "its deprecated name)")
        warnings.warn("interpolate(steps=...) is deprecated; use frames=...",
                      DeprecationWarning, stacklevel=4)  # the caller, past no_grad's wrapper
        frames = steps
    frames = 10 if frames is None else frames
    if frames < 2:
        raise UserError(f"--frames must be >= 2 (both ends of the path), got {frames}")
    return frames


def save_interpolation_grid(frames_u8: torch.Tensor, path: str | Path, padding: int = 2) -> Path:
    """Save uint8 (rows, frames, C, H, W) as one PNG: a row per pair, a column per frame.

    The grid is ``make_grid``'s layout: ``frames * (W + padding) + padding`` pixels wide and
    ``rows * (H + padding) + padding`` high.
    """
    from torchvision.utils import save_image

    assert frames_u8.dtype == torch.uint8 and frames_u8.dim() == 5, frames_u8.shape
    columns = frames_u8.shape[1]
    path = _writable(path)
    try:
        save_image(frames_u8.flatten(0, 1).float() / 255.0, path, nrow=columns, padding=padding)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


PROGRESS_BAR_PX = 3


def gif_frames(frames_u8: torch.Tensor, padding: int = 2) -> list:
    """The PIL frames of :func:`save_gif`: frame t tiles every row's image number t in a
    near-square grid, with a progress bar (t + 1) / frames wide along the bottom (which also
    keeps consecutive frames distinct, so none is merged away)."""
    from PIL import Image
    from torchvision.utils import make_grid

    rows, frames, channels = frames_u8.shape[:3]
    nrow = max(1, math.ceil(math.sqrt(rows)))
    pictures = []
    for t in range(frames):
        grid = make_grid(frames_u8[:, t], nrow=nrow, padding=padding)
        bar = torch.zeros(grid.shape[0], PROGRESS_BAR_PX, grid.shape[2], dtype=torch.uint8)
        bar[:, :, :max(1, round(grid.shape[2] * (t + 1) / frames))] = 255
        array = torch.cat([grid, bar], 1).permute(1, 2, 0).numpy()
        picture = Image.fromarray(array[..., 0] if channels == 1 else array)
        # an adaptive palette per frame (RGB would otherwise get the fixed web palette)
        pictures.append(picture if channels == 1 else picture.quantize(colors=256))
    return pictures


def save_gif(frames_u8: torch.Tensor, path: str | Path, duration_ms: int = 100,
             padding: int = 2) -> Path:
    """Save uint8 (rows, frames, C, H, W) as a looping GIF of ``frames`` frames (see
    :func:`gif_frames`)."""
    assert frames_u8.dtype == torch.uint8 and frames_u8.dim() == 5, frames_u8.shape
    pictures = gif_frames(frames_u8, padding)
    path = _writable(path)
    try:
        pictures[0].save(path, format="GIF", save_all=True, append_images=pictures[1:],
                         duration=duration_ms, loop=0)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def _writable(path: str | Path) -> Path:
    from gankit.training.checkpoint import writable_file

    return writable_file(path)
