"""mnist-cnn per channel counts Stacked MNIST's 1,000 modes."""

from __future__ import annotations

import numpy as np

from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.evaluation.metrics.extractors import default_extractor, get_extractor
from gankit.evaluation.metrics.scores import mode_counts


def test_stacked_extractor_reads_each_channel_as_a_digit():
    data = load_dataset(DataConfig(name="stacked-mnist"))
    images, labels = data.samples[:600], data.labels[:600]
    net = get_extractor(default_extractor(tuple(images.shape[1:]), "stacked-mnist"))
    assert net.name == "mnist-cnn-stacked"
    features, probs = net(images)
    assert features.shape == (600, 384) and probs.shape == (600, 1000)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)
    assert (probs.argmax(1) == labels.numpy()).mean() > 0.9  # joint class 100*d1 + 10*d2 + d3
    covered, _ = mode_counts(probs)
    distinct = len(set(labels.tolist()))
    assert abs(covered - distinct) <= 0.1 * distinct  # about one mode per distinct triple
    one_mode = images[labels == labels[0]][:1].expand(50, -1, -1, -1)
    assert mode_counts(net(one_mode)[1])[0] == 1


def test_gray_data_keeps_the_plain_extractor():
    assert default_extractor((1, 28, 28), "mnist5k") == "mnist-cnn"
    assert default_extractor((3, 32, 32), "cifar10") == "inception"
