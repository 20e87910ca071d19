"""PacGAN packing: the wrapper's reshapes, its losses, and the checks on the batch size."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gankit.config import ModelConfig, check_pack, resolve
from gankit.errors import UserError
from gankit.core.losses import get_loss
from gankit.core.models import build_models
from gankit.core.models.packing import Packed, packed_shape
from gankit.core.steps import d_step, g_step


class Recorder(nn.Module):
    """A D that records its input and returns the sum of each row as the logit."""

    def forward(self, x):
        self.seen = x
        return x.flatten(1).sum(1)


def test_packed_shape():
    assert packed_shape((3, 32, 32), 4) == (12, 32, 32)
    assert packed_shape((2,), 3) == (6,)


def test_images_are_stacked_on_the_channel_axis():
    x = torch.arange(4 * 1 * 2 * 2, dtype=torch.float32).view(4, 1, 2, 2)
    inner = Recorder()
    logits = Packed(inner, 2)(x)
    assert inner.seen.shape == (2, 2, 2, 2)
    assert torch.equal(inner.seen[0, 0], x[0, 0]) and torch.equal(inner.seen[0, 1], x[1, 0])
    assert torch.equal(inner.seen[1, 1], x[3, 0])
    # one logit per sample: each sample gets its pack's
    assert logits.shape == (4,)
    assert torch.equal(logits, torch.stack([x[:2].sum(), x[:2].sum(), x[2:].sum(), x[2:].sum()]))


def test_points_are_concatenated():
    x = torch.randn(6, 2)
    inner = Recorder()
    Packed(inner, 3)(x)
    assert inner.seen.shape == (2, 6)
    assert torch.equal(inner.seen[1], torch.cat([x[3], x[4], x[5]]))


def test_bad_batch_and_labels_are_rejected():
    with pytest.raises(ValueError, match="packs of 3"):
        Packed(Recorder(), 3)(torch.randn(4, 2))
    with pytest.raises(ValueError, match="unconditional"):
        Packed(Recorder(), 2)(torch.randn(4, 2), torch.zeros(4, dtype=torch.long))


def test_check_pack():
    check_pack(1, 7)
    check_pack(4, 64)
    with pytest.raises(UserError, match="divisible by 3"):
        check_pack(3, 64)
    with pytest.raises(UserError, match="unconditional"):
        check_pack(2, 64, conditional=True)
    with pytest.raises(UserError):
        check_pack(0, 64)


def test_config_validates_pack():
    assert resolve("dcgan", overrides={"model.pack": 2}).model.pack == 2
    with pytest.raises(UserError, match="divisible"):
        resolve("dcgan", overrides={"model.pack": 3})  # batch 64
    with pytest.raises(UserError, match="unconditional"):
        resolve("default", overrides={"model.pack": 2})  # conditional DCGAN
    with pytest.raises(UserError, match="divisible"):
        resolve("toy-pacgan", overrides={"train.batch_size": 255})


@pytest.mark.parametrize("name,shape", [("mlp", (1, 28, 28)), ("dcgan", (1, 28, 28)),
                                        ("dcgan", (3, 32, 32)), ("toy-mlp", (2,))])
@pytest.mark.parametrize("pack", [2, 4])
def test_models_train_one_step_packed(name, shape, pack):
    cfg = ModelConfig(name=name, latent_dim=8, g_hidden=(32,), d_hidden=(32,), g_channels=8,
                      d_channels=8, pack=pack)
    G, D = build_models(cfg, shape)
    assert isinstance(D, Packed) and D.pack == pack
    assert D.D(torch.randn(2, *packed_shape(shape, pack))).shape == (2,)
    opt_G, opt_D = (torch.optim.Adam(n.parameters(), 1e-3) for n in (G, D))
    real = torch.rand(8, *shape) * 2 - 1
    fake = G(torch.randn(8, 8))
    seen = []  # what the inner D receives: packs of `pack` samples, never single ones
    handle = D.D.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape))
    before = [p.detach().clone() for p in D.parameters()]
    stats = d_step(D, opt_D, get_loss("ns"), real, fake)
    stats.update(g_step(D, opt_G, get_loss("ns"), fake))
    handle.remove()
    assert all(torch.isfinite(v) for v in stats.values())
    assert seen and all(tuple(s[1:]) == packed_shape(shape, pack) for s in seen)
    assert sum(s[0] for s in seen) == 3 * 8 // pack  # real and fake, then fake again
    assert any(not torch.equal(b, p) for b, p in zip(before, D.parameters()))


def test_packed_loss_equals_the_loss_on_packs():
    """Repeating each pack's logit m times leaves every mean-based loss unchanged."""
    torch.manual_seed(0)
    inner = nn.Linear(4, 1)
    D = Packed(nn.Sequential(inner, nn.Flatten(0)), 2)
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    loss = get_loss("ns")
    via_wrapper = loss.d(D(real), D(fake))
    direct = loss.d(inner(real.view(4, 4)).squeeze(1), inner(fake.view(4, 4)).squeeze(1))
    assert torch.allclose(via_wrapper, direct)


def test_cli_pack_flag(capsys):
    from gankit.cli import main

    assert main(["train", "--preset", "dcgan", "--pack", "4", "--dry-run"]) == 0
    assert "pack=4" in capsys.readouterr().out
    assert main(["train", "--preset", "dcgan", "--pack", "3", "--dry-run"]) == 2
    assert "divisible by 3" in capsys.readouterr().err
