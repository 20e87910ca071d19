"""Projection (GAN inversion): the latent z (and, for a class-conditional run, the class)
whose G(z) best matches a real image.

It is the inpainting search (:mod:`gankit.apps.latent_search`) with every pixel known: Adam
on z from several random starts, a prior on z, optionally a feature loss in mnist-cnn's
space, every class tried for a conditional run (StyleGAN2-ADA's ``projector.py`` does the
same for one image; gankit searches a whole folder in batches with one model load). Each
image is searched as if alone (``independent``): a folder gives, image for image, the
result one image gives with the same seed.

The latents go to an ``.npz`` (:func:`save_latents`: keys ``z`` float32 (N, latent_dim),
``labels`` int64 (N,) with -1 for an unconditional run, ``fit_mse`` and ``psnr`` float32
(N,), ``names`` (N,) the source files), which ``gankit edit --latents`` reads. Errors are in
[0, 1] pixel units: ``fit_mse`` is the reconstruction's MSE against the image, ``psnr``
10 log10(1 / fit_mse) in dB.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from gankit.apps import projection_defaults as defaults
from gankit.apps.image_files import input_files, png_names, read_images, write_png
from gankit.apps.latent_search import (SearchSettings, check_search, generate_rows, masked_mse,
                                       noise_run, search_latents, to_unit)
from gankit.errors import UserError


@dataclass
class Projection:
    """The projection of N images: uint8 images are (N, C, H, W), errors (N,) in [0, 1]
    pixel units; ``trace``: uint8 (N, T, C, H, W), G's image of each search at
    ``trace_steps`` (the start, every ``trace_every`` steps, the end)."""

    z: torch.Tensor  # float32 (N, latent_dim)
    labels: torch.Tensor | None  # int64 (N,) the class of a conditional run, else None
    reconstructions: torch.Tensor  # uint8 G(z[, labels])
    fit_mse: torch.Tensor
    names: list[str] = field(default_factory=list)
    trace: torch.Tensor | None = None
    trace_steps: list[int] = field(default_factory=list)

    @property
    def psnr(self) -> torch.Tensor:
        """(N,) 10 log10(1 / fit_mse), in dB."""
        return 10 * torch.log10(1 / self.fit_mse.clamp_min(1e-12))


def project(run, images, *, restarts: int = defaults.RESTARTS,
            steps: int = defaults.SEARCH_STEPS, seed: int = 0,
            prior_weight: float = defaults.PRIOR_WEIGHT,
            feature_weight: float = defaults.FEATURE_WEIGHT, lr: float = 0.05,
            trace_every: int = 0, ema: bool = True, device: str = "cpu",
            batch_size: int = 256, progress: bool = False) -> Projection:
    """Project images into a run's latent space; the API's ``gankit.project``.

    run: a loaded run, or a run directory or checkpoint file. images: uint8 (N, C, H, W) or
    (C, H, W) at the run's size, or an image file or a folder of them (searched
    recursively). restarts: random starts per image (per class for a conditional run);
    steps: Adam steps; prior_weight: weight of mean(z^2); feature_weight: weight of the
    mnist-cnn feature loss; trace_every: also keep G's image every N steps (0: no trace).
    Images are searched ``batch_size`` at a time; ``progress``: a bar of the images.
    """
    run = noise_run(run, "project", device)
    check_search(restarts, steps)
    images, names = _images_and_names(images, run.image_shape)
    settings = SearchSettings(restarts=restarts, steps=steps, lr=lr, seed=seed,
                              feature_weight=feature_weight, prior_weight=prior_weight,
                              independent=True, trace_every=trace_every)
    parts = []
    from gankit.data.decoding import progress_bar

    with progress_bar(len(images), "projecting", "img", progress) as bar:
        for start in range(0, len(images), batch_size):
            parts.append(_project_batch(run, images[start:start + batch_size], settings, ema))
            bar.update(len(parts[-1].z))
    return _joined(parts, names)


def _images_and_names(images, image_shape: tuple[int, int, int]
                      ) -> tuple[torch.Tensor, list[str]]:
    """uint8 (N, C, H, W) and names of what :func:`project` was given."""
    if isinstance(images, (str, Path)):
        files, names = input_files(images)
        return read_images(files, image_shape), names
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
        raise UserError("images must be uint8 (N, C, H, W), an image file or a folder")
    images = images[None] if images.dim() == 3 else images
    if images.dim() != 4 or tuple(images.shape[1:]) != tuple(image_shape) or not len(images):
        raise UserError(f"images of shape {tuple(images.shape)} do not fit the run, which "
                        f"makes {tuple(image_shape)} images")
    return images, [f"{i:06d}" for i in range(len(images))]


def _project_batch(run, images_u8: torch.Tensor, settings: SearchSettings, ema: bool
                   ) -> Projection:
    """The projection of one batch of uint8 images (B, C, H, W)."""
    from gankit.data import to_model_range, to_uint8

    G = run.generator if ema else run.G
    vr = run.config.data.value_range
    device = next(G.parameters()).device
    x = to_model_range(images_u8, vr).to(device)
    known = torch.ones(len(x), 1, *x.shape[2:], device=device)  # every pixel known
    found = search_latents(G, x, known, latent_dim=run.config.model.latent_dim,
                           value_range=vr, settings=settings)
    fit = masked_mse(to_unit(found.generated, vr), to_unit(x, vr), known)
    trace = None
    if found.trace is not None:
        trace = _render_trace(G, found.trace, found.labels, vr)
    return Projection(z=found.z.float().cpu(),
                      labels=None if found.labels is None else found.labels.cpu(),
                      reconstructions=to_uint8(found.generated, vr).cpu(), fit_mse=fit.cpu(),
                      trace=trace, trace_steps=found.trace_steps)


@torch.no_grad()
def _render_trace(G, path: torch.Tensor, labels: torch.Tensor | None, value_range: str
                  ) -> torch.Tensor:
    """uint8 (B, T, C, H, W): G's image of each winner's z (B, T, latent) along its search."""
    from gankit.data import to_uint8

    b, t = path.shape[:2]
    frame_labels = None if labels is None else labels.repeat_interleave(t)
    images = generate_rows(G, path.reshape(b * t, -1), frame_labels)
    return to_uint8(images, value_range).cpu().reshape(b, t, *images.shape[1:])


def _joined(parts: list[Projection], names: list[str]) -> Projection:
    cat = lambda key: torch.cat([getattr(p, key) for p in parts])  # noqa: E731
    return Projection(z=cat("z"), labels=None if parts[0].labels is None else cat("labels"),
                      reconstructions=cat("reconstructions"), fit_mse=cat("fit_mse"),
                      names=names, trace=None if parts[0].trace is None else cat("trace"),
                      trace_steps=parts[0].trace_steps)


# --- files ------------------------------------------------------------------------------------

def save_latents(projection: Projection, path: str | Path) -> Path:
    """Write the latents as an npz (keys in the module's docstring); returns the path."""
    path = Path(path)
    n = len(projection.z)
    labels = projection.labels if projection.labels is not None else torch.full((n,), -1)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, z=projection.z.numpy().astype(np.float32),
                 labels=labels.numpy().astype(np.int64),
                 fit_mse=projection.fit_mse.numpy().astype(np.float32),
                 psnr=projection.psnr.numpy().astype(np.float32),
                 names=np.array(projection.names or [f"{i:06d}" for i in range(n)], dtype=str))
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def read_latents(path: str | Path, latent_dim: int | None = None) -> dict:
    """``{"z": float32 (N, D), "labels": int64 (N,) or None, "names": [str]}`` of an npz
    written by :func:`save_latents` (or any npz with a key ``z`` of shape (N, D)); with
    ``latent_dim``, D must be it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"latents file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as saved:
            arrays = {key: saved[key] for key in saved.files}
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read latents from {path}: {exc}") from None
    z = arrays.get("z")
    if z is None or z.ndim != 2 or not len(z) or not np.issubdtype(z.dtype, np.floating):
        raise UserError(f"{path} has no latents: it needs a key z of floats, shape (N, "
                        f"latent_dim) (gankit project writes one)")
    if latent_dim is not None and z.shape[1] != latent_dim:
        raise UserError(f"the latents in {path} have {z.shape[1]} dimensions but the run's "
                        f"have {latent_dim}")
    labels = arrays.get("labels")
    labels = None if labels is None or (labels < 0).all() else torch.from_numpy(
        labels.astype(np.int64))
    names = [str(n) for n in arrays["names"]] if "names" in arrays else \
        [f"{i:06d}" for i in range(len(z))]
    return {"z": torch.from_numpy(z.astype(np.float32)), "labels": labels, "names": names}


def project_files(run, source: str | Path, out: str | Path, **options) -> tuple[Projection,
                                                                                 list[Path]]:
    """Project an image file or a folder of them and write into folder ``out``: the
    reconstructions (``<name>.png``, the inputs' relative paths), ``latents.npz`` and, with
    ``trace_every``, ``trace/<name>.png`` (G's image along each search, left to right).
    ``options``: :func:`project`'s. Returns (the projection, the paths written)."""
    from gankit.apps.latent import save_interpolation_grid

    out = Path(out)
    projection = project(run, source, **options)
    pngs = png_names(projection.names)
    written = [write_png(image, out / name)
               for image, name in zip(projection.reconstructions, pngs)]
    written.append(save_latents(projection, out / "latents.npz"))
    if projection.trace is not None:
        written += [save_interpolation_grid(frames[None], out / "trace" / name)
                    for frames, name in zip(projection.trace, pngs)]
    return projection, written
