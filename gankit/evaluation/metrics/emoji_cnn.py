"""``emoji-cnn``: gankit's own classifier of the emoji sets' nine categories, the feature space
of FID and precision/recall on ``emoji-google`` and ``emoji-twitter`` (Inception weights
cannot be downloaded offline; this is to 64 px colour emoji what ``mnist-cnn`` is to digits).

It is trained on the categories of both vendors' emoji at once (:func:`train_emoji_cnn`,
``gankit extractor train --extractor emoji-cnn``), so that it is not tuned to one style. A
fixed 15 % of the emoji of each category are held out of both vendors, with all their
skin tones (:func:`split_by_emoji`): a held-out emoji is never seen, in either style; the
held-out accuracy is measured on them. One CPU thread and a fixed seed make the weights file
the same on every run; it ships inside the package and its sha256 is checked on every load.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gankit.data.emoji import split_by_emoji  # also imported from here by bench and tests
from gankit.errors import UserError
from gankit.evaluation.metrics.extractors import EXTRACTORS, WEIGHTS_DIR, Extractor
from gankit.evaluation.metrics.pinned import build_pinned, read_pinned, save_weights, sha256_file

EMOJI_CNN_WEIGHTS = WEIGHTS_DIR / "emoji_cnn.pt"
EMOJI_CNN_EPOCHS = 16
# sha256 of gankit/evaluation/metrics/weights/emoji_cnn.pt, made by
#   gankit extractor train --extractor emoji-cnn --root DATA_ROOT \
#       --out gankit/evaluation/metrics/weights/emoji_cnn.pt
EMOJI_CNN_SHA256 = "e5435924892ca824659ea068433d152c7e41a9944c4a513114206bab7df5149a"
EMOJI_SETS = ("emoji-google", "emoji-twitter")
SIDE = 64


class EmojiCNN(nn.Module):
    """Four 3x3 conv layers with BatchNorm (32, 64, 96 channels with stride 2, then 96)
    -> global average -> 128 features -> 9 categories.

    Input: float (N, 3, 64, 64) in [-1, 1]. About 170k parameters (~0.7 MB in float32).
    The features are the 128 outputs of the penultimate linear layer before its ReLU (as
    mnist-cnn's).
    """

    feature_dim = 128

    def __init__(self, num_classes: int = 9, channels: int = 3,
                 strides: tuple[int, int, int, int] = (2, 2, 2, 1)):
        super().__init__()
        layers: list[nn.Module] = []
        widths = ((channels, 32), (32, 64), (64, 96), (96, 96))
        for (width_in, width), stride in zip(widths, strides):
            layers += [nn.Conv2d(width_in, width, 3, stride, 1, bias=False),
                       nn.BatchNorm2d(width), nn.ReLU()]  # 32x32, 16x16, 8x8, 8x8 at 64 px
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(96, self.feature_dim))
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(self.feature_dim, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (N, 3, 64, 64) -> (features (N, 128) before the ReLU, logits (N, K))."""
        features = self.body(x)
        return features, self.head(self.dropout(F.relu(features)))


def emoji_input(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float (N, 3, 64, 64) in [-1, 1]; gray images are repeated in
    the three channels, other sizes resized (bilinear, antialiased)."""
    if images_u8.dtype != torch.uint8 or images_u8.dim() != 4:
        raise UserError(f"extractor input must be uint8 images (N, C, H, W), got "
                        f"{images_u8.dtype} {tuple(images_u8.shape)}")
    if images_u8.shape[1] not in (1, 3):
        raise UserError(f"emoji-cnn takes 1- or 3-channel images, got {images_u8.shape[1]} "
                        f"channels")
    x = images_u8.float() / 127.5 - 1
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-2:] != (SIDE, SIDE):
        x = F.interpolate(x, size=(SIDE, SIDE), mode="bilinear", antialias=True,
                          align_corners=False)
    return x


def emoji_training_data(root: str = "data", download: bool = True
                        ) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Both emoji sets, one after the other: images uint8 (2N, 3, 64, 64), categories
    (2N,), and each row's emoji (a skin-tone variant's is its emoji's; the same emoji in
    the two vendors' styles share a name)."""
    from gankit.data.emoji import emoji_groups, load_emoji

    images, labels, groups = [], [], []
    for name in EMOJI_SETS:
        data = load_emoji(name, root, download)
        names = emoji_groups(name, root, download)
        if len(names) != len(data.samples):
            raise UserError(f"the {name} cache holds {len(data.samples)} images but its "
                            f"emoji.json names {len(names)}; delete the cache and load it again")
        images.append(data.samples)
        labels.append(data.labels)
        groups += names
    if len({tuple(d.tolist()) for d in labels}) != 1:  # same rows, same categories
        raise UserError("the two emoji sets do not list the same emoji in the same order")
    return torch.cat(images), torch.cat(labels), groups


def _augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random left-right flips, shifts (±4 px), rotations (±8°) and scalings (±10 %) of
    (N, 3, 64, 64); the border pixels (white) fill what comes into view."""
    n = x.shape[0]
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(8)
    scale = 1 + (torch.rand(n, generator=generator) * 2 - 1) * 0.1
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * (4 / 32)  # 4 px in [-1, 1] units
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1),
                         torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="border")


@torch.no_grad()
def predict(net: EmojiCNN, images_u8: torch.Tensor) -> torch.Tensor:
    """Predicted categories (N,) of uint8 images (N, C, H, W)."""
    net.eval()
    return torch.cat([net(emoji_input(chunk))[1].argmax(1) for chunk in images_u8.split(500)])


def class_weights(labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy weights (K,) proportional to 1 / sqrt(class size), scaled so that the
    average weight per image is 1: small categories count more, without drowning the large
    (People & Body is 60 % of the emoji)."""
    counts = torch.bincount(labels).double().clamp(min=1)
    weights = counts.rsqrt()
    return (weights * len(labels) / (weights * counts).sum()).float()


def fit_classifier(net: nn.Module, train: tuple, test: tuple, *, epochs: int,
                   generator: torch.Generator, echo, prepare, predict_fn, batch: int = 64
                   ) -> float:
    """Adam 2e-3 with a cosine schedule, class-weighted cross-entropy (:func:`class_weights`)
    on ``train`` = (uint8 images (N, C, H, W), labels (N,)); returns the last epoch's
    accuracy on ``test`` (the same form). ``prepare(images_u8, generator)``: the network's
    augmented input; ``predict_fn(net, images_u8)``: predicted classes (N,). Shared by
    emoji-cnn and the folder classifier."""
    images, labels = train
    weights = class_weights(labels)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    accuracy = float("nan")
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(images), generator=generator)
        total = 0.0
        for start in range(0, len(order), batch):
            rows = order[start:start + batch]
            _, logits = net(prepare(images[rows], generator))
            loss = F.cross_entropy(logits, labels[rows], weight=weights)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(rows)
        sched.step()
        accuracy = float((predict_fn(net, test[0]) == test[1]).float().mean())
        echo(f"epoch {epoch + 1}/{epochs}: loss {total / len(order):.4f}, "
             f"held-out accuracy {accuracy:.4f}")
    return accuracy


def train_emoji_cnn(out: str | Path, *, root: str = "data", epochs: int = EMOJI_CNN_EPOCHS,
                    seed: int = 0, echo=print, download: bool = True,
                    data: tuple | None = None) -> dict:
    """Train :class:`EmojiCNN` on both emoji sets (``root`` as ``data.root``; ``data``:
    (images, labels, groups) instead, for tests) and save it to ``out``. Returns
    ``{"accuracy", "balanced_accuracy", "held_out", "trained_on", "sha256", "path"}``: the
    accuracy on the held-out emoji of both vendors, and its mean over the categories."""
    from gankit.training.checkpoint import writable_file
    from gankit.training.driver import fixed_threads  # the speed machinery owns the count

    out = writable_file(out)  # checked before training, not after
    images, labels, groups = data if data is not None else emoji_training_data(root, download)
    train_rows, test_rows = split_by_emoji(groups, labels, seed=seed)
    with fixed_threads(1):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        num_classes = int(labels.max()) + 1
        net = EmojiCNN(num_classes)
        test = (images[test_rows], labels[test_rows])
        accuracy = fit_classifier(net, (images[train_rows], labels[train_rows]), test,
                                  prepare=lambda x, g: _augment(emoji_input(x), g),
                                  predict_fn=predict, epochs=epochs, generator=generator,
                                  echo=echo)
        per_class = class_accuracies(net, *test, num_classes)
        save_weights(net, out, num_classes=num_classes, held_out=len(test_rows), seed=seed,
                     epochs=epochs, accuracy=accuracy, per_class_accuracy=per_class)
    echo("held-out accuracy per category: " + ", ".join(f"{a:.3f}" for a in per_class) +
         f" (mean {sum(per_class) / len(per_class):.4f})")
    return {"accuracy": accuracy, "balanced_accuracy": sum(per_class) / len(per_class),
            "held_out": len(test_rows), "trained_on": len(train_rows),
            "sha256": sha256_file(out), "path": str(out)}


def class_accuracies(net: EmojiCNN, images: torch.Tensor, labels: torch.Tensor,
                     num_classes: int) -> list[float]:
    """The accuracy on the images of each class (nan for a class without images)."""
    predicted = predict(net, images)
    return [float((predicted[labels == k] == k).float().mean()) if bool((labels == k).any())
            else float("nan") for k in range(num_classes)]


def load_emoji_cnn(path: str | Path | None = None, expected_sha256: str | None = None
                   ) -> tuple[EmojiCNN, str]:
    """The classifier and its sha256. With ``path=None`` the shipped weights, which must
    match :data:`EMOJI_CNN_SHA256`; a user's file is checked against ``expected_sha256``
    when given. A missing or mismatched file is a UserError."""
    if path is None:
        path, expected_sha256 = EMOJI_CNN_WEIGHTS, expected_sha256 or EMOJI_CNN_SHA256
    saved, digest = read_pinned(path, expected_sha256, "gankit extractor train --extractor "
                                f"emoji-cnn --root DATA_ROOT --out {path}")
    return build_pinned(EmojiCNN, saved, path), digest


def _make_emoji_cnn(weights: str | None = None, device: str = "cpu") -> Extractor:
    net, digest = load_emoji_cnn(weights)
    net.to(device)

    def fn(images_u8: torch.Tensor):
        features, logits = net(emoji_input(images_u8).to(device))
        return features, logits.softmax(1)

    # unscaled: real emoji's features have an RMS of about 1.1 (mnist-cnn's are divided by 8)
    return Extractor("emoji-cnn", digest, fn, features="fc (128, before ReLU)")


EXTRACTORS.add("emoji-cnn", _make_emoji_cnn, "gankit's own classifier of the emoji sets' 9 "
               "categories, trained on both vendors (128 features); shipped, sha256-pinned, "
               "offline; for emoji-google, emoji-twitter and sets prepared from them")
