"""``bench/step_floor.py``: it records exactly the hand-written step's large products, and
recording them leaves the step's results unchanged."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("step_floor", ROOT / "bench" / "step_floor.py")
step_floor = importlib.util.module_from_spec(spec)
spec.loader.exec_module(step_floor)

B = step_floor.BATCH
G_LAYERS = [(100, 256), (256, 512), (512, 1024), (1024, 784)]  # (in, out) of seed-mlp's G
D_LAYERS = [(784, 512), (512, 256)]  # D's layers above its 1-wide logit (computed apart)


def macs(layers, batch, skip_first=False):
    """Multiply-adds of one pass of ``batch`` rows through ``layers``."""
    return batch * sum(k * n for k, n in layers[1 if skip_first else 0:])


def test_the_recorded_products_are_the_steps_twenty_large_products():
    products = step_floor.Gankit().record_products()
    assert len(products) == 20
    expected = (
        macs(G_LAYERS, B)  # G forward
        + macs(D_LAYERS, 2 * B)  # D forward on real + fake
        + macs(D_LAYERS, 2 * B) + macs(D_LAYERS, 2 * B, skip_first=True)  # D's weights, inputs
        + macs(D_LAYERS, B) * 2  # G's step: D forward on fake, gradient back to the images
        + macs(G_LAYERS, B) + macs(G_LAYERS, B, skip_first=True))  # G's weights, inputs
    assert step_floor.flops(products) == 2 * expected


def test_recording_leaves_the_step_unchanged_and_batches_advance():
    plain, recorded = step_floor.Gankit(), step_floor.Gankit()
    plain.run()
    recorded.record_products()
    for a, b in zip(list(plain.G.parameters()) + list(plain.D.parameters()),
                    list(recorded.G.parameters()) + list(recorded.D.parameters())):
        assert torch.equal(a, b)
    first = plain.index
    plain.run()
    assert plain.index == (first + 1) % len(plain.batches)
    assert len(plain.batches) == 5000 // B and plain.batches[0].shape == (B, 1, 28, 28)
