"""Image inpainting with a trained generator (the tutorial's 图像修复).

Given an image whose pixels are known only outside a mask, search the generator's latent
space for the image that best matches the known pixels, then blend: known pixels from the
input, missing pixels from the generator (Yeh et al. 2017, "Semantic Image Inpainting with
Deep Generative Models", without their adversarial prior term).

The search (:mod:`gankit.apps.latent_search`, which projection shares) is Adam on z from
several random starts ("restarts"); the start whose result fits the known pixels best wins.
For a class-conditional generator the class is searched too: every class is tried with every
restart for the first quarter of the steps (the explore stage), the best ``keep`` (class, z)
candidates per image are then refined for the rest. Trying every class keeps the search exact
and model-agnostic (it only calls ``G(z, labels)``); soft class weights would need a
generator that accepts them and tend to settle on blends of two digits.

The objective per candidate is

    mean over known pixels of (G(z) - x)^2                 (the fit, in the model's range)
    + feature_weight * mean (F(m * G(z)) - F(m * x))^2     (optional, gankit's mnist-cnn)
    + prior_weight * mean(z^2)                             (keeps z where G was trained)
    + d_weight * softplus(-D(G(z)[, class]))               (realism, the run's D; Yeh et al.)

where m is the known-pixel mask and F the mnist-cnn's 128 features of an image whose missing
pixels are set to black: a perceptual version of the fit on the same known pixels. Candidates
are compared by the whole objective. Without the prior z over-fits the known pixels (the
fit error gets tiny with any class) and the class is picked nearly at random; the prior
keeps z where G was trained and makes the filled digit's class match the original's far
more often (``bench/inpaint_heldout.py`` measures that share on the held-out digits). The
default weights were chosen by ``bench/inpaint_tuning.py`` on validation digits, never on
the scored ones: the prior's weight 0.25, and D's term off (with the prior it did not
change the share and cost about 70 % more time; ``d_weight``/``--realism-weight`` turn it
on).

Masks: in a mask file white (>= 128) marks the missing pixels to fill and black the known
ones (the common convention of inpainting tools); ``--box x,y,w,h`` marks a rectangle as
missing. Internally ``known`` is 1 on known pixels, 0 on missing ones.

Errors are reported in [0, 1] pixel units: ``hidden_mse`` is the MSE of the filled image on
the missing pixels against the reference image there (the input itself unless another
``original`` is given, so it is meaningful when the input is intact, e.g. in a benchmark),
``fit_mse`` the generator's MSE on the known pixels.

A folder (:func:`inpaint_folder`, ``gankit inpaint --input DIR``) is filled in batches with
one model load, each image as if alone (``independent``): the single-image form gives the
same pixels for the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gankit.apps.image_files import (input_files, png_names, read_image,  # noqa: F401
                                     read_images, write_png)
from gankit.apps.inpaint_defaults import PRIOR_WEIGHT, REALISM_WEIGHT
from gankit.apps.latent_search import (SearchSettings, check_search, masked_mse,
                                       search_latents, to_unit)
from gankit.errors import UserError


@dataclass
class InpaintResult:
    """Output of :func:`inpaint_batch`; all image tensors are float (B, C, H, W) in the
    model's range, errors are (B,) in [0, 1] pixel units."""

    filled: torch.Tensor  # known pixels from the input, missing ones from G
    generated: torch.Tensor  # G's whole image for the best latent
    z: torch.Tensor  # (B, latent_dim) the best latent
    labels: torch.Tensor | None  # (B,) the chosen class of a conditional G, else None
    fit_mse: torch.Tensor  # MSE on the known pixels (generated vs input)
    hidden_mse: torch.Tensor  # MSE on the missing pixels (filled vs reference)


def _check_inputs(images: torch.Tensor, known: torch.Tensor, restarts: int, steps: int
                  ) -> None:
    """A UserError unless images and masks are (B, C, H, W) of one size, the mask has 1 or C
    channels, and restarts and steps are >= 1."""
    if images.dim() != 4 or known.dim() != 4:
        raise UserError(f"images and masks must be (B, C, H, W), got {tuple(images.shape)} "
                        f"and {tuple(known.shape)}")
    if known.shape[0] != images.shape[0] or known.shape[2:] != images.shape[2:] \
            or known.shape[1] not in (1, images.shape[1]):
        raise UserError(f"mask size {tuple(known.shape)} does not match the images "
                        f"{tuple(images.shape)}")
    check_search(restarts, steps)


def inpaint_batch(G: nn.Module, images: torch.Tensor, known: torch.Tensor, *,
                  latent_dim: int, value_range: str = "tanh", restarts: int = 3,
                  steps: int = 200, lr: float = 0.05, seed: int = 0, keep: int = 4,
                  feature_weight: float = 0.0, prior_weight: float = PRIOR_WEIGHT,
                  original: torch.Tensor | None = None, max_candidates: int = 4096,
                  D: nn.Module | None = None, d_weight: float = REALISM_WEIGHT,
                  progress: bool = False, independent: bool = False) -> InpaintResult:
    """Fill the unknown pixels of a batch of images with a generator.

    G: generator, ``G(z)`` or, if ``G.num_classes`` > 0, ``G(z, labels)``, in eval mode.
    images: float (B, C, H, W) in the model's range (``value_range`` "tanh": [-1, 1],
    "unit": [0, 1]). known: (B, 1 or C, H, W), 1 on known pixels, 0 on missing ones.
    restarts: random starts per image (per class for a conditional G). steps: Adam steps per
    kept candidate. feature_weight > 0 adds the mnist-cnn feature loss. D (optional, with
    d_weight): the run's discriminator, whose non-saturating loss on G(z) keeps the whole
    image (and, for a projection D, its class) realistic. original: reference (B, C, H, W)
    for ``hidden_mse`` (default: ``images``). progress: a bar of the search's steps on stderr.
    independent: each image's result as if it were searched alone (the same seeded starts
    for every image; see :mod:`gankit.apps.latent_search`), as ``gankit inpaint`` does;
    off, the starts are drawn on through the batch.
    """
    _check_inputs(images, known, restarts, steps)
    device = next(G.parameters()).device
    images, known = images.float().to(device), known.float().to(device)
    settings = SearchSettings(restarts=restarts, steps=steps, lr=lr, seed=seed, keep=keep,
                              feature_weight=feature_weight, prior_weight=prior_weight,
                              d_weight=d_weight, max_candidates=max_candidates,
                              independent=independent)
    found = search_latents(G, images, known, latent_dim=latent_dim, value_range=value_range,
                           settings=settings, D=D, progress=progress)
    return _result(images, known, found, original, value_range)


def _result(images: torch.Tensor, known: torch.Tensor, found, original: torch.Tensor | None,
            value_range: str) -> InpaintResult:
    """The blend of the inputs' known pixels with the generated ones (``found``, a
    :class:`~gankit.apps.latent_search.SearchResult`), and its errors."""
    generated = found.generated
    filled = images * known + generated * (1 - known)
    reference = images if original is None else original.float().to(images.device)
    unit = lambda t: to_unit(t, value_range)  # noqa: E731
    fit = masked_mse(unit(generated), unit(images), known)
    hidden = masked_mse(unit(filled), unit(reference), 1 - known)
    return InpaintResult(filled=filled.cpu(), generated=generated.cpu(), z=found.z.cpu(),
                         labels=found.labels.cpu() if found.labels is not None else None,
                         fit_mse=fit.cpu(), hidden_mse=hidden.cpu())


# --- files and masks ----------------------------------------------------------------------

def read_mask(path: str | Path, size: tuple[int, int]) -> torch.Tensor:
    """A mask image -> known (1, H, W) float: white (>= 128) is missing, black is known."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise UserError(f"mask not found: {path}")
    try:
        with Image.open(path) as image:
            import numpy as np

            array = np.asarray(image.convert("L"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UserError(f"cannot read mask {path}: {exc}") from None
    if array.shape != tuple(size):
        raise UserError(f"mask {path} is {array.shape[1]}x{array.shape[0]} pixels but the image "
                        f"is {size[1]}x{size[0]}")
    known = torch.from_numpy((array < 128).astype("float32"))[None]
    if known.all():
        raise UserError(f"mask {path} marks no pixel as missing (white = missing)")
    if not known.any():
        raise UserError(f"mask {path} marks every pixel as missing; nothing is known to match")
    return known


def parse_box(text: str) -> tuple[int, int, int, int]:
    """``"x,y,w,h"`` -> ints; a UserError unless four whole numbers with w, h > 0."""
    try:
        x, y, w, h = (int(part) for part in text.split(","))
    except ValueError:
        raise UserError(f"--box takes x,y,w,h (four whole numbers), got {text!r}") from None
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise UserError(f"--box {text}: x, y must be >= 0 and w, h > 0")
    return x, y, w, h


def box_mask(box: tuple[int, int, int, int] | str, size: tuple[int, int]) -> torch.Tensor:
    """known (1, H, W): 0 inside the box (x, y, w, h), 1 elsewhere; the box must lie inside."""
    x, y, w, h = parse_box(box) if isinstance(box, str) else box
    height, width = size
    if x + w > width or y + h > height:
        raise UserError(f"box x={x},y={y},w={w},h={h} reaches outside the {width}x{height} image")
    if w == width and h == height:
        raise UserError("the box covers the whole image; nothing is known to match")
    known = torch.ones(1, height, width)
    known[:, y:y + h, x:x + w] = 0
    return known


def lower_half_mask(batch: int, size: tuple[int, int]) -> torch.Tensor:
    """known (B, 1, H, W) with the lower half missing (the benchmark's mask)."""
    known = torch.ones(batch, 1, *size)
    known[:, :, size[0] // 2:] = 0
    return known


def inpaint_image(run, image: str | Path | torch.Tensor, *,
                  mask: str | Path | torch.Tensor | None = None,
                  box: tuple[int, int, int, int] | str | None = None,
                  out: str | Path | None = None, restarts: int = 3, steps: int = 200,
                  seed: int = 0, feature_weight: float = 0.0, ema: bool = True,
                  device: str = "cpu", prior_weight: float = PRIOR_WEIGHT,
                  realism_weight: float = REALISM_WEIGHT, progress: bool = False) -> dict:
    """Inpaint one image with a run's (EMA) generator; the API's ``gankit.inpaint_image``.

    run: a :class:`~gankit.apps.sampling.Run` or run directory. image: a file or uint8 (C, H, W).
    mask: a file (white = missing) or known (1, H, W) float; or box (x, y, w, h) missing.
    Writes ``out`` (PNG) when given; ``progress``: a bar of the search. Returns
    ``{"filled": uint8 (C, H, W), "label", "fit_mse", "hidden_mse", "path"}``.
    """
    from gankit.apps.sampling import load
    from gankit.config.kinds import require

    if isinstance(run, (str, Path)):
        if not Path(run).exists():
            raise UserError(f"run directory not found: {run}")
        run = load(run, device=device)
    require(run.kind, "inpaint")
    if len(run.image_shape) != 3:
        raise UserError("this run makes 2-D points, not images; inpainting needs an image run")
    image_u8 = image if isinstance(image, torch.Tensor) else read_image(image, run.image_shape)
    if tuple(image_u8.shape) != tuple(run.image_shape):
        raise UserError(f"image shape {tuple(image_u8.shape)} differs from the run's "
                        f"{tuple(run.image_shape)}")
    known = known_pixels(mask, box, tuple(image_u8.shape[1:]))
    result, filled = _fill(run, image_u8[None], known, ema=ema, progress=progress,
                           restarts=restarts, steps=steps, seed=seed,
                           feature_weight=feature_weight, prior_weight=prior_weight,
                           d_weight=realism_weight)
    path = write_png(filled[0], out) if out is not None else None
    return {"filled": filled[0],
            "label": int(result.labels[0]) if result.labels is not None else None,
            "fit_mse": float(result.fit_mse[0]), "hidden_mse": float(result.hidden_mse[0]),
            "missing_pixels": int((known == 0).sum()), "path": path}


def known_pixels(mask: str | Path | torch.Tensor | None,
                 box: tuple[int, int, int, int] | str | None, size: tuple[int, int]
                 ) -> torch.Tensor:
    """known (1, H, W) of images of ``size`` (H, W): from a mask file (white = missing), a
    mask tensor (1 = known) or a box (x, y, w, h) of missing pixels; exactly one is given."""
    if (mask is None) == (box is None):
        raise UserError("give exactly one of --mask FILE or --box x,y,w,h")
    if box is not None:
        return box_mask(box, size)
    if not isinstance(mask, torch.Tensor):
        return read_mask(mask, size)
    known = mask.float()
    if tuple(known.shape[-2:]) != size:
        raise UserError(f"mask size {tuple(known.shape[-2:])} differs from the image's {size}")
    return known.reshape(-1, *size)[:1]


def _fill(run, images_u8: torch.Tensor, known: torch.Tensor, *, ema: bool, progress: bool,
          **search) -> tuple[InpaintResult, torch.Tensor]:
    """(the result, the filled uint8 (B, C, H, W)) of uint8 images (B, C, H, W) with the
    missing pixels of known (1, H, W), each image searched as if alone (``independent``);
    ``search``: :func:`inpaint_batch`'s restarts, steps, seed and weights."""
    from gankit.data import to_model_range, to_uint8

    vr = run.config.data.value_range
    x = to_model_range(images_u8, vr)
    result = inpaint_batch(run.generator if ema else run.G, x,
                           known[None].expand(len(x), *known.shape),
                           latent_dim=run.config.model.latent_dim, value_range=vr, D=run.D,
                           progress=progress, independent=True, **search)
    return result, to_uint8(result.filled, vr)


def inpaint_folder(run, source: str | Path, out: str | Path, *,
                   mask: str | Path | torch.Tensor | None = None,
                   box: tuple[int, int, int, int] | str | None = None, restarts: int = 3,
                   steps: int = 200, seed: int = 0, feature_weight: float = 0.0,
                   prior_weight: float = PRIOR_WEIGHT, realism_weight: float = REALISM_WEIGHT,
                   ema: bool = True, device: str = "cpu", batch_size: int = 256,
                   progress: bool = False) -> dict:
    """Inpaint every image of a folder (searched recursively; or one file) with one model
    load, ``batch_size`` images at a time, the same mask (or box) for each; the API's
    ``gankit.inpaint_folder``.

    Each image gets the pixels :func:`inpaint_image` gives it alone with the same seed.
    Writes ``out/<its path in the folder>.png``. Returns ``{"paths": [Path], "labels":
    [int] or None, "fit_mse": (N,), "hidden_mse": (N,), "missing_pixels": per image}``.
    """
    from gankit.apps.latent_search import noise_run
    from gankit.data.decoding import progress_bar

    run = noise_run(run, "inpaint", device)
    files, names = input_files(source)
    targets = [Path(out) / name for name in png_names(names)]
    known = known_pixels(mask, box, tuple(run.image_shape[1:]))
    search = dict(restarts=restarts, steps=steps, seed=seed, feature_weight=feature_weight,
                  prior_weight=prior_weight, d_weight=realism_weight)
    results = []
    with progress_bar(len(files), "inpainting", "img", progress) as bar:
        for start in range(0, len(files), batch_size):
            images_u8 = read_images(files[start:start + batch_size], run.image_shape)
            result, filled = _fill(run, images_u8, known, ema=ema, progress=False, **search)
            for image, target in zip(filled, targets[start:start + batch_size]):
                write_png(image, target)
            results.append(result)
            bar.update(len(images_u8))
    labels = [int(c) for r in results for c in r.labels] if results[0].labels is not None \
        else None
    return {"paths": targets, "labels": labels,
            "fit_mse": torch.cat([r.fit_mse for r in results]),
            "hidden_mse": torch.cat([r.hidden_mse for r in results]),
            "missing_pixels": int((known == 0).sum())}
