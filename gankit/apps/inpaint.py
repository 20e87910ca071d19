"""Image inpainting with a trained generator (the tutorial's 图像修复).

Given an image whose pixels are known only outside a mask, search the generator's latent
space for the image that best matches the known pixels, then blend: known pixels from the
input, missing pixels from the generator (Yeh et al. 2017, "Semantic Image Inpainting with
Deep Generative Models", without their adversarial prior term).

The search is Adam on z from several random starts ("restarts"); the start whose result fits
the known pixels best wins. For a class-conditional generator the class is searched too:
every class is tried with every restart for the first quarter of the steps (the explore
stage), the best ``keep`` (class, z) candidates per image are then refined for the rest.
Trying every class keeps the search exact and model-agnostic (it only calls ``G(z, labels)``);
soft class weights would need a generator that accepts them and tend to settle on blends of
two digits.

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
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gankit.apps.inpaint_defaults import PRIOR_WEIGHT, REALISM_WEIGHT
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


def _to_unit(x: torch.Tensor, value_range: str) -> torch.Tensor:
    return x if value_range == "unit" else x * 0.5 + 0.5


def _masked_mse(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Per-image MSE of (B, C, H, W) tensors over the pixels where weight (B, 1|C, H, W) is 1."""
    weight = weight.expand_as(a)
    return ((a - b) ** 2 * weight).flatten(1).sum(1) / weight.flatten(1).sum(1).clamp_min(1)


class _Features(nn.Module):
    """mnist-cnn features of model-range images, differentiable (1 or 3 channels, any size)."""

    def __init__(self, value_range: str):
        super().__init__()
        from gankit.evaluation.metrics.extractors import MNIST_FEATURE_SCALE, load_mnist_cnn

        self.net = load_mnist_cnn()[0].eval().requires_grad_(False)
        self.scale, self.value_range = MNIST_FEATURE_SCALE, value_range

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _to_unit(x, self.value_range)
        if x.shape[1] == 3:
            x = (x * x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        if x.shape[-2:] != (28, 28):
            x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)
        return self.net(x)[0] / self.scale


def _search(G: nn.Module, x: torch.Tensor, known: torch.Tensor, z: torch.Tensor,
            labels: torch.Tensor | None, steps: int, lr: float, feature: _Features | None,
            feature_weight: float, prior_weight: float, D: nn.Module | None = None,
            d_weight: float = 0.0, tick: Callable[[], object] | None = None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Adam on z (N, latent) for ``steps`` steps against targets x (N, C, H, W); ``tick()``
    after each step (a progress bar's).

    Returns (z, score (N,)): the objective at the final z.
    """
    z = z.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    target_features = None
    if feature is not None:
        with torch.no_grad():
            target_features = feature(x * known + (-1.0 if feature.value_range == "tanh" else 0.0)
                                      * (1 - known))
    background = -1.0 if feature is not None and feature.value_range == "tanh" else 0.0

    def score(out: torch.Tensor) -> torch.Tensor:
        value = _masked_mse(out, x, known)
        if D is not None and d_weight > 0:  # realism of the whole image (and its class)
            logits = D(out) if labels is None else D(out, labels)
            value = value + d_weight * F.softplus(-logits.float().view(-1))
        if feature is not None:
            masked = out * known + background * (1 - known)
            value = value + feature_weight * ((feature(masked) - target_features) ** 2).mean(1)
        return value

    for _ in range(steps):
        out = G(z) if labels is None else G(z, labels)
        per_candidate = score(out) + prior_weight * (z ** 2).mean(1)
        opt.zero_grad(set_to_none=True)
        per_candidate.sum().backward()  # candidates are independent: sum keeps each gradient
        opt.step()
        if tick is not None:
            tick()
    with torch.no_grad():
        out = G(z) if labels is None else G(z, labels)
        return z.detach(), score(out) + prior_weight * (z ** 2).mean(1)


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
    if restarts < 1 or steps < 1:
        raise UserError("restarts and steps must be >= 1")


def inpaint_batch(G: nn.Module, images: torch.Tensor, known: torch.Tensor, *,
                  latent_dim: int, value_range: str = "tanh", restarts: int = 3,
                  steps: int = 200, lr: float = 0.05, seed: int = 0, keep: int = 4,
                  feature_weight: float = 0.0, prior_weight: float = PRIOR_WEIGHT,
                  original: torch.Tensor | None = None, max_candidates: int = 4096,
                  D: nn.Module | None = None, d_weight: float = REALISM_WEIGHT,
                  progress: bool = False) -> InpaintResult:
    """Fill the unknown pixels of a batch of images with a generator.

    G: generator, ``G(z)`` or, if ``G.num_classes`` > 0, ``G(z, labels)``, in eval mode.
    images: float (B, C, H, W) in the model's range (``value_range`` "tanh": [-1, 1],
    "unit": [0, 1]). known: (B, 1 or C, H, W), 1 on known pixels, 0 on missing ones.
    restarts: random starts per image (per class for a conditional G). steps: Adam steps per
    kept candidate. feature_weight > 0 adds the mnist-cnn feature loss. D (optional, with
    d_weight): the run's discriminator, whose non-saturating loss on G(z) keeps the whole
    image (and, for a projection D, its class) realistic. original: reference (B, C, H, W)
    for ``hidden_mse`` (default: ``images``). progress: a bar of the search's steps on stderr.
    """
    from gankit.data.decoding import progress_bar

    _check_inputs(images, known, restarts, steps)
    device = next(G.parameters()).device
    images, known = images.float().to(device), known.float().to(device)
    num_classes = int(getattr(G, "num_classes", 0) or 0)
    feature = _Features(value_range).to(device) if feature_weight > 0 else None
    generator = torch.Generator().manual_seed(seed)
    per_image = restarts * max(num_classes, 1)
    keep = max(1, min(keep, per_image))
    explore = max(1, steps // 4) if per_image > keep else steps
    chunk = max(1, max_candidates // per_image)
    nets = [G] + ([D] if D is not None else [])
    requires = [p.requires_grad for net in nets for p in net.parameters()]
    for net in nets:
        net.requires_grad_(False)  # only z is optimised
    bar = progress_bar(steps * -(-len(images) // chunk), "search", "step", progress)

    def search(x, m, z, labels, n):
        return _search(G, x, m, z, labels, n, lr, feature, feature_weight, prior_weight, D,
                       d_weight, bar.update)

    z_best, labels_best, generated = [], [], []
    try:
        for start in range(0, len(images), chunk):
            x, m = images[start:start + chunk], known[start:start + chunk]
            z0 = torch.randn(len(x) * per_image, latent_dim, generator=generator).to(device)
            labels = (torch.arange(num_classes, device=device).repeat_interleave(restarts)
                      .repeat(len(x)) if num_classes else None)
            z, label = _best_of_chunk(search, x, m, z0, labels, per_image, keep, explore, steps)
            z_best.append(z)
            if label is not None:
                labels_best.append(label)
            with torch.no_grad():
                generated.append(G(z) if label is None else G(z, label))
    finally:
        bar.close()
        for p, flag in zip((p for net in nets for p in net.parameters()), requires):
            p.requires_grad_(flag)
    return _result(images, known, torch.cat(generated).float(), z_best, labels_best,
                   original, value_range)


def _best_of_chunk(search: Callable, x: torch.Tensor, m: torch.Tensor, z0: torch.Tensor,
                   labels: torch.Tensor | None, per_image: int, keep: int, explore: int,
                   steps: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(z, label or None) of each image of x (b, C, H, W): every one of its ``per_image``
    candidates (z0, labels: (b * per_image, ...)) searched for ``explore`` steps, then the
    best ``keep`` of them for the rest of the ``steps``."""
    b = len(x)
    xs, ms = x.repeat_interleave(per_image, 0), m.repeat_interleave(per_image, 0)
    z, score = search(xs, ms, z0, labels, explore)
    per = per_image
    if explore < steps:  # --- refine the best `keep` candidates of each image ---
        best = score.view(b, per_image).topk(keep, dim=1, largest=False).indices
        rows = (best + torch.arange(b, device=x.device)[:, None] * per_image).flatten()
        z, labels = z[rows], (labels[rows] if labels is not None else None)
        z, score = search(xs[rows], ms[rows], z, labels, steps - explore)
        per = keep
    winner = score.view(b, per).argmin(1) + torch.arange(b, device=x.device) * per
    return z[winner], (labels[winner] if labels is not None else None)


def _result(images: torch.Tensor, known: torch.Tensor, generated: torch.Tensor,
            z_best: list, labels_best: list, original: torch.Tensor | None,
            value_range: str) -> InpaintResult:
    """The blend of the inputs' known pixels with the generated ones, and its errors."""
    filled = images * known + generated * (1 - known)
    reference = images if original is None else original.float().to(images.device)
    unit = lambda t: _to_unit(t, value_range)  # noqa: E731
    fit = _masked_mse(unit(generated), unit(images), known)
    hidden = _masked_mse(unit(filled), unit(reference), 1 - known)
    return InpaintResult(filled=filled.cpu(), generated=generated.cpu(),
                         z=torch.cat(z_best).cpu(),
                         labels=torch.cat(labels_best).cpu() if labels_best else None,
                         fit_mse=fit.cpu(), hidden_mse=hidden.cpu())


# --- files and masks ----------------------------------------------------------------------

def read_image(path: str | Path, image_shape: tuple[int, int, int]) -> torch.Tensor:
    """A PNG/JPEG as uint8 (C, H, W) with the run's channels; its size must be the run's."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise UserError(f"image not found: {path}")
    c, h, w = image_shape
    try:
        with Image.open(path) as image:
            image = image.convert("L" if c == 1 else "RGB")
            import numpy as np

            array = np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UserError(f"cannot read image {path}: {exc}") from None
    tensor = torch.from_numpy(array.copy())
    tensor = tensor[None] if tensor.dim() == 2 else tensor.permute(2, 0, 1)
    if tuple(tensor.shape[1:]) != (h, w):
        raise UserError(f"{path} is {tensor.shape[2]}x{tensor.shape[1]} pixels but the run makes "
                        f"{w}x{h} images; resize it first")
    return tensor


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


def inpaint_image(run, image: str | Path | torch.Tensor, mask: str | Path | torch.Tensor | None
                  = None, box: tuple[int, int, int, int] | str | None = None,
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
    from gankit.data import to_model_range, to_uint8
    from gankit.apps.sampling import Run, load
    from gankit.training.trained import expect_generation

    if not isinstance(run, Run):
        if not Path(run).exists():
            raise UserError(f"run directory not found: {run}")
        run = load(run, device=device)
    run = expect_generation(run)
    if len(run.image_shape) != 3:
        raise UserError("this run makes 2-D points, not images; inpainting needs an image run")
    if (mask is None) == (box is None):
        raise UserError("give exactly one of --mask FILE or --box x,y,w,h")
    image_u8 = image if isinstance(image, torch.Tensor) else read_image(image, run.image_shape)
    if tuple(image_u8.shape) != tuple(run.image_shape):
        raise UserError(f"image shape {tuple(image_u8.shape)} differs from the run's "
                        f"{tuple(run.image_shape)}")
    size = tuple(image_u8.shape[1:])
    if box is not None:
        known = box_mask(box, size)
    elif isinstance(mask, torch.Tensor):
        known = mask.float()
        if tuple(known.shape[-2:]) != size:
            raise UserError(f"mask size {tuple(known.shape[-2:])} differs from the image's {size}")
        known = known.reshape(-1, *size)[:1]
    else:
        known = read_mask(mask, size)
    vr = run.config.data.value_range
    x = to_model_range(image_u8[None], vr)
    result = inpaint_batch(run.generator if ema else run.G, x, known[None],
                           latent_dim=run.config.model.latent_dim, value_range=vr,
                           restarts=restarts, steps=steps, seed=seed,
                           feature_weight=feature_weight, prior_weight=prior_weight,
                           D=run.D, d_weight=realism_weight, progress=progress)
    filled = to_uint8(result.filled, vr)[0]
    path = None
    if out is not None:
        from PIL import Image

        path = Path(out)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            array = filled.permute(1, 2, 0).numpy()
            Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(path)
        except OSError as exc:
            raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    return {"filled": filled,
            "label": int(result.labels[0]) if result.labels is not None else None,
            "fit_mse": float(result.fit_mse[0]), "hidden_mse": float(result.hidden_mse[0]),
            "missing_pixels": int((known == 0).sum()), "path": path}
