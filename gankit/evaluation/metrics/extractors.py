"""Feature extractors, pinned and offline, registered by name.

An extractor turns uint8 images (N, C, H, W) into

* ``features``: float64 (N, D), for FID, KID, precision/recall and density/coverage;
* ``probs``: float64 (N, K) class probabilities, for IS and mode counts (``None`` when the
  extractor has no classifier head).

``mnist-cnn`` is a small classifier gankit trains itself on the embedded ``mnist5k`` digits
(:func:`train_mnist_cnn`, ``gankit extractor train``); its weights ship inside the package
and their sha256 is checked whenever they are loaded. ``digits-cnn`` is the same network
trained on the translation set digits2mnist's training digits (:func:`train_digits_cnn`), for
the class labels of images translated into that domain. ``emoji-cnn``
(:mod:`gankit.evaluation.metrics.emoji_cnn`) does the same for the 64 px colour emoji sets.
``inception`` is the standard FID Inception-v3 through torch-fidelity (never re-implemented
here); offline, its weights file must be given with ``--extractor-weights PATH``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gankit.data.embedded import split_mnist5k
from gankit.evaluation.metrics.pinned import (build_pinned, read_pinned, save_weights,
                                              sha256_file)
from gankit.training.checkpoint import writable_file
from gankit.errors import UserError
from gankit.registry import Registry

WEIGHTS_DIR = Path(__file__).parent / "weights"
MNIST_CNN_WEIGHTS = WEIGHTS_DIR / "mnist_cnn.pt"
# sha256 of gankit/evaluation/metrics/weights/mnist_cnn.pt, made by
#   gankit extractor train --data mnist5k --out gankit/evaluation/metrics/weights/mnist_cnn.pt
MNIST_CNN_SHA256 = "59b9f891ef53cea481ec2de0e6d0af3e5c45d73c9672d920a17b4fa1c5e28ec8"
DIGITS_CNN_WEIGHTS = WEIGHTS_DIR / "digits_cnn.pt"
DIGITS_CNN_EPOCHS = 20
# sha256 of gankit/evaluation/metrics/weights/digits_cnn.pt, made by
#   gankit extractor train --extractor digits-cnn --out gankit/evaluation/metrics/weights/digits_cnn.pt
DIGITS_CNN_SHA256 = "2ba61f8381b805339f38c919020706cc2a9fc4d412a25db1d3a6997caa556f8e"
# The standard FID Inception weights torch-fidelity downloads (pt_inception-2015-12-05).
INCEPTION_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
                 "weights-inception-2015-12-05-6726825d.pth")
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
# mnist-cnn features are divided by this fixed constant so that real digits' features have
# an RMS near 1 (8.4 raw): FID and KID then land in familiar ranges, and KID's cubic kernel
# (x·y/D + 1)³ is not dominated by a few large features. digits-cnn uses it too (7.2 raw on
# its upscaled digits).
MNIST_FEATURE_SCALE = 8.0


# --- the MNIST-family classifier ---------------------------------------------------------

class MnistCNN(nn.Module):
    """Three 3x3 conv blocks (32, 64, 64 channels, max-pool each) -> 128 features -> 10 classes.

    Input: float (N, 1, 28, 28) in [0, 1]. About 130k parameters (~0.5 MB in float32).
    The features are the 128 outputs of the penultimate linear layer before its ReLU: after
    the ReLU, uniform noise lands in a tight cluster inside the digits' k-NN balls
    (precision 0.997 for noise), before it it does not (0.06).
    """

    feature_dim = 128

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 14x14
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 7x7
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 3x3
            nn.Flatten(), nn.Linear(64 * 3 * 3, self.feature_dim))
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(self.feature_dim, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (N, 1, 28, 28) -> (features (N, 128) before the ReLU, logits (N, 10))."""
        features = self.body(x)
        return features, self.head(self.dropout(F.relu(features)))


def _mnist_input(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float (N, 1, 28, 28) in [0, 1]; RGB becomes luminance."""
    if images_u8.dtype != torch.uint8 or images_u8.dim() != 4:
        raise UserError(f"extractor input must be uint8 images (N, C, H, W), got "
                        f"{images_u8.dtype} {tuple(images_u8.shape)}")
    x = images_u8.float() / 255.0
    if x.shape[1] == 3:
        x = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    elif x.shape[1] != 1:
        raise UserError(f"mnist-cnn takes 1- or 3-channel images, got {x.shape[1]} channels")
    if x.shape[-2:] != (28, 28):
        x = F.interpolate(x, size=(28, 28), mode="bilinear", antialias=True, align_corners=False)
    return x


def _augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Small random shifts (±2 px), rotations (±10°) and scalings (±10%) of (N, 1, 28, 28)."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(10)
    scale = 1 + (torch.rand(n, generator=generator) * 2 - 1) * 0.1
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * (2 / 14)  # 2 px in [-1, 1] units
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def train_mnist_cnn(images_u8: torch.Tensor, labels: torch.Tensor, out: str | Path, *,
                    epochs: int = 30, held_out: int = 500, seed: int = 0, echo=print,
                    test: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict:
    """Train :class:`MnistCNN` deterministically and save it to ``out``.

    images_u8: uint8 (N, 1, 28, 28); labels: int64 (N,). The first ``held_out`` rows of a
    seeded permutation are never trained on; their accuracy is reported. With ``test=(images,
    labels)`` every row is trained on and the accuracy is ``test``'s (``held_out`` is then
    its size). One CPU thread and a fixed seed make the saved file the same on every run.
    Returns ``{"accuracy", "sha256", "path"}``.
    """
    if labels is None:
        raise UserError("the extractor is a classifier: its data set must have labels")
    from gankit.training.driver import fixed_threads  # the speed machinery owns the count

    out = writable_file(out)  # checked before training, not after
    with fixed_threads(1):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        x_all = _mnist_input(images_u8)
        if test is None:
            train_rows, test_rows = split_mnist5k(len(images_u8), held_out, seed)
            x_train, y_train = x_all[train_rows], labels[train_rows]
            x_test, y_test = x_all[test_rows], labels[test_rows]
        else:
            x_train, y_train = x_all, labels
            x_test, y_test = _mnist_input(test[0]), test[1]
            held_out = len(y_test)
        num_classes = int(labels.max()) + 1
        net = MnistCNN(num_classes)
        opt = torch.optim.Adam(net.parameters(), lr=2e-3)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
        batch = 128
        for epoch in range(epochs):
            net.train()
            order = torch.randperm(len(x_train), generator=generator)
            total = 0.0
            for start in range(0, len(order), batch):
                rows = order[start:start + batch]
                _, logits = net(_augment(x_train[rows], generator))
                loss = F.cross_entropy(logits, y_train[rows])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(rows)
            sched.step()
            accuracy = _accuracy(net, x_test, y_test) if len(x_test) else float("nan")
            echo(f"epoch {epoch + 1}/{epochs}: loss {total / len(order):.4f}, "
                 f"held-out accuracy {accuracy:.4f}")
        save_weights(net, out, num_classes=num_classes, held_out=held_out, seed=seed,
                     epochs=epochs, accuracy=accuracy)
    return {"accuracy": accuracy, "sha256": sha256_file(out), "path": str(out)}


@torch.no_grad()
def _accuracy(net: MnistCNN, x: torch.Tensor, y: torch.Tensor) -> float:
    net.eval()
    predictions = torch.cat([net(chunk)[1].argmax(1) for chunk in x.split(1000)])
    return float((predictions == y).float().mean())


def train_digits_cnn(out: str | Path, epochs: int = DIGITS_CNN_EPOCHS, seed: int = 0,
                     echo=print) -> dict:
    """Train digits-cnn: :func:`train_mnist_cnn` on digits2mnist's 1,497 training digits (A),
    its accuracy measured on the 300 held-out ones."""
    from gankit.data.translation import digits_training_set

    train, held_out = digits_training_set()
    return train_mnist_cnn(train.samples, train.labels, out, epochs=epochs, seed=seed,
                           echo=echo, test=(held_out.samples, held_out.labels))


def _shipped(which: str) -> tuple[Path, str, str]:
    """(weights file, sha256, flags of ``gankit extractor train``) of a shipped classifier."""
    if which == "digits-cnn":
        return DIGITS_CNN_WEIGHTS, DIGITS_CNN_SHA256, "--extractor digits-cnn"
    return MNIST_CNN_WEIGHTS, MNIST_CNN_SHA256, "--data mnist5k"


def load_mnist_cnn(path: str | Path | None = None, expected_sha256: str | None = None,
                   which: str = "mnist-cnn") -> tuple[MnistCNN, str]:
    """Load the classifier; a file whose sha256 is not the expected one is a UserError.

    With ``path=None`` the shipped weights of ``which`` (mnist-cnn or digits-cnn) are loaded
    and must match their pinned sha256 (:data:`MNIST_CNN_SHA256`, :data:`DIGITS_CNN_SHA256`).
    A user-given path is checked against ``expected_sha256`` when given. Returns (net, sha256).
    """
    shipped, pinned, flags = _shipped(which)
    if path is None:
        path, expected_sha256 = shipped, expected_sha256 or pinned
    saved, digest = read_pinned(path, expected_sha256,
                                f"gankit extractor train {flags} --out {path}")
    return build_pinned(MnistCNN, saved, path), digest


# --- the registry -------------------------------------------------------------------------

@dataclass
class Extractor:
    """A loaded feature extractor: ``__call__(uint8 images) -> (features, probs | None)``."""

    name: str
    sha256: str
    fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]
    batch_size: int = 500
    features: str = ""  # which layer the features come from (part of the provenance)

    @torch.no_grad()
    def __call__(self, images_u8: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        """uint8 (N, C, H, W) -> (features float64 (N, D), probs float64 (N, K) or None)."""
        feats, probs = [], []
        for chunk in images_u8.split(self.batch_size):
            f, p = self.fn(chunk)
            feats.append(f.double().cpu())
            if p is not None:
                probs.append(p.double().cpu())
        features = torch.cat(feats).numpy()
        return features, (torch.cat(probs).numpy() if probs else None)


def _classifier(name: str, weights: str | None, device: str) -> Extractor:
    """A shipped :class:`MnistCNN` (``name``: mnist-cnn or digits-cnn) as an extractor."""
    net, digest = load_mnist_cnn(weights, which=name)
    net.to(device)

    def fn(images_u8: torch.Tensor):
        features, logits = net(_mnist_input(images_u8).to(device))
        return features / MNIST_FEATURE_SCALE, logits.softmax(1)

    return Extractor(name, digest, fn, features="fc1 (128, before ReLU) / 8")


def _make_mnist_cnn(weights: str | None = None, device: str = "cpu") -> Extractor:
    return _classifier("mnist-cnn", weights, device)


def _make_digits_cnn(weights: str | None = None, device: str = "cpu") -> Extractor:
    return _classifier("digits-cnn", weights, device)


def _make_mnist_cnn_stacked(weights: str | None = None, device: str = "cpu") -> Extractor:
    """mnist-cnn on each channel of Stacked MNIST (3 digits in R, G, B).

    Features: the three channels' 128 features side by side (N, 384). Probabilities: the
    joint class 100*d1 + 10*d2 + d3 over 1,000 modes, the product of the channels' softmaxes
    (as the Stacked MNIST benchmark counts modes with a per-channel classifier).
    """
    net, digest = load_mnist_cnn(weights)
    net.to(device)

    def fn(images_u8: torch.Tensor):
        if images_u8.shape[1] != 3:
            raise UserError(f"mnist-cnn-stacked takes 3-channel Stacked MNIST images, got "
                            f"{images_u8.shape[1]} channels")
        features, probs = [], []
        for channel in range(3):
            f, logits = net(_mnist_input(images_u8[:, channel:channel + 1]).to(device))
            features.append(f / MNIST_FEATURE_SCALE)
            probs.append(logits.softmax(1))
        p1, p2, p3 = probs
        joint = (p1[:, :, None, None] * p2[:, None, :, None] * p3[:, None, None, :])
        return torch.cat(features, dim=1), joint.flatten(1)

    return Extractor("mnist-cnn-stacked", digest, fn,
                     features="fc1 (128, before ReLU) / 8, per channel (384)")


def _make_inception(weights: str | None = None, device: str = "cpu") -> Extractor:
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except ImportError:
        raise UserError("the inception extractor needs torch-fidelity: "
                        "pip install 'gankit[inception]'") from None
    if weights is not None and not Path(weights).is_file():
        raise UserError(f"--extractor-weights {weights}: no such file")
    if weights is not None:
        try:  # torch-fidelity unpickles the file in full; make sure it is plain tensors first
            torch.load(weights, map_location="cpu", weights_only=True)
        except Exception:
            raise UserError(f"--extractor-weights {weights} is not a plain PyTorch state dict "
                            f"(the FID Inception file {INCEPTION_FILE} is one)") from None
    if weights is None:
        cache = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
        if cache.is_file():
            weights = str(cache)
    try:
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                torch.random.fork_rng(devices=[]):
            net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                              feature_extractor_weights_path=weights)
    except Exception:
        raise UserError(f"Inception-v3 weights are not available offline: download "
                        f"{INCEPTION_URL} and pass --extractor-weights PATH, or put the file in "
                        f"{Path(torch.hub.get_dir()) / 'checkpoints'}") from None
    net.eval().to(device)
    digest = sha256_file(weights) if weights else "torch-hub-download"

    def fn(images_u8: torch.Tensor):
        x = images_u8
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        features, logits = net(x.to(device))
        return features, logits.softmax(1)

    return Extractor("inception", digest, fn, batch_size=64, features="pool3 (2048)")


# name -> factory(weights=None, device="cpu") -> Extractor
EXTRACTORS: Registry[Callable[..., Extractor]] = Registry("extractor")
EXTRACTORS.add("mnist-cnn", _make_mnist_cnn, "gankit's own MNIST classifier (128 features, "
               "10 classes); shipped, sha256-pinned, offline; for 28x28 gray data")
EXTRACTORS.add("mnist-cnn-stacked", _make_mnist_cnn_stacked, "mnist-cnn per channel of "
               "Stacked MNIST (384 features, 1,000 joint classes)")
EXTRACTORS.add("digits-cnn", _make_digits_cnn, "mnist-cnn's network trained on "
               "digits2mnist's upscaled 8x8 digits (128 features, 10 classes); shipped, "
               "sha256-pinned; for label preservation of translations into the digits domain")
EXTRACTORS.add("inception", _make_inception, "Inception-v3 FID weights via torch-fidelity "
               "(2048 features, 1008 classes); for RGB data; offline: --extractor-weights PATH")


def get_extractor(name: str, weights: str | None = None, device: str = "cpu") -> Extractor:
    """Build the registered extractor ``name``; unknown names raise UserError (the name
    comes from the user's --extractor)."""
    try:
        factory = EXTRACTORS[name]
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return factory(weights=weights, device=device)


def default_extractor(image_shape: tuple[int, ...], data_name: str | None = None) -> str:
    """mnist-cnn for gray images up to 32 px, mnist-cnn-stacked for Stacked MNIST, emoji-cnn
    for the emoji sets and sets prepared from them, inception for anything else."""
    from gankit.data.emoji import emoji_set_of

    if data_name == "stacked-mnist":
        return "mnist-cnn-stacked"
    if data_name is not None and emoji_set_of(data_name):
        return "emoji-cnn"
    channels, height = image_shape[0], image_shape[1]
    return "mnist-cnn" if channels == 1 and height <= 32 else "inception"


# gankit's emoji classifier registers itself (it builds on the classes above).
from gankit.evaluation.metrics import emoji_cnn  # noqa: E402,F401
