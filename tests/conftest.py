"""Shared fixtures: small on-disk data sets in their real formats and one tiny trained run.

Everything runs on the CPU and takes seconds. The trained run is session-scoped and must
be treated as read-only; tests that damage a run copy it first (``copy_run``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import struct
import sys
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # for the subprocesses tests start
# The calibration (gankit.training.calibrate) times each eligible path on first use: up to
# ~3 s per new machine/network key, and a choice that depends on the machine's load. Tests
# that do not test it keep the fixed choice, so they stay fast and give the same numbers on
# every run; tests/speed/test_calibrate.py turns it on. Its cache goes to a folder of the
# test session (set below), never the user's ~/.cache; GANKIT_CALIBRATE=1 in the environment
# runs the whole suite calibrated.
os.environ.setdefault("GANKIT_CALIBRATE", "0")

import numpy as np
import pytest
import torch

# Test workloads are tiny and the machine's cores are shared: one thread is several times
# faster than two fighting for a busy core (torch's worker threads spin while they wait).
torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``slow`` run first (stable order otherwise): under pytest-xdist (`make
    test`) the long ones then overlap each other and the short ones fill the gaps, instead
    of one long test running alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session", autouse=True)
def calibration_cache(tmp_path_factory):
    """GANKIT_CACHE_DIR: a folder of this test session (subprocesses inherit it)."""
    before = os.environ.get("GANKIT_CACHE_DIR")
    os.environ["GANKIT_CACHE_DIR"] = str(tmp_path_factory.mktemp("gankit-cache"))
    yield Path(os.environ["GANKIT_CACHE_DIR"])
    if before is None:
        os.environ.pop("GANKIT_CACHE_DIR", None)
    else:
        os.environ["GANKIT_CACHE_DIR"] = before


# --- writers for the real on-disk formats ----------------------------------------------------

def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array in the IDX format MNIST uses (big-endian magic 0x00000800 + ndim)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">I", 0x00000800 | array.ndim)
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + array.tobytes())


def write_mnist_raw(root: Path, folder: str = "MNIST", n_train: int = 20, n_test: int = 10,
                    seed: int = 0) -> dict[str, np.ndarray]:
    """Write train/t10k IDX files under ``root/folder/raw``; return what was written."""
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    written = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx(raw / f"{split}-images-idx3-ubyte", images)
        write_idx(raw / f"{split}-labels-idx1-ubyte", labels)
        written[f"{split}_images"], written[f"{split}_labels"] = images, labels
    return written


def write_cifar_batches(root: Path, per_batch: int = 4, seed: int = 0, protocol: int = 2
                        ) -> dict[str, np.ndarray]:
    """Write CIFAR-10's python batches (pickled dicts, uint8 (n, 3072) + labels)."""
    import pickle

    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    train_parts, train_labels = [], []
    out = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=per_batch)]
        entry = {"batch_label": name, "data": data, "labels": labels,
                 "filenames": [f"img_{i}.png" for i in range(per_batch)]}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=protocol))
        if name == "test_batch":
            out["test_images"], out["test_labels"] = data, np.array(labels)
        else:
            train_parts.append(data)
            train_labels += labels
    out["train_images"] = np.concatenate(train_parts)
    out["train_labels"] = np.array(train_labels)
    return out


def write_png(path: Path, array: np.ndarray) -> None:
    """Save uint8 (H, W) gray or (H, W, 3) RGB as a PNG."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8)).save(path)


@pytest.fixture
def disk():
    """The writers above, for test modules (which should not import conftest)."""
    from types import SimpleNamespace

    return SimpleNamespace(write_idx=write_idx, write_mnist_raw=write_mnist_raw,
                           write_cifar_batches=write_cifar_batches, write_png=write_png)


@pytest.fixture
def png_folder(tmp_path):
    """Factory: ``png_folder(n, size=28, rgb=False, classes=None)`` writes PNGs, returns the folder.

    With ``classes=("a", "b")`` images go round-robin into those sub-folders.
    """
    counter = {"i": 0}

    def make(n: int = 8, size: int | tuple[int, int] = 28, rgb: bool = False,
             classes: tuple[str, ...] | None = None, name: str | None = None) -> Path:
        counter["i"] += 1
        folder = tmp_path / (name or f"images{counter['i']}")
        folder.mkdir(parents=True, exist_ok=True)
        h, w = (size, size) if isinstance(size, int) else size
        rng = np.random.default_rng(counter["i"])
        for i in range(n):
            shape = (h, w, 3) if rgb else (h, w)
            array = rng.integers(0, 256, size=shape, dtype=np.uint8)
            sub = folder / classes[i % len(classes)] if classes else folder
            write_png(sub / f"img_{i:03d}.png", array)
        return folder

    return make


@pytest.fixture
def cli(capsys):
    """Run ``gankit ARGS`` in-process: (exit code, stdout, stderr)."""
    from gankit.cli import main

    def run(*args):
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return run


# --- a tiny trained run, shared ----------------------------------------------------------------

@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """seed-tutorial (MLP, 28x28 gray) trained 5 steps; read-only for the tests."""
    import gankit

    out = tmp_path_factory.mktemp("runs") / "tutorial"
    torch.manual_seed(0)
    run_dir = gankit.train("seed-tutorial", out=out, steps=5)
    assert run_dir == out  # the API returns the run directory it wrote
    return run_dir


@pytest.fixture
def copy_run(trained_run, tmp_path):
    """A private copy of the shared trained run that a test may damage."""
    def make(name: str = "run_copy") -> Path:
        target = tmp_path / name
        shutil.copytree(trained_run, target)
        return target

    return make


def _load_script(folder: str, name: str):
    """Import ``folder/name.py`` of the repository (a script, not a package) as ``name``."""
    scripts = Path(__file__).resolve().parents[1] / folder
    if folder == "bench" and str(scripts) not in sys.path:
        sys.path.append(str(scripts))  # a bench imports ``common`` and its sibling benches
    spec = importlib.util.spec_from_file_location(name, scripts / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def load_bench():
    """``load_bench("name")`` imports ``bench/name.py``."""
    return lambda name: _load_script("bench", name)


@pytest.fixture(scope="session")
def load_tool():
    """``load_tool("name")`` imports ``tools/name.py``."""
    return lambda name: _load_script("tools", name)
