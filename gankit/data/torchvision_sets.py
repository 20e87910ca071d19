"""MNIST, Fashion-MNIST, KMNIST and CIFAR-10 in their standard on-disk formats.

Online, missing files are downloaded by torchvision. Offline, a missing set is one clear
line that says which folder to put which files in.
"""

from __future__ import annotations

import contextlib
import io
import pickle
from pathlib import Path

import numpy as np
import torch

from gankit.errors import UserError
from gankit.data.registry import ImageData, register

_MNIST_FILES = ("train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
                "t10k-labels-idx1-ubyte (or their .gz)")


def _quiet_download(make, what: str, folder: Path, files: str) -> None:
    """Run torchvision's download; on failure raise one line naming the folder and files."""
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            make()
    except Exception as exc:  # urllib, socket, checksum errors: all mean "not available"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"{what} is not under {folder} and could not be downloaded "
                        f"({reason[:120]}); put {files} in {folder}") from None


def _mnist_family(cls_name: str, label: str):
    def load(root: str = "data", train: bool = True, download: bool = True) -> ImageData:
        from torchvision import datasets

        cls = getattr(datasets, cls_name)
        folder = Path(root) / cls_name / "raw"
        try:
            data = cls(root, train=train, download=False)
        except RuntimeError:
            if not download:
                raise UserError(f"{label} not found: put {_MNIST_FILES} in {folder}") from None
            _quiet_download(lambda: cls(root, train=train, download=True), label, folder,
                            _MNIST_FILES)
            data = cls(root, train=train, download=False)
        except Exception as exc:  # corrupt IDX files fail inside torchvision's reader
            raise UserError(f"cannot read {label} files in {folder}: {exc}") from None
        images = data.data.to(torch.uint8).unsqueeze(1).contiguous()
        labels = torch.as_tensor(data.targets, dtype=torch.int64)
        return ImageData(name=label.lower(), samples=images, labels=labels, num_classes=10)
    return load


register("mnist", "MNIST, 60,000 train / 10,000 test, 28x28 gray (torchvision files)")(
    _mnist_family("MNIST", "MNIST"))
register("fashion-mnist", "Fashion-MNIST, 60,000 / 10,000, 28x28 gray (torchvision files)")(
    _mnist_family("FashionMNIST", "Fashion-MNIST"))
register("kmnist", "Kuzushiji-MNIST, 60,000 / 10,000, 28x28 gray (torchvision files)")(
    _mnist_family("KMNIST", "KMNIST"))


class _ArraysOnly(pickle.Unpickler):
    """Unpickles CIFAR's python batches (dicts of numpy arrays and lists) and nothing else.

    A pickle that names any other callable is refused, so a crafted file cannot run code.
    """

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"),
                # Python 3 pickles of arrays: protocol 2 wraps bytes in _codecs.encode,
                # protocol 5 rebuilds arrays with _frombuffer. Both only make arrays.
                ("_codecs", "encode"), ("numpy.core.numeric", "_frombuffer"),
                ("numpy._core.numeric", "_frombuffer")}

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_cifar_batch(path: Path) -> tuple[np.ndarray, list[int]]:
    """One ``data_batch_*`` file: images (n, 3, 32, 32) uint8 and their labels."""
    try:
        with open(path, "rb") as handle:
            entry = _ArraysOnly(handle, encoding="latin1").load()
        data = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = list(entry.get("labels", entry.get("fine_labels", [])))
    except Exception as exc:
        raise UserError(f"cannot read CIFAR-10 batch {path}: {exc}") from None
    if len(labels) != data.shape[0]:
        raise UserError(f"CIFAR-10 batch {path} has {data.shape[0]} images but "
                        f"{len(labels)} labels")
    return data, labels


@register("cifar10", "CIFAR-10, 50,000 train / 10,000 test, 32x32 RGB (python batches)")
def load_cifar10(root: str = "data", train: bool = True, download: bool = True) -> ImageData:
    folder = Path(root) / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    files = "the python version's data_batch_1..5 and test_batch"
    if not all((folder / n).is_file() for n in names):
        if not download:
            raise UserError(f"CIFAR-10 not found: put {files} in {folder}")
        from torchvision import datasets

        _quiet_download(lambda: datasets.CIFAR10(root, train=train, download=True),
                        "CIFAR-10", folder, files)
    parts = [read_cifar_batch(folder / n) for n in names]
    images = torch.from_numpy(np.concatenate([p[0] for p in parts]))
    labels = torch.tensor([label for p in parts for label in p[1]], dtype=torch.int64)
    return ImageData(name="cifar10", samples=images, labels=labels, num_classes=10)
