"""The latent search behind inpainting and projection: find the z (and, for a class-conditional
generator, the class) whose G(z) best matches the known pixels of each image.

Inpainting (:mod:`gankit.apps.inpaint`) searches with some pixels unknown; projection (GAN
inversion, :mod:`gankit.apps.project`) is the same search with every pixel known. Both call
:func:`search_latents`.

The search is Adam on z from several random starts ("restarts"); the start whose result fits
best wins. For a class-conditional generator the class is searched too: every class is tried
with every restart for the first quarter of the steps (the explore stage), the best ``keep``
(class, z) candidates per image are then refined for the rest. Trying every class keeps the
search exact and model-agnostic (it only calls ``G(z, labels)``).

The objective per candidate (lower is better) is

    mean over known pixels of (G(z) - x)^2                 (the fit, in the model's range)
    + feature_weight * mean (F(m * G(z)) - F(m * x))^2     (optional, gankit's mnist-cnn)
    + prior_weight * mean(z^2)                             (keeps z where G was trained)
    + d_weight * softplus(-D(G(z)[, class]))               (realism, the run's D; Yeh et al.)

where m is the known-pixel mask and F the mnist-cnn's 128 features of an image whose missing
pixels are set to black. Candidates are compared by the whole objective.

``independent=True`` makes each image's result independent of the other images searched
with it, so that a folder searched in batches gives, image for image, the pixels that one
image searched alone gives: every image starts from the same seeded latents, and every
network call is padded to at least :data:`MIN_ROWS` rows (oneDNN and MKL compute a row of a
batch of 16 rows or fewer by other kernels than a row of a larger batch, a few 1e-7 apart,
which 200 Adam steps can grow into a different pixel). Not with a realism weight and a D
whose minibatch std-dev feature mixes the rows.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gankit.apps.inpaint_defaults import PRIOR_WEIGHT, REALISM_WEIGHT
from gankit.errors import UserError

MIN_ROWS = 32  # rows of every network call of an independent search (see the docstring)


@dataclass(frozen=True)
class SearchSettings:
    """How :func:`search_latents` searches. restarts: random starts per image (per class for
    a conditional G); steps: Adam steps per kept candidate; keep: candidates per image kept
    after the explore stage; max_candidates: candidates searched at once (memory);
    trace_every: record every candidate's z every N steps (0: no trace)."""

    restarts: int = 3
    steps: int = 200
    lr: float = 0.05
    seed: int = 0
    keep: int = 4
    feature_weight: float = 0.0
    prior_weight: float = PRIOR_WEIGHT
    d_weight: float = REALISM_WEIGHT
    max_candidates: int = 4096
    independent: bool = False
    trace_every: int = 0


@dataclass
class SearchResult:
    """The best candidate of each of B images. generated: G's float (B, C, H, W) image for
    it, in the model's range; trace: the winners' z (B, T, latent) at ``trace_steps``."""

    z: torch.Tensor  # (B, latent_dim)
    labels: torch.Tensor | None  # (B,) the class of a conditional G, else None
    generated: torch.Tensor
    trace: torch.Tensor | None = None
    trace_steps: list[int] = field(default_factory=list)


def to_unit(x: torch.Tensor, value_range: str) -> torch.Tensor:
    """Model-range images -> [0, 1]."""
    return x if value_range == "unit" else x * 0.5 + 0.5


def masked_mse(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Per-image MSE of (B, C, H, W) tensors over the pixels where weight (B, 1|C, H, W) is 1."""
    weight = weight.expand_as(a)
    return ((a - b) ** 2 * weight).flatten(1).sum(1) / weight.flatten(1).sum(1).clamp_min(1)


class Features(nn.Module):
    """mnist-cnn features of model-range images, differentiable (1 or 3 channels, any size)."""

    def __init__(self, value_range: str):
        super().__init__()
        from gankit.evaluation.metrics.extractors import MNIST_FEATURE_SCALE, load_mnist_cnn

        self.net = load_mnist_cnn()[0].eval().requires_grad_(False)
        self.scale, self.value_range = MNIST_FEATURE_SCALE, value_range

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = to_unit(x, self.value_range)
        if x.shape[1] == 3:
            x = (x * x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        if x.shape[-2:] != (28, 28):
            x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)
        return self.net(x)[0] / self.scale


@dataclass
class Objective:
    """What a candidate latent is scored by (lower is better; see the module's docstring)."""

    G: nn.Module
    prior_weight: float
    feature: Features | None = None
    feature_weight: float = 0.0
    D: nn.Module | None = None
    d_weight: float = 0.0
    min_rows: int = 0  # pad every network call to this many rows (independent searches)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """G(z[, labels]) of (N, latent) latents (padded to ``min_rows`` rows)."""
        return generate_rows(self.G, z, labels, min_rows=self.min_rows,
                             batch_size=max(1, len(z)))  # one call, as the search makes

    def targets(self, x: torch.Tensor, known: torch.Tensor) -> tuple:
        """(x, known, target features or None, the background of masked images)."""
        feature, target_features = self.feature, None
        if feature is not None:
            with torch.no_grad():
                target_features = feature(x * known + (-1.0 if feature.value_range == "tanh"
                                                       else 0.0) * (1 - known))
        background = -1.0 if feature is not None and feature.value_range == "tanh" else 0.0
        return x, known, target_features, background

    def fit(self, out: torch.Tensor, targets: tuple, labels: torch.Tensor | None
            ) -> torch.Tensor:
        """Per-candidate (N,) objective of images ``out`` (N, C, H, W) without the prior."""
        x, known, target_features, background = targets
        value = masked_mse(out, x, known)
        if self.D is not None and self.d_weight > 0:  # realism of the whole image (and class)
            logits = self.D(out) if labels is None else self.D(out, labels)
            value = value + self.d_weight * F.softplus(-logits.float().view(-1))
        if self.feature is not None:
            masked = out * known + background * (1 - known)
            value = value + self.feature_weight * \
                ((self.feature(masked) - target_features) ** 2).mean(1)
        return value


def generate_rows(G: nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None, *,
                  min_rows: int = MIN_ROWS, batch_size: int = 1024) -> torch.Tensor:
    """G(z[, labels]) of latents (N, latent) on G's device, ``batch_size`` rows a call, each
    call padded to at least ``min_rows`` rows: a row's image is then the same whatever else
    is generated with it (see the module's docstring). Returns float (N, C, H, W)."""
    out = []
    for start in range(0, len(z), batch_size):
        rows = z[start:start + batch_size]
        n, pad = len(rows), min_rows - len(rows)
        chunk_labels = None if labels is None else labels[start:start + batch_size]
        if pad > 0:
            rows = _pad_rows(rows, min_rows, 0.0)
            chunk_labels = None if labels is None else _pad_rows(chunk_labels, min_rows, 0)
        images = G(rows) if chunk_labels is None else G(rows, chunk_labels)
        out.append(images[:n])
    return torch.cat(out)


def _pad_rows(t: torch.Tensor, rows: int, fill: float) -> torch.Tensor:
    """``t`` (N, ...) with rows of ``fill`` appended up to ``rows`` rows."""
    extra = rows - len(t)
    return t if extra <= 0 else torch.cat([t, t.new_full((extra, *t.shape[1:]), fill)])


def _search(objective: Objective, x: torch.Tensor, known: torch.Tensor, z: torch.Tensor,
            labels: torch.Tensor | None, steps: int, *, lr: float,
            on_step: Callable[[int, torch.Tensor], object] | None = None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Adam on z (N, latent) for ``steps`` steps against targets x (N, C, H, W) with known
    (N, 1|C, H, W); ``on_step(i, z)`` after step i (1-based) with z's rows (N, latent).

    Returns (z, score (N,)): the objective at the final z.
    """
    n, rows = len(z), objective.min_rows
    if rows > n:  # independent searches: the padding rows are searched too, then dropped
        x, known = _pad_rows(x, rows, 0.0), _pad_rows(known, rows, 1.0)
        z = _pad_rows(z, rows, 0.0)
        labels = None if labels is None else _pad_rows(labels, rows, 0)
    targets = objective.targets(x, known)
    z = z.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    prior = objective.prior_weight
    G = objective.G
    for i in range(steps):
        out = G(z) if labels is None else G(z, labels)
        per_candidate = objective.fit(out, targets, labels) + prior * (z ** 2).mean(1)
        opt.zero_grad(set_to_none=True)
        per_candidate.sum().backward()  # candidates are independent: sum keeps each gradient
        opt.step()
        if on_step is not None:
            on_step(i + 1, z[:n])
    with torch.no_grad():
        out = G(z) if labels is None else G(z, labels)
        score = objective.fit(out, targets, labels) + prior * (z ** 2).mean(1)
        return z.detach()[:n], score[:n]


@dataclass
class _Plan:
    """The stages of one image's search: ``per_image`` candidates for ``explore`` steps,
    then the best ``keep`` of them for the rest of the ``steps``."""

    per_image: int
    keep: int
    explore: int
    steps: int


def _best_of_chunk(search: Callable, x: torch.Tensor, m: torch.Tensor, z0: torch.Tensor,
                   labels: torch.Tensor | None, plan: _Plan) -> tuple:
    """(z, label or None, each winner's row in the last stage, and in the explore stage or
    None) of each image of x (b, C, H, W), whose candidates are z0, labels: (b * per_image,
    ...). ``search(x, m, z, labels, steps, first_step)`` runs :func:`_search`."""
    b, per_image = len(x), plan.per_image
    xs, ms = x.repeat_interleave(per_image, 0), m.repeat_interleave(per_image, 0)
    z, score = search(xs, ms, z0, labels, plan.explore, 0)
    per, rows = per_image, None
    if plan.explore < plan.steps:  # --- refine the best `keep` candidates of each image ---
        best = score.view(b, per_image).topk(plan.keep, dim=1, largest=False).indices
        rows = (best + torch.arange(b, device=x.device)[:, None] * per_image).flatten()
        z, labels = z[rows], (labels[rows] if labels is not None else None)
        z, score = search(xs[rows], ms[rows], z, labels, plan.steps - plan.explore,
                          plan.explore)
        per = plan.keep
    winner = score.view(b, per).argmin(1) + torch.arange(b, device=x.device) * per
    return (z[winner], (labels[winner] if labels is not None else None), winner,
            rows[winner] if rows is not None else None)


class _Trace:
    """Every candidate's z every ``every`` steps (and at the start and the end) of one
    chunk's search; :meth:`path` picks each winner's."""

    def __init__(self, every: int, steps: int, explore: int):
        self.every, self.steps, self.explore = every, steps, explore
        self.snapshots: list[tuple[int, torch.Tensor]] = []

    def record(self, step: int, z: torch.Tensor) -> None:
        if step % self.every == 0 or step == self.steps:
            self.snapshots.append((step, z.detach().clone()))

    def steps_recorded(self) -> list[int]:
        return [step for step, _ in self.snapshots]

    def path(self, winner: torch.Tensor, origin: torch.Tensor | None) -> torch.Tensor:
        """(b, T, latent): the winners' z over the recorded steps; ``winner`` (b,): their
        rows in the last stage, ``origin`` (b,): in the explore stage (None: one stage)."""
        first = winner if origin is None else origin
        return torch.stack([z[first if step <= self.explore else winner]
                            for step, z in self.snapshots], 1)


@contextmanager
def _frozen(nets: list[nn.Module]):
    """Only z is optimised: the networks' parameters stop requiring gradients for the
    duration, and are restored after, whatever happens."""
    requires = [p.requires_grad for net in nets for p in net.parameters()]
    for net in nets:
        net.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip((p for net in nets for p in net.parameters()), requires):
            p.requires_grad_(flag)


def _starts(generator: torch.Generator, images: int, per_image: int, latent_dim: int,
            settings: SearchSettings) -> torch.Tensor:
    """The starting latents (images * per_image, latent_dim) of one chunk: drawn on for the
    whole batch, or (independent) the same seeded ones for every image."""
    if not settings.independent:
        return torch.randn(images * per_image, latent_dim, generator=generator)
    own = torch.Generator().manual_seed(settings.seed)
    return torch.randn(per_image, latent_dim, generator=own).repeat(images, 1)


def _plan(settings: SearchSettings, num_classes: int) -> _Plan:
    per_image = settings.restarts * max(num_classes, 1)
    keep = max(1, min(settings.keep, per_image))
    explore = max(1, settings.steps // 4) if per_image > keep else settings.steps
    return _Plan(per_image, keep, explore, settings.steps)


def search_latents(G: nn.Module, images: torch.Tensor, known: torch.Tensor, *,
                   latent_dim: int, value_range: str = "tanh",
                   settings: SearchSettings = SearchSettings(), D: nn.Module | None = None,
                   progress: bool = False) -> SearchResult:
    """The best latent (and class) for each image: the search both inpainting and projection
    run.

    G: generator, ``G(z)`` or, if ``G.num_classes`` > 0, ``G(z, labels)``, in eval mode.
    images: float (B, C, H, W) in the model's range, on G's device; known: (B, 1 or C, H, W),
    1 on known pixels (all ones for a projection). D: the run's discriminator for the
    realism term (``settings.d_weight``). progress: a bar of the search's steps on stderr.
    """
    from gankit.data.decoding import progress_bar

    device = next(G.parameters()).device
    num_classes = int(getattr(G, "num_classes", 0) or 0)
    feature = Features(value_range).to(device) if settings.feature_weight > 0 else None
    objective = Objective(G, settings.prior_weight, feature, settings.feature_weight, D,
                          settings.d_weight, MIN_ROWS if settings.independent else 0)
    generator = torch.Generator().manual_seed(settings.seed)
    plan = _plan(settings, num_classes)
    chunk = max(1, settings.max_candidates // plan.per_image)
    found: list[tuple] = []
    with _frozen([G] + ([D] if D is not None else [])), \
            progress_bar(settings.steps * -(-len(images) // chunk), "search", "step",
                         progress) as bar:
        for start in range(0, len(images), chunk):
            x, m = images[start:start + chunk], known[start:start + chunk]
            z0 = _starts(generator, len(x), plan.per_image, latent_dim, settings).to(device)
            labels = (torch.arange(num_classes, device=device).repeat_interleave(
                settings.restarts).repeat(len(x)) if num_classes else None)
            found.append(_search_chunk(objective, x, m, z0, labels, plan=plan,
                                       settings=settings, tick=bar.update))
    return _gather(found)


def _search_chunk(objective: Objective, x: torch.Tensor, m: torch.Tensor, z0: torch.Tensor,
                  labels: torch.Tensor | None, *, plan: _Plan, settings: SearchSettings,
                  tick: Callable[[], object]) -> tuple:
    """(z, labels, generated, trace path, trace steps) of one chunk of images."""
    trace = _Trace(settings.trace_every, plan.steps, plan.explore) \
        if settings.trace_every > 0 else None
    if trace is not None:
        trace.record(0, z0)

    def search(xs, ms, z, chunk_labels, steps, first_step):
        def on_step(i, z_now):
            tick()
            if trace is not None:
                trace.record(first_step + i, z_now)
        return _search(objective, xs, ms, z, chunk_labels, steps, lr=settings.lr,
                       on_step=on_step)

    z, label, winner, origin = _best_of_chunk(search, x, m, z0, labels, plan)
    with torch.no_grad():
        generated = objective.generate(z, label)
    if trace is None:
        return z, label, generated, None, []
    return z, label, generated, trace.path(winner, origin), trace.steps_recorded()


def _gather(found: list[tuple]) -> SearchResult:
    """The chunks' results as one :class:`SearchResult`."""
    z = torch.cat([f[0] for f in found])
    labels = torch.cat([f[1] for f in found]) if found and found[0][1] is not None else None
    generated = torch.cat([f[2] for f in found]).float()
    trace = torch.cat([f[3] for f in found]) if found and found[0][3] is not None else None
    return SearchResult(z, labels, generated, trace, found[0][4] if found else [])


def check_search(restarts: int, steps: int) -> None:
    """A UserError unless restarts and steps are >= 1."""
    if restarts < 1 or steps < 1:
        raise UserError("restarts and steps must be >= 1")


def noise_run(run, command: str, device: str = "cpu"):
    """``run`` (a loaded run, or a run directory or checkpoint file, loaded onto ``device``)
    when its kind serves ``gankit command`` and it makes images; else a UserError."""
    from pathlib import Path

    from gankit.apps.sampling import load
    from gankit.config.kinds import require

    if isinstance(run, (str, Path)):
        if not Path(run).exists():
            raise UserError(f"run directory not found: {run}")
        run = load(run, device=device)
    require(run.kind, command)
    if len(run.image_shape) != 3:
        raise UserError(f"this run makes 2-D points, not images; gankit {command} needs an "
                        f"image run")
    return run
