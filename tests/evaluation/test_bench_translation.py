"""The translation benchmark's label-blind baselines do what their docstrings say."""

from __future__ import annotations

import torch

from gankit.data import upscale_digits


def _bar(top: int, left: int) -> torch.Tensor:
    """One (1, 1, 28, 28) uint8 MNIST-like image: a bar 20 px high and 4 px wide."""
    image = torch.zeros(1, 1, 28, 28, dtype=torch.uint8)
    image[..., top:top + 20, left:left + 4] = 255
    return image


def test_normalise_mnist_fills_the_height_and_centres_the_thickened_box(load_bench):
    bench = load_bench("translation")
    out = bench.normalise_mnist(_bar(4, 12), thicken=1, width=0.9)
    # 4/20 of 32 px x 0.9 -> 6 columns (13..18 of 32), dilated by 1 px -> 12..19: the 8x8
    # blocks of columns 3 and 4, full on every row
    eight = torch.zeros(1, 1, 8, 8, dtype=torch.uint8)
    eight[..., 3:5] = 255
    assert out.dtype == torch.uint8 and out.shape == (1, 1, 28, 28)
    assert torch.equal(out, upscale_digits(eight))
    # without the dilation the 6 columns cover block 3 by 3/4 and block 4 by 3/4
    thin = bench.normalise_mnist(_bar(4, 12), thicken=0, width=0.9)
    assert thin.max() < 255 and thin[..., :, 14].min() > 150


def test_normalise_mnist_ignores_where_the_digit_was_drawn_and_keeps_blank_images(load_bench):
    bench = load_bench("translation")
    moved = torch.cat([_bar(4, 12), _bar(0, 0), _bar(8, 24)])
    out = bench.normalise_mnist(moved)
    assert torch.equal(out[0], out[1]) and torch.equal(out[0], out[2])
    blank = bench.normalise_mnist(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    assert blank.shape == (2, 1, 28, 28) and blank.max() == 0


def test_the_chosen_normalisation_is_one_of_the_settings_the_validation_scores(load_bench):
    bench = load_bench("translation")
    validation = load_bench("translation_validation")
    assert bench.NORMALISED_THICKEN in validation.THICKENINGS
    assert bench.NORMALISED_WIDTH in validation.WIDTHS
