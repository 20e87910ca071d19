"""The warp generator: a zoom-and-shift warp (identity at first) and a local retouch whose
receptive field is what the docs say; shapes, channels, limits and the builder's checks."""

from __future__ import annotations

import pytest
import torch

from gankit.core.models.translation import build_generator
import torch.nn.functional as F

from gankit.core.models.warp import ZOOM_LIMIT, Locator, WarpGenerator, sampling_grid

BASE = 8


def _images(batch, channels, size, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, channels, size, size, generator=generator) * 2 - 1


@pytest.mark.parametrize("size", [4, 28, 33])
@pytest.mark.parametrize("in_ch,out_ch", [(1, 1), (3, 3), (1, 3), (3, 1)])
def test_shapes_and_range(size, in_ch, out_ch):
    G = WarpGenerator(in_ch, out_ch, BASE, n_blocks=1)
    y = G(_images(2, in_ch, size))
    assert y.shape == (2, out_ch, size, size)
    assert y.abs().max() < 1


def test_warp_starts_as_the_identity():
    torch.manual_seed(0)
    G = WarpGenerator(1, 1, BASE, n_blocks=2)
    x = _images(3, 1, 28)
    assert (G.warp(x) - x).abs().max() < 1e-5  # float rounding of the sampling grid
    assert torch.equal(G.locator(x), torch.tensor([[1.0, 0, 0], [0, 1, 0]]).expand(3, 2, 3))


def test_sampling_grid_is_affine_grid():
    theta = torch.randn(3, 2, 3, generator=torch.Generator().manual_seed(1))
    for h, w in ((28, 28), (5, 9)):
        expected = F.affine_grid(theta, [3, 1, h, w], align_corners=False)
        assert torch.allclose(sampling_grid(theta, h, w), expected, atol=1e-6)


def test_zoom_is_positive_bounded_and_has_no_rotation():
    locator = Locator(1, 8)
    torch.nn.init.normal_(locator.head.weight, std=10.0)  # far outside the bounds
    torch.nn.init.normal_(locator.head.bias, std=10.0)
    theta = locator(_images(16, 1, 28))
    zooms = torch.stack([theta[:, 0, 0], theta[:, 1, 1]])
    assert zooms.min() >= 1 / ZOOM_LIMIT - 1e-6 and zooms.max() <= ZOOM_LIMIT + 1e-6
    assert (theta[:, 0, 1] == 0).all() and (theta[:, 1, 0] == 0).all()
    assert theta[:, :, 2].abs().max() <= 1


def test_a_zoom_out_shrinks_the_picture():
    """Zoom 2 samples twice the area: a square filling the frame ends up in the middle half,
    with the repeated (black) edges around it."""
    G = WarpGenerator(1, 1, BASE, n_blocks=0)
    with torch.no_grad():
        G.locator.head.bias.copy_(torch.tensor([20.0, 20.0, 0.0, 0.0]))  # tanh -> 1: zoom 2
    x = -torch.ones(1, 1, 16, 16)
    x[..., 1:15, 1:15] = 1
    warped = G.warp(x)[0, 0]
    bright = (warped > 0).nonzero()
    assert bright.min() >= 3 and bright.max() <= 12  # the middle half, 4..11, give or take
    assert warped[0].max() == -1 and warped[:, 0].max() == -1


def test_retouch_receptive_field_is_local():
    """An output pixel's retouch depends on the input pixels within receptive_field // 2 of
    it (batch norm in eval mode is per pixel; instance norm adds only per-image statistics),
    while the locator, and so the warp, sees the whole image."""
    torch.manual_seed(0)
    G = WarpGenerator(1, 1, BASE, n_blocks=2, norm="batch").eval()
    assert G.receptive_field == 13
    torch.nn.init.normal_(G.locator.head.weight, std=0.01)  # as after some training
    x = _images(1, 1, 40).requires_grad_()
    G(x)[0, 0, 20, 20].backward()
    assert (x.grad[0, 0].abs().sum(1) > 0).all()  # through the locator: every row
    x = _images(1, 1, 40).requires_grad_()
    G.retouch(x)[0, 0, 20, 20].backward()
    rows = x.grad[0, 0].abs().sum(1).nonzero().flatten()
    cols = x.grad[0, 0].abs().sum(0).nonzero().flatten()
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (14, 26, 14, 26)


def test_builder_defaults_and_checks():
    G = build_generator("warp", 1, 3, 28, base_channels=BASE, n_blocks=3, dropout=False)
    assert isinstance(G, WarpGenerator) and G.norm == "instance" and G.n_blocks == 3
    assert "warp generator" in G.describe() and "17 px receptive field" in G.describe()
    with pytest.raises(ValueError, match="no dropout"):
        build_generator("warp", 1, 1, 28, dropout=True)
    with pytest.raises(ValueError, match="at least 4 px"):
        build_generator("warp", 1, 1, 3, dropout=False)
    with pytest.raises(ValueError, match="expects images of shape"):
        G(_images(1, 3, 28))
