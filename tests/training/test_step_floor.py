"""``bench/step_floor.py``: it records exactly the hand-written step's large products, and
recording them leaves the step's results unchanged."""

from __future__ import annotations

import pytest
import torch

B = 64  # bench/step_floor.py's BATCH (checked below)


@pytest.fixture(scope="module")
def step_floor(load_bench):
    return load_bench("step_floor")
G_LAYERS = [(100, 256), (256, 512), (512, 1024), (1024, 784)]  # (in, out) of seed-mlp's G
D_LAYERS = [(784, 512), (512, 256)]  # D's layers above its 1-wide logit (computed apart)


def macs(layers, batch, skip_first=False):
    """Multiply-adds of one pass of ``batch`` rows through ``layers``."""
    return batch * sum(k * n for k, n in layers[1 if skip_first else 0:])


def test_the_recorded_products_are_the_steps_twenty_large_products(step_floor):
    assert step_floor.BATCH == B
    products = step_floor.Gankit().record_products()
    assert len(products) == 20
    expected = (
        macs(G_LAYERS, B)  # G forward
        + macs(D_LAYERS, 2 * B)  # D forward on real + fake
        + macs(D_LAYERS, 2 * B) + macs(D_LAYERS, 2 * B, skip_first=True)  # D's weights, inputs
        + macs(D_LAYERS, B) * 2  # G's step: D forward on fake, gradient back to the images
        + macs(G_LAYERS, B) + macs(G_LAYERS, B, skip_first=True))  # G's weights, inputs
    assert step_floor.flops(products) == 2 * expected


def test_recording_leaves_the_step_unchanged_and_batches_advance(step_floor):
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
