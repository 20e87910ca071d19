"""The style judge: a small CNN that tells a translation set's domain A from its domain B.

Trained on the set's *training* images only (``data.a`` against ``data.b``; the held-out
images, which translations are scored on, are never seen), it scores a translation by the
share of its outputs that it assigns to the target domain (``style_share``): on
emoji-styles, google's shading against twitter's flat colours. On a set paired by name the
two domains hold the same subjects, so the only thing left to learn is the style.

Deterministic: one CPU thread and a fixed seed (as the pinned extractors train), so the same
data gives the same judge. Quick: images are judged at most 32 px a side (area-averaged,
which keeps palette, shading and outlines), three stride-2 conv layers and a few epochs
(about 12 s on one core for emoji-styles' 6,438 training images). Cached on disk under
``$GANKIT_CACHE/style_judge`` (default ``~/.cache/gankit``), keyed by the set's name, its
image shape, a sha256 of its training images and :data:`RECIPE` (change it when the
recipe changes), so the second use loads it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

RECIPE = "style-judge-v1"
MAX_SIDE = 32
EPOCHS = 10  # 96 % held-out on emoji-styles (6: 94 %, 16: 95 %, overfitting)
BATCH = 64
SEED = 0


class JudgeCNN(nn.Module):
    """(N, C, S, S) in [-1, 1], S <= 32 -> logits (N,): > 0 reads domain B.

    Three 3x3 stride-2 convs (16, 32, 64 channels) with BatchNorm and ReLU, a global average
    and one linear layer: about 25k parameters."""

    def __init__(self, channels: int):
        super().__init__()
        layers: list[nn.Module] = []
        for width_in, width in ((channels, 16), (16, 32), (32, 64)):
            layers += [nn.Conv2d(width_in, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width),
                       nn.ReLU()]
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(64, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).squeeze(1)


def judge_input(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float (N, C, h, w) in [-1, 1], area-averaged so that no side
    exceeds :data:`MAX_SIDE`."""
    x = images_u8.float() / 127.5 - 1
    side = max(x.shape[-2:])
    if side > MAX_SIDE:
        scale = MAX_SIDE / side
        x = F.interpolate(x, size=(max(1, round(x.shape[-2] * scale)),
                                   max(1, round(x.shape[-1] * scale))), mode="area")
    return x


@dataclass
class StyleJudge:
    """A trained judge: ``accuracy`` is its balanced accuracy on the held-out images
    (``a_test`` read as A, ``b_test`` as B); ``path`` its cache file."""

    net: JudgeCNN
    accuracy: float
    trained_on: int
    path: Path | None = None

    @torch.no_grad()
    def reads_b(self, images_u8: torch.Tensor) -> torch.Tensor:
        """bool (N,): True where the judge reads domain B in uint8 images (N, C, H, W)."""
        self.net.eval()
        if len(images_u8) == 0:
            return torch.zeros(0, dtype=torch.bool)
        return torch.cat([self.net(judge_input(chunk)) > 0 for chunk in images_u8.split(500)])

    def share(self, images_u8: torch.Tensor, domain: str) -> float:
        """The share of images (N, C, H, W) uint8 that the judge assigns to ``domain``
        ("A" or "B")."""
        if domain not in ("A", "B"):
            raise ValueError(f"domain is 'A' or 'B', not {domain!r}")
        reads_b = self.reads_b(images_u8).float().mean()
        return float(reads_b if domain == "B" else 1 - reads_b)


def balanced_accuracy(judge: StyleJudge, a_u8: torch.Tensor, b_u8: torch.Tensor) -> float:
    """The mean of the judge's accuracies on A images (N, C, H, W) and on B images."""
    return (judge.share(a_u8, "A") + judge.share(b_u8, "B")) / 2


def _flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random left-right flips of (N, C, H, W): style does not depend on the side. (No
    shifts: where a vendor places its drawing in the frame is part of its style; ±2 px
    shifts cost emoji-styles' judge 3 points.)"""
    flip = torch.rand(len(x), generator=generator) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


def train_judge(a_u8: torch.Tensor, b_u8: torch.Tensor, *, epochs: int = EPOCHS,
                seed: int = SEED) -> JudgeCNN:
    """A :class:`JudgeCNN` trained to read A images (N, C, H, W) uint8 as A and B images
    (M, C, H, W) as B: Adam 3e-3 with a cosine schedule, batch 64, logistic loss weighted so
    that each domain counts as much, one thread and ``seed`` for the same weights each time."""
    from gankit.training.driver import fixed_threads  # the speed machinery owns the count

    x = torch.cat([judge_input(a_u8), judge_input(b_u8)])
    y = torch.cat([torch.zeros(len(a_u8)), torch.ones(len(b_u8))])
    weight = torch.where(y > 0, len(y) / (2 * len(b_u8)), len(y) / (2 * len(a_u8)))
    with fixed_threads(1), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        net = JudgeCNN(x.shape[1])
        opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
        for _ in range(epochs):
            net.train()
            order = torch.randperm(len(x), generator=generator)
            for start in range(0, len(order), BATCH):
                rows = order[start:start + BATCH]
                logits = net(_flip(x[rows], generator))
                loss = F.binary_cross_entropy_with_logits(logits, y[rows], weight[rows])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            sched.step()
    return net.eval()


def judge_path(data) -> Path:
    """The cache file of ``data``'s judge: keyed by name, image shape, the training images'
    bytes and :data:`RECIPE`."""
    from gankit.evaluation.evaluate import cache_dir

    digest = hashlib.sha256(f"{RECIPE}|{data.name}|{tuple(data.a.shape[1:])}".encode())
    for part in (data.a, data.b):
        digest.update(str(len(part)).encode())
        digest.update(part.contiguous().numpy().tobytes())
    return cache_dir() / "style_judge" / f"{data.name}-{digest.hexdigest()[:24]}.pt"


def _load(path: Path, channels: int) -> StyleJudge | None:
    """The cached judge, or None when there is none or it cannot be read (then retrained)."""
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        net = JudgeCNN(channels)
        net.load_state_dict(saved["state_dict"])
    except Exception:  # a damaged cache entry is retrained, as evaluate.py's features are
        return None
    return StyleJudge(net.eval(), float(saved["accuracy"]), int(saved["trained_on"]), path)


def _save(judge: StyleJudge, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save({"state_dict": judge.net.state_dict(), "accuracy": judge.accuracy,
                    "trained_on": judge.trained_on, "recipe": RECIPE}, tmp)
        os.replace(tmp, path)  # a reader never sees half a file
        judge.path = path
    except OSError:
        pass  # a read-only home still judges, just trains again next time


def style_judge(data, *, use_cache: bool = True) -> StyleJudge:
    """The style judge of a :class:`~gankit.data.translation.TranslationData`: trained on
    ``data.a`` vs ``data.b`` (or loaded from the cache), its accuracy measured on
    ``data.a_test`` vs ``data.b_test``."""
    path = judge_path(data)
    judge = _load(path, data.shape[0]) if use_cache else None
    if judge is not None:
        return judge
    judge = StyleJudge(train_judge(data.a, data.b), float("nan"), len(data.a) + len(data.b))
    judge.accuracy = balanced_accuracy(judge, data.a_test, data.b_test)
    if use_cache:
        _save(judge, path)
    return judge
