"""Runs the studio's tests serve: the default preset trained a few hundred steps at batch 32
(trained once per test session, also when pytest-xdist runs the tests in several workers),
and a CycleGAN run trained 3 steps for the translate panel."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch

STUDIO_STEPS = 200  # the default preset at batch 32: seconds on 2 cores, digits taking shape


def _train_once(tmp_path_factory, name: str, preset: str, **overrides) -> Path:
    """``gankit.train(preset, **overrides)`` into a folder shared by the session's workers:
    the first trains it under a file lock, the others wait and reuse it."""
    from filelock import FileLock

    import gankit

    import os

    shared = tmp_path_factory.getbasetemp()  # this session's; with xdist, a worker's:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the session's, the same for every worker
    out = shared / f"studio-{name}"
    with FileLock(str(shared / f"studio-{name}.lock")):
        if not (out / "checkpoints").is_dir():
            torch.manual_seed(0)
            gankit.train(preset, out=out, **overrides)
    return out


@pytest.fixture(scope="session")
def studio_run(tmp_path_factory) -> Path:
    """The default preset (class-conditional DCGAN, EMA) trained 200 steps at batch 32;
    read-only."""
    return _train_once(tmp_path_factory, "default", "default", steps=STUDIO_STEPS,
                       batch_size=32)


@pytest.fixture(scope="session")
def translation_run(tmp_path_factory) -> Path:
    """The cyclegan preset (unpaired: both directions) trained 3 steps; read-only."""
    return _train_once(tmp_path_factory, "cyclegan", "cyclegan", steps=3)


@pytest.fixture(scope="session")
def digits() -> torch.Tensor:
    """Real digits: uint8 (16, 1, 28, 28), the first 16 of the embedded mnist5k."""
    from gankit.data.embedded import load_mnist5k

    return load_mnist5k().samples[:16].clone()


def png(array) -> bytes:
    """PNG bytes of uint8 (H, W), (H, W, C) or a torch (C, H, W) tensor."""
    from PIL import Image

    if isinstance(array, torch.Tensor):
        array = array.permute(1, 2, 0).numpy()
        array = array[..., 0] if array.shape[-1] == 1 else array
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, "PNG")
    return buffer.getvalue()


def pixels(data_uri_or_bytes) -> np.ndarray:
    """uint8 pixels of a PNG (bytes or a data: URI), as Pillow reads them."""
    import base64

    from PIL import Image

    data = data_uri_or_bytes
    if isinstance(data, str):
        assert data.startswith("data:image/png;base64,"), data[:40]
        data = base64.b64decode(data.split(",", 1)[1])
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return np.asarray(image).copy()


@pytest.fixture
def images():
    """The helpers above: ``images.png(array)``, ``images.pixels(uri)``."""
    from types import SimpleNamespace

    return SimpleNamespace(png=png, pixels=pixels)
