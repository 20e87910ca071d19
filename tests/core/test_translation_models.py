"""Image-to-image translation networks (U-Net and ResNet generators, PatchGAN) and the
CycleGAN image pool: shapes per image size, depth, skips, receptive fields, init, checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gankit.core.models.patchgan import min_patch_input, patch_output_size, patch_window
from gankit.core.models.translation import (TRANSLATION_NETWORKS, PatchDiscriminator,
                                            ResnetGenerator, UNetGenerator, build_generator,
                                            build_patch_discriminator, init_translation_weights,
                                            patch_layers_for, receptive_field)
from gankit.core.models.unet import unet_geometry
from gankit.core.pool import ImagePool

BASE = 8  # narrow nets keep the tests fast; widths do not change the shape logic


def _images(batch, channels, size, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, channels, size, size, generator=generator) * 2 - 1


# --- U-Net -------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("in_ch,out_ch", [(1, 1), (3, 3), (1, 3)])
def test_unet_shapes(size, in_ch, out_ch):
    torch.manual_seed(0)
    G = UNetGenerator(in_ch, out_ch, size, base_channels=BASE)
    out = G(_images(2, in_ch, size))
    assert out.shape == (2, out_ch, size, size)
    assert torch.isfinite(out).all() and out.abs().max() <= 1


@pytest.mark.parametrize("size,depth,padded", [(28, 5, 32), (32, 5, 32), (64, 6, 64),
                                               (100, 7, 128), (256, 8, 256), (300, 8, 512)])
def test_unet_depth_from_size(size, depth, padded):
    assert unet_geometry(size) == (depth, padded)


def test_unet_256_and_depth_cap():
    G = UNetGenerator(3, 3, 256, base_channels=4).eval()
    assert G.depth == 8 and G.widths == [4, 8, 16, 32, 32, 32, 32, 32]
    with torch.no_grad():
        assert G(_images(1, 3, 256)).shape == (1, 3, 256, 256)
    capped = UNetGenerator(1, 1, 64, base_channels=BASE, max_depth=4).eval()
    assert capped.depth == 4 and "64 -> 4 px" in capped.describe()
    assert capped(_images(1, 1, 64)).shape == (1, 1, 64, 64)
    assert "reflect-padded to 32" in UNetGenerator(1, 1, 28, base_channels=BASE).describe()


def test_unet_layers_norms_and_dropout():
    G = UNetGenerator(1, 1, 28, base_channels=BASE)  # depth 5
    # norm after every conv but the outermost encoder conv and the innermost one
    assert sum(isinstance(m, nn.BatchNorm2d) for m in G.down.modules()) == G.depth - 2
    assert not any(isinstance(m, nn.BatchNorm2d) for m in G.down[-1].modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in G.up.modules()) == G.depth - 1
    assert sum(isinstance(m, nn.Dropout) for m in G.modules()) == 3
    deep = UNetGenerator(3, 3, 256, base_channels=2)
    dropped = [i for i, layer in enumerate(deep.up) if isinstance(layer[-1], nn.Dropout)]
    assert dropped == [1, 2, 3]  # levels 6, 5, 4 as pix2pix's unet_256; not the innermost
    assert not any(isinstance(m, nn.Dropout)
                   for m in UNetGenerator(1, 1, 28, base_channels=BASE, dropout=False).modules())
    # batch norm: no conv bias except the last transposed conv; instance norm: biases
    convs = [m for m in G.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert [m.bias is not None for m in convs] == [False] * (len(convs) - 1) + [True]
    inst = UNetGenerator(1, 1, 28, base_channels=BASE, norm="instance")
    assert all(m.bias is not None for m in inst.modules() if isinstance(m, nn.Conv2d))
    norms = [m for m in inst.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert norms and not any(m.affine or m.track_running_stats for m in norms)


def test_unet_skip_connections_are_used():
    G = UNetGenerator(1, 1, 32, base_channels=BASE).eval()
    for level, layer in zip(range(G.depth - 2, -1, -1), G.up[1:]):  # all but the innermost
        assert layer[1].in_channels == 2 * G.widths[level]
    with torch.no_grad():  # cut the bottleneck: only the skips can carry the input through
        G.down[-1][1].weight.zero_()
        a, b = G(_images(1, 1, 32, seed=1)), G(_images(1, 1, 32, seed=2))
    assert not torch.allclose(a, b)
    assert a.std() > 0


# --- ResNet generator --------------------------------------------------------------------------

@pytest.mark.parametrize("size", [28, 32, 64, 30, 256])
@pytest.mark.parametrize("channels", [1, 3])
def test_resnet_shapes(size, channels):
    torch.manual_seed(0)
    G = ResnetGenerator(channels, channels, base_channels=4, n_blocks=2)
    with torch.no_grad():
        out = G(_images(1, channels, size))
    assert out.shape == (1, channels, size, size)  # 30 px: padded to 32 and cropped
    assert torch.isfinite(out).all() and out.abs().max() <= 1


def test_resnet_structure_and_limits():
    G = build_generator("resnet", 1, 3, 28, base_channels=BASE)
    assert isinstance(G, ResnetGenerator) and G.norm == "instance" and not G.dropout
    assert sum(type(m).__name__ == "ResnetBlock" for m in G.modules()) == 9
    assert G.widths == [BASE, 2 * BASE, 4 * BASE]
    assert G(_images(2, 1, 28)).shape == (2, 3, 28, 28)
    with pytest.raises(ValueError, match="at least 5x5"):
        G(_images(1, 1, 4))
    with pytest.raises(ValueError, match="at least 5 px"):
        build_generator("resnet", 1, 1, 4)
    assert "9 residual blocks" in G.describe()
    flat = ResnetGenerator(1, 1, base_channels=4, n_blocks=1, n_downsampling=0)
    assert flat(_images(1, 1, 4)).shape == (1, 1, 4, 4)
    with pytest.raises(ValueError, match="at least 4x4"):
        flat(_images(1, 1, 3))


# --- PatchGAN ----------------------------------------------------------------------------------

def test_receptive_field_and_layers_for_size():
    assert [receptive_field(n) for n in (1, 2, 3)] == [16, 34, 70]
    assert [patch_window(n) for n in (1, 2, 3)] == [11, 23, 47]
    assert patch_layers_for(28) == 2 and patch_layers_for(256) == 3
    assert patch_layers_for(32) == 2 and patch_layers_for(64) == 3
    with pytest.raises(ValueError, match="at least 12 px"):
        patch_layers_for(10)


@pytest.mark.parametrize("size", [28, 32, 64, 256])
def test_patchgan_output_size(size):
    n_layers = patch_layers_for(size)
    D = build_patch_discriminator(4, size, base_channels=4)
    assert D.n_layers == n_layers
    with torch.no_grad():
        logits = D(_images(2, 4, size))
    side = size // 2 ** n_layers - 2
    assert side >= 1 and logits.shape == (2, 1, side, side)
    assert patch_output_size(size, n_layers) == side


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_receptive_field_numerically(n_layers):
    """The input pixels a central logit depends on (batch norm in eval mode is per pixel)
    span exactly ``receptive_field`` rows and columns."""
    torch.manual_seed(0)
    D = PatchDiscriminator(1, base_channels=4, n_layers=n_layers).eval()
    x = _images(1, 1, 128).requires_grad_()
    logits = D(x)
    middle = logits.shape[-1] // 2
    logits[0, 0, middle, middle].backward()
    rows = x.grad[0, 0].abs().sum(1).nonzero().flatten()
    cols = x.grad[0, 0].abs().sum(0).nonzero().flatten()
    assert rows.min() > 0 and rows.max() < 127  # the window lies inside the image
    assert rows.max() - rows.min() + 1 == receptive_field(n_layers)
    assert cols.max() - cols.min() + 1 == receptive_field(n_layers)


@pytest.mark.parametrize("n_layers,sees_far_corner", [(2, False), (3, True)])
def test_corner_logit_window_on_28px(n_layers, sees_far_corner):
    """Why 28 px gets 2 layers: with 3 the only logit sees all the image, with 2 the corner
    logit does not see the far corner."""
    D = PatchDiscriminator(1, base_channels=4, n_layers=n_layers).eval()
    x = _images(1, 1, 28).requires_grad_()
    D(x)[0, 0, 0, 0].backward()
    assert (x.grad[0, 0, 27, 27] != 0).item() == sees_far_corner


def test_patchgan_layers_and_limits():
    D = PatchDiscriminator(6, base_channels=BASE)  # the 70x70 PatchGAN
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert [c.stride[0] for c in convs] == [2, 2, 2, 1, 1]
    assert [c.out_channels for c in convs] == [BASE, 2 * BASE, 4 * BASE, 8 * BASE, 1]
    assert [c.bias is not None for c in convs] == [True, False, False, False, True]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in D.modules()) == 3
    assert "70x70" in D.describe()
    with pytest.raises(ValueError, match="at least 24x24"):
        D(_images(1, 6, 20))
    with pytest.raises(ValueError, match="at least 24 px"):
        build_patch_discriminator(6, 20, n_layers=3)
    assert min_patch_input(3) == 24 and patch_output_size(24, 3) == 1
    assert patch_output_size(23, 3) < 1


# --- shared checks, init, registry -------------------------------------------------------------

def test_bad_norm_and_channels_raise_value_error():
    for make in (lambda: UNetGenerator(1, 1, 28, norm="layer"),
                 lambda: ResnetGenerator(1, 1, norm="none"),
                 lambda: PatchDiscriminator(2, norm="spectral"),
                 lambda: build_generator("unet", 1, 1, 28, norm="group"),
                 lambda: build_generator("patchgan", 1, 1, 28)):
        with pytest.raises(ValueError):
            make()
    G = UNetGenerator(1, 1, 28, base_channels=BASE)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        G(_images(1, 3, 28))
    with pytest.raises(ValueError, match="built for 28x28"):
        G(_images(1, 1, 32))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        ResnetGenerator(3, 3, base_channels=BASE, n_blocks=1)(_images(1, 1, 28))
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\)"):
        PatchDiscriminator(2, base_channels=BASE)(_images(1, 1, 64))


def test_init_is_normal_and_deterministic():
    torch.manual_seed(0)
    a = UNetGenerator(3, 3, 64, base_channels=16)
    torch.manual_seed(0)
    b = UNetGenerator(3, 3, 64, base_channels=16)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(),
                                                 b.state_dict().values()))
    weights = torch.cat([m.weight.flatten() for m in a.modules()
                         if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
    assert abs(weights.std().item() - 0.02) < 0.002 and abs(weights.mean().item()) < 0.002
    scales = torch.cat([m.weight for m in a.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(scales.mean().item() - 1) < 0.01 and 0.01 < scales.std().item() < 0.03
    state = torch.get_rng_state()
    c, d = init_translation_weights(PatchDiscriminator(1, BASE), seed=3), \
        init_translation_weights(PatchDiscriminator(1, BASE), seed=3)
    assert all(torch.equal(p, q) for p, q in zip(c.parameters(), d.parameters()))
    torch.set_rng_state(state)  # the seeded init leaves the global stream alone
    e = PatchDiscriminator(1, BASE)
    torch.set_rng_state(state)
    f = PatchDiscriminator(1, BASE)
    assert all(torch.equal(p, q) for p, q in zip(e.parameters(), f.parameters()))


def test_registry_and_builders():
    assert TRANSLATION_NETWORKS.names() == ["unet", "resnet", "warp", "patchgan"]
    G = build_generator("unet", 3, 1, 28, base_channels=BASE)
    assert isinstance(G, UNetGenerator) and G.norm == "batch" and G.dropout and G.depth == 5
    D = build_patch_discriminator(4, 28, base_channels=BASE, n_layers=0, norm="instance")
    assert D.n_layers == 2 and D.norm == "instance"
    with pytest.raises(ValueError, match="choose one of: unet, resnet, warp"):
        build_generator("unet_256", 3, 3, 256)


# --- image pool --------------------------------------------------------------------------------

def _numbered(start, count):
    """(count, 1, 2, 2) images whose every pixel is their number."""
    return torch.arange(start, start + count, dtype=torch.float32).view(-1, 1, 1, 1) \
        .expand(count, 1, 2, 2).clone()


def test_pool_fills_then_swaps_half():
    torch.manual_seed(0)
    pool = ImagePool(50)
    first = _numbered(0, 30)
    assert torch.equal(pool.query(first), first) and len(pool) == 30
    out = pool.query(_numbered(30, 30))  # 20 fill it, then 10 may swap
    assert torch.equal(out[:20], _numbered(30, 20)) and len(pool) == 50
    new = _numbered(60, 4000)
    out = torch.cat([pool.query(new[i:i + 8]) for i in range(0, 4000, 8)])
    swapped = out[:, 0, 0, 0] != new[:, 0, 0, 0]
    assert 0.45 < swapped.float().mean().item() < 0.55
    assert (out[swapped, 0, 0, 0] < new[swapped, 0, 0, 0]).all()  # earlier images
    assert len(pool) == 50


def test_pool_size_zero_and_detached_copies():
    images = _numbered(0, 3).requires_grad_()
    assert ImagePool(0).query(images) is images
    pool = ImagePool(4)
    out = pool.query(images * 1)
    assert not out.requires_grad and not any(i.requires_grad for i in pool.images)
    source = _numbered(10, 1)
    pool.query(source)
    source.zero_()
    assert pool.images[-1].max() == 10
    with pytest.raises(ValueError):
        pool.query(_numbered(0, 2)[:, :, :1])
    with pytest.raises(ValueError):
        ImagePool(-1)


def test_pool_state_dict_round_trip():
    torch.manual_seed(1)
    pool = ImagePool(10)
    pool.query(_numbered(0, 12))
    state, rng = pool.state_dict(), torch.get_rng_state()
    assert state["size"] == 10 and len(state["images"]) == 10
    assert all(image.device.type == "cpu" for image in state["images"])
    later = [_numbered(100 + 5 * i, 5) for i in range(6)]
    expected = [pool.query(batch) for batch in later]
    resumed = ImagePool(10)
    resumed.load_state_dict(state)
    torch.set_rng_state(rng)
    assert all(torch.equal(resumed.query(batch), out) for batch, out in zip(later, expected))
    with pytest.raises(ValueError, match="size 5"):
        ImagePool(5).load_state_dict(state)
