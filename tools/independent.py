"""An independent judge of generated digits: a classifier gankit never uses anywhere else.

gankit's own metrics live in the space of ``mnist-cnn`` (a small CNN trained on mnist5k).
A generator can be tuned, knowingly or not, towards what that one network rewards, so the
benchmarks that compare recipes also score them with this second classifier, built from a
fixed seed by this committed script (rebuilt in about half a minute on 2 CPU cores):

  python tools/independent.py              # build it (if missing) and score real digits
  python tools/independent.py --npz s.npz  # score samples (``gankit sample --format npz``)

It differs from mnist-cnn in architecture and training recipe: an MLP 784 → 512 → 256 → 10
(no convolutions; dropout 0.3), SGD with Nesterov momentum and label smoothing, random
whole-pixel shifts of up to 2 px as its only augmentation. An MLP on raw pixels is also
sensitive to what convolutions with pooling forgive (isolated speckles, broken strokes).

Protocol (all on the embedded mnist5k digits; nothing is tuned on the scored data):
* the classifier trains on mnist5k's 4,500 training digits (``split_mnist5k``, seed 0) and
  reports its accuracy on the 500 held-out ones;
* mnist5k is cut into two seeded halves of 2,500 digits: the *reference* R and the *real
  check* H. A set of images is scored against R with 2,500 of its images: Fréchet distance
  of the 256 penultimate features (before the ReLU) and recall (k-NN, k = 5, Kynkäänniemi
  et al. 2019); and by the share of each predicted class among all its images. H scored the same way is the floor a
  perfect generator would reach (its FID is not 0: 2,500 against 2,500 digits).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gankit.data.embedded import load_mnist5k, split_mnist5k
from gankit.evaluation.metrics.scores import fid, precision_recall

ROOT = Path(__file__).resolve().parents[1]

WEIGHTS = ROOT / "runs" / "independent" / "mnist_mlp.pt"
SCORED = 2500  # images per scored set, and the size of the reference half
RECALL_K = 5
EPOCHS = 40
SEED = 0
# Features are divided by this fixed constant so that real digits' features have an RMS
# near 1 (0.30 raw), as mnist-cnn's are: Fréchet distances then land in a familiar range.
FEATURE_SCALE = 0.3


class MnistMLP(nn.Module):
    """MLP 784 → 512 → 256 → 10. Input float (N, 1, 28, 28) in [0, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(),
                                  nn.Dropout(0.3), nn.Linear(512, 256))
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(0.3), nn.Linear(256, 10))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (N, 1, 28, 28) -> (features (N, 256) before the ReLU, logits (N, 10))."""
        features = self.body(x)
        return features, self.head(features)


def _as_input(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 1, 28, 28) -> float in [0, 1]; anything else is refused."""
    if images_u8.dtype != torch.uint8 or tuple(images_u8.shape[1:]) != (1, 28, 28):
        raise SystemExit(f"the independent classifier takes uint8 (N, 1, 28, 28) digits, got "
                         f"{images_u8.dtype} {tuple(images_u8.shape)}")
    return images_u8.float() / 255.0


def _shifted(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image of (N, 1, 28, 28) moved by a random whole-pixel shift in [-2, 2]²."""
    padded = F.pad(x, (2, 2, 2, 2))
    dx, dy = torch.randint(0, 5, (2, len(x)), generator=generator)
    return torch.stack([padded[i, :, dy[i]:dy[i] + 28, dx[i]:dx[i] + 28]
                        for i in range(len(x))])


def mnist5k() -> tuple[torch.Tensor, torch.Tensor]:
    """The embedded digits: uint8 (5000, 1, 28, 28) and int64 labels (5000,)."""
    data = load_mnist5k()
    return data.samples, data.labels


def build(out: Path = WEIGHTS, epochs: int = EPOCHS, seed: int = SEED) -> float:
    """Train the classifier on one thread from ``seed`` and save it; returns held-out accuracy."""
    images, labels = mnist5k()
    train_rows, test_rows = split_mnist5k(len(images), 500, 0)
    x, y = _as_input(images[train_rows]), labels[train_rows]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        net = MnistMLP()
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                              weight_decay=5e-4)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
        for _ in range(epochs):
            net.train()
            order = torch.randperm(len(x), generator=generator)
            for rows in order.split(64):
                _, logits = net(_shifted(x[rows], generator))
                loss = F.cross_entropy(logits, y[rows], label_smoothing=0.1)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            sched.step()
        accuracy = float((predict(net, images[test_rows]) == labels[test_rows]).float().mean())
    finally:
        torch.set_num_threads(threads)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": net.state_dict(), "accuracy": accuracy, "seed": seed,
                "epochs": epochs}, out)
    return accuracy


def load(path: Path = WEIGHTS) -> tuple[MnistMLP, float]:
    """The saved classifier (built first if missing) in eval mode, and its held-out accuracy."""
    if not path.is_file():
        print(f"building the independent classifier -> {path}", flush=True)
        build(path)
    saved = torch.load(path, map_location="cpu", weights_only=True)
    net = MnistMLP()
    net.load_state_dict(saved["state_dict"])
    return net.eval(), float(saved["accuracy"])


@torch.no_grad()
def features_and_classes(net: MnistMLP, images_u8: torch.Tensor
                         ) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, 1, 28, 28) -> (features float64 (N, 256), predicted classes int (N,))."""
    net.eval()
    outputs = [net(_as_input(chunk)) for chunk in images_u8.split(1000)]
    features = (torch.cat([f for f, _ in outputs]) / FEATURE_SCALE).double().numpy()
    classes = torch.cat([logits.argmax(1) for _, logits in outputs]).numpy()
    return features, classes


def predict(net: MnistMLP, images_u8: torch.Tensor) -> torch.Tensor:
    """Predicted classes (N,) of uint8 digits (N, 1, 28, 28)."""
    return torch.from_numpy(features_and_classes(net, images_u8)[1])


def halves() -> tuple[torch.Tensor, torch.Tensor]:
    """mnist5k's reference half R and real-check half H: uint8 (2500, 1, 28, 28) each."""
    images, _ = mnist5k()
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(1234))
    return images[order[:SCORED]], images[order[SCORED:2 * SCORED]]


class Judge:
    """Scores sets of digits against the reference half R in the classifier's space."""

    def __init__(self, path: Path = WEIGHTS) -> None:
        self.net, self.accuracy = load(path)
        reference, self.real_check = halves()
        self.reference, _ = features_and_classes(self.net, reference)

    def score(self, images_u8: torch.Tensor) -> dict:
        """uint8 (N >= 2500, 1, 28, 28) -> {fid, recall, class_shares (10,)}: FID and recall of
        the first 2,500 images (the reference half's size), class shares of all N."""
        if len(images_u8) < SCORED:
            raise SystemExit(f"the independent judge scores {SCORED} images, got "
                             f"{len(images_u8)}")
        features, classes = features_and_classes(self.net, images_u8)
        _, recall = precision_recall(self.reference, features[:SCORED], k=RECALL_K)
        shares = np.bincount(classes, minlength=10) / len(classes)
        return {"fid": fid(self.reference, features[:SCORED]), "recall": recall,
                "class_shares": shares}

    def real(self) -> dict:
        """The real-check half H's scores: what a perfect generator would get."""
        return self.score(self.real_check)


def load_npz(path: Path) -> torch.Tensor:
    """Images from ``gankit sample --format npz``: uint8 (N, 1, 28, 28)."""
    with np.load(path) as saved:
        images = torch.from_numpy(saved["images"])
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if images.shape[-1] == 1:  # (N, H, W, 1) channels-last
        images = images.permute(0, 3, 1, 2)
    return images.contiguous()


def describe(name: str, scores: dict) -> str:
    shares = scores["class_shares"]
    return (f"{name}: FID {scores['fid']:.2f}, recall {scores['recall']:.3f}, class shares "
            f"{100 * shares.min():.1f}-{100 * shares.max():.1f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--npz", type=Path, nargs="*", default=[],
                        help="sample files from `gankit sample --format npz` to score")
    parser.add_argument("--rebuild", action="store_true", help="train the classifier again")
    args = parser.parse_args()
    if args.rebuild:
        print(f"held-out accuracy {build():.4f}")
    judge = Judge()
    print(f"independent classifier {WEIGHTS.relative_to(ROOT)}: held-out accuracy "
          f"{judge.accuracy:.4f}")
    print(describe("real digits (half H)", judge.real()))
    for path in args.npz:
        print(describe(str(path), judge.score(load_npz(path))))


if __name__ == "__main__":
    main()
