"""Streaming batches from a memory map: the very batches of the in-memory path (order,
shares, flips, arithmetic), the memory-budget choice between the two, and --mirror."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
import torch

from gankit.config import resolve
from gankit.data import EpochBatches
from gankit.data.batches import mirror_flags
from gankit.data.prepared import PreparedWriter, open_prepared
from gankit.data.streaming import (StreamingBatches, fits_in_memory, memory_budget_bytes,
                                   physical_memory_bytes)
from gankit.training import noise_to_image
from gankit.training.distributed import Context


@pytest.fixture
def mapped(tmp_path):
    """A prepared set of 45 random 1x6x6 images with 3 classes, opened memory-mapped."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (45, 1, 6, 6), dtype=np.uint8)
    with PreparedWriter(tmp_path / "set", 45, (1, 6, 6)) as writer:
        writer.images[:] = images
        writer.finish(np.arange(45) % 3, ("a", "b", "c"))
    data = open_prepared(tmp_path / "set").to_image_data()
    assert data.mapped
    return data


def _all(batches, epoch, start=0):
    return [(x.clone(), None if y is None else y.clone()) for x, y in batches.epoch(epoch, start)]


def _same(got, want):
    assert len(got) == len(want) and len(got) > 0
    for (x, y), (x2, y2) in zip(got, want):
        assert x.dtype == torch.float32 and torch.equal(x, x2)  # bit for bit
        assert (y is None and y2 is None) or torch.equal(y, y2)


@pytest.mark.parametrize("drop_last,value_range,mirror", [(False, "tanh", False),
                                                         (True, "unit", False),
                                                         (False, "tanh", True)])
def test_streamed_batches_are_the_in_memory_batches(mapped, drop_last, value_range, mirror):
    memory = EpochBatches(mapped.samples.clone(), mapped.labels.clone(), 8, drop_last, 5,
                          value_range, mirror=mirror)
    stream = StreamingBatches(mapped.samples, mapped.labels, 8, drop_last, 5, value_range,
                              mirror=mirror, prefetch=2)
    assert len(stream) == len(memory) == (5 if drop_last else 6)
    for epoch in (0, 3):
        _same(_all(stream, epoch), _all(memory, epoch))
    # resume mid-epoch: from batch 2 on, the same batches as the full epoch's
    _same(_all(stream, 3, start=2), _all(memory, 3)[2:])
    assert not torch.equal(_all(stream, 0)[0][0], _all(stream, 1)[0][0])  # reshuffled


@pytest.mark.parametrize("drop_last", [False, True])
def test_each_process_streams_its_share(mapped, drop_last):
    whole = _all(EpochBatches(mapped.samples.clone(), None, 8, drop_last, 1, "tanh",
                              mirror=True), 2)
    shares = [_all(StreamingBatches(mapped.samples, None, 8, drop_last, 1, "tanh",
                                    mirror=True, rank=r, world_size=2), 2) for r in range(2)]
    memory = [_all(EpochBatches(mapped.samples.clone(), None, 8, drop_last, 1, "tanh",
                                mirror=True, rank=r, world_size=2), 2) for r in range(2)]
    for rank in range(2):
        _same(shares[rank], memory[rank])
    for (full, _), (a, _), (b, _) in zip(whole, *shares):
        assert a.shape == b.shape and a.shape[0] <= 4
        merged = torch.stack([a, b], 1).reshape(-1, *a.shape[1:])  # rank r: rows r, r+2, ...
        assert torch.equal(merged, full[:merged.shape[0]])


def test_stopping_mid_epoch_ends_the_thread(mapped):
    before = threading.active_count()
    stream = StreamingBatches(mapped.samples, None, 4, False, 0, "tanh", prefetch=1)
    batches = stream.epoch(0)
    next(batches)
    assert threading.active_count() == before + 1
    batches.close()  # what the trainer's `break` does when the generator is dropped
    assert threading.active_count() == before


def test_a_failure_while_gathering_reaches_the_training_thread(mapped, monkeypatch):
    stream = StreamingBatches(mapped.samples, None, 4, False, 0, "tanh")

    def broken(rows):
        raise OSError("disk went away")

    monkeypatch.setattr(stream, "_gather", broken)
    with pytest.raises(OSError, match="disk went away"):
        next(stream.epoch(0))


# --- mirror -------------------------------------------------------------------------------------

def test_mirror_flags_are_a_function_of_seed_epoch_and_batch():
    first = mirror_flags(seed=3, epoch=1, index=4, batch_size=64)
    assert first.dtype == torch.bool and first.shape == (64,)
    assert torch.equal(first, mirror_flags(3, 1, 4, 64))  # no state: resume draws the same
    assert 10 < int(first.sum()) < 54  # about half
    for other in (mirror_flags(4, 1, 4, 64), mirror_flags(3, 2, 4, 64), mirror_flags(3, 1, 5, 64)):
        assert not torch.equal(first, other)
    assert torch.equal(mirror_flags(3, 1, 4, 64, rank=1, world_size=2), first[1::2])
    assert torch.equal(mirror_flags(3, 1, 4, 64, rows=10), first[:10])


def test_mirror_flips_some_images_left_right_and_leaves_the_rest():
    n = 32
    images = torch.arange(n * 4, dtype=torch.uint8).view(n, 1, 1, 4).expand(n, 1, 2, 4).contiguous()
    plain = EpochBatches(images, None, n, False, 7, "unit")
    flipped = EpochBatches(images, None, n, False, 7, "unit", mirror=True)
    for epoch in (0, 1):
        (a, _), = plain.epoch(epoch)
        (b, _), = flipped.epoch(epoch)
        flags = mirror_flags(7, epoch, 0, n)
        assert 0 < int(flags.sum()) < n
        assert torch.equal(b[flags], a[flags].flip(-1))
        assert torch.equal(b[~flags], a[~flags])
    (again, _), = flipped.epoch(1)
    assert torch.equal(again, b)


# --- the memory budget ------------------------------------------------------------------------

def _mem_total_bytes() -> int:
    """The machine's memory as the kernel reports it (MemTotal in /proc/meminfo)."""
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal in /proc/meminfo")


@pytest.mark.skipif(not os.path.exists("/proc/meminfo"), reason="needs Linux's /proc/meminfo")
def test_budget_defaults_to_a_quarter_of_the_memory():
    """The default budget is a quarter of the machine's memory as the kernel counts it
    (not the memory free now, not a guess); a set of a third of the memory is streamed by
    default, one of a fifth loaded."""
    total = _mem_total_bytes()
    assert physical_memory_bytes() == pytest.approx(total, rel=0.01)
    assert memory_budget_bytes(0) == pytest.approx(total / 4, rel=0.01)
    assert not fits_in_memory(total // 3, 0.0) and fits_in_memory(total // 5, 0.0)
    assert not fits_in_memory(total // 5, 0.0, copies=2)  # one copy per process
    assert memory_budget_bytes(2) == 2 * 2 ** 30
    assert memory_budget_bytes(0.5) == 2 ** 29
    assert fits_in_memory(2 ** 30, 1.0) and not fits_in_memory(2 ** 30, 1.0, copies=2)
    assert not fits_in_memory(2 ** 30 + 1, 1.0)


def test_memory_is_8_gib_where_the_system_does_not_say(monkeypatch):
    def unknown(name):
        raise ValueError(f"unrecognized configuration name {name}")

    monkeypatch.setattr(os, "sysconf", unknown)
    assert physical_memory_bytes() == 8 * 2 ** 30
    assert memory_budget_bytes(0) == 2 * 2 ** 30


def _setup(folder, run_dir, budget, echo):
    cfg = resolve("default", overrides={"data.name": str(folder), "train.steps": 1,
                                        "data.memory_budget_gb": budget, "data.mirror": True,
                                        "model.g_channels": 8, "model.d_channels": 8})
    return noise_to_image.setup(cfg, Context(), echo)


def test_a_set_over_the_budget_is_streamed(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (40, 1, 28, 28), dtype=np.uint8)
    with PreparedWriter(tmp_path / "set", 40, (1, 28, 28)) as writer:
        writer.images[:] = images
        writer.finish(np.arange(40) % 2, ("a", "b"))
    said: list[str] = []
    small = _setup(tmp_path / "set", tmp_path / "r1", 1e-6, said.append)
    assert isinstance(small.batches, StreamingBatches) and small.batches.mirror
    assert any("over the memory budget" in line for line in said)
    said.clear()
    large = _setup(tmp_path / "set", tmp_path / "r2", 0.0, said.append)
    assert type(large.batches) is EpochBatches and large.batches.mirror
    assert not any("memory budget" in line for line in said)
    # loaded into the process's memory, not the map
    assert large.batches.samples.data_ptr() != small.batches.samples.data_ptr()
    _same(_all(small.batches, 0), _all(large.batches, 0))
