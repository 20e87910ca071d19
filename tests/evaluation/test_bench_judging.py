"""The benchmarks behind the README's default-preset and metric-floor tables build what they say."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gankit.data.embedded import load_mnist5k


def test_a_fixed_length_variant_lifts_the_epoch_and_time_caps_and_keeps_its_checkpoints(
        load_bench):
    variants = load_bench("default_variants")
    flags = variants.Run("dcgan", ("train.ema_kimg=10",), steps=3900).flags()
    pairs = dict(zip(flags[::2], flags[1::2]))
    assert pairs["--steps"] == "3900" and pairs["--keep"] == "10"
    assert {"train.ema_kimg=10", "train.minutes=0", "train.epochs=0"} <= {
        value for flag, value in zip(flags, flags[1:]) if flag == "--set"}
    # The shipped preset keeps its own budget.
    assert "--steps" not in variants.Run("default").flags()
    # Every row samples a run that the bench trains.
    assert {row.run for row in variants.ROWS} <= set(variants.RUNS)


def test_run_facts_read_the_last_training_record_and_checkpoints_must_exist(tmp_path,
                                                                            load_bench):
    variants = load_bench("default_variants")
    records = [{"step": 100, "kimg": 3.2, "seconds": 5.0},
               {"step": 200, "kimg": 6.4, "seconds": 9.0},
               {"step": 200, "probe_modes": 10.0}]  # a probe record carries no kimg
    (tmp_path / "log.jsonl").write_text("\n".join(map(json.dumps, records)))
    facts = variants.run_facts(tmp_path)
    assert (facts["steps"], facts["kimg"]) == (200, 6.4)
    assert variants.images_seen(tmp_path, 100) == "3k"
    assert variants.checkpoint(tmp_path, 0) == tmp_path
    with pytest.raises(SystemExit, match="no checkpoint of step 100"):
        variants.checkpoint(tmp_path, 100)


def test_metric_floor_files_are_what_the_table_names(load_bench):
    floor = load_bench("metric_floor")
    reference, check, labels = floor.labelled_half()
    data = load_mnist5k()
    assert len(reference) == len(check) == 2500
    # H's labels are mnist5k's own: each image's label matches its row's.
    rows = {bytes(image.numpy()): int(label) for image, label in zip(data.images, data.labels)}
    assert [rows[bytes(image.numpy())] for image in check[:200]] == labels[:200].tolist()
    single = floor.one_class(check, labels)
    threes = {bytes(image.numpy()) for image in check[labels == floor.ONE_CLASS]}
    assert single.shape == (2500, 1, 28, 28)
    assert all(bytes(image.numpy()) in threes for image in single)
    noise = floor.noise()
    assert noise.dtype == torch.uint8 and noise.shape == (2500, 1, 28, 28)
    assert torch.equal(noise, floor.noise())  # seeded
    assert 120 < noise.float().mean() < 135  # uniform over 0..255
