"""Source-domain classifiers for the semantic consistency of translation (CyCADA): a frozen
classifier of the *source* domain that a translation must still be classified by as its
input was.

:func:`source_classifier` builds one from ``mnist-cnn`` or ``digits-cnn`` (gankit's shipped,
sha256-pinned weights) or from the file of a user's labelled folder written by ``gankit
extractor train --folder`` (:mod:`gankit.evaluation.metrics.folder_cnn`). Unlike an
:class:`~gankit.evaluation.metrics.extractors.Extractor`, which reads uint8 images without
gradients, it takes the generators' float output in [-1, 1] and is differentiable with
respect to it: the range, the channels and the size are converted with torch operations.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import UserError

SHIPPED = ("mnist-cnn", "digits-cnn")
# ITU-R 601 luminance, as the extractors' and PIL's RGB -> L conversion
LUMINANCE = (0.299, 0.587, 0.114)


def fit_input(x: torch.Tensor, channels: int, side: int) -> torch.Tensor:
    """float (N, 1|3, H, W) -> float (N, channels, side, side), differentiably: RGB becomes
    luminance (or gray is repeated in three channels), the middle square of a non-square
    image is cut out (as the folder reader crops) and resized, bilinear with antialiasing
    (as the extractors resize). The value range is kept (the luminance weights sum to 1)."""
    if not torch.is_floating_point(x) or x.dim() != 4 or x.shape[1] not in (1, 3):
        raise UserError(f"a source classifier takes float images (N, 1 or 3, H, W), got "
                        f"{x.dtype} {tuple(x.shape)}")
    if x.shape[1] == 3 and channels == 1:
        weights = torch.tensor(LUMINANCE, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        x = (x * weights).sum(1, keepdim=True)
    elif x.shape[1] == 1 and channels == 3:
        x = x.expand(-1, 3, -1, -1)
    height, width = x.shape[-2:]
    if height != width:
        short = min(height, width)
        top, left = (height - short) // 2, (width - short) // 2
        x = x[..., top:top + short, left:left + short]
    if x.shape[-1] != side:
        x = F.interpolate(x, size=(side, side), mode="bilinear", antialias=True,
                          align_corners=False)
    return x


class SourceClassifier(nn.Module):
    """A frozen classifier: ``forward(x)`` with x float (N, C, H, W) in [-1, 1] (C 1 or 3,
    any H, W) returns logits (N, K), differentiable with respect to x.

    Attributes: ``name`` (the spec), ``sha256`` (of the weights file), ``classes`` (K names),
    ``num_classes`` (K), ``channels`` and ``side`` (what the network reads). Its parameters
    never take gradients and it stays in eval mode even inside a module put in training
    mode (BatchNorm's statistics and dropout must not change with the translator's).
    """

    def __init__(self, net: nn.Module, *, name: str, sha256: str, classes: list[str],
                 channels: int, side: int, unit_range: bool):
        super().__init__()
        self.net = net
        self.name, self.sha256 = name, sha256
        self.classes, self.num_classes = list(classes), len(classes)
        self.channels, self.side = channels, side
        self.unit_range = unit_range  # the network reads [0, 1] (mnist-cnn), not [-1, 1]
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> "SourceClassifier":
        """Always eval mode: a frozen judge (``mode`` is ignored)."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x float (N, 1|3, H, W) in [-1, 1] -> logits (N, K)."""
        x = fit_input(x, self.channels, self.side)
        if self.unit_range:
            x = (x + 1) / 2
        return self.net(x)[1]


def source_classifier(spec: str, device: str = "cpu") -> SourceClassifier:
    """The frozen classifier named by ``spec``: ``mnist-cnn``, ``digits-cnn`` or the path of
    a file written by ``gankit extractor train --folder``, on ``device``. Anything else, or a
    file that cannot be read as one, is a UserError of one line."""
    from gankit.evaluation.metrics.extractors import load_mnist_cnn

    if spec in SHIPPED:
        net, digest = load_mnist_cnn(which=spec)
        classifier = SourceClassifier(net, name=spec, sha256=digest,
                                      classes=[str(d) for d in range(10)], channels=1,
                                      side=28, unit_range=True)
    elif Path(spec).is_file():
        from gankit.evaluation.metrics.folder_cnn import load_folder_cnn

        net, fields, digest = load_folder_cnn(spec)
        classifier = SourceClassifier(net, name=spec, sha256=digest,
                                      classes=[str(c) for c in fields["classes"]],
                                      channels=int(fields["channels"]),
                                      side=int(fields["side"]), unit_range=False)
    else:
        raise UserError(f"unknown source classifier {spec!r}: give mnist-cnn, digits-cnn or "
                        f"the file of `gankit extractor train --folder DIR --out FILE`")
    return classifier.to(device)
