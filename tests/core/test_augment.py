"""DiffAugment (gankit.core.augment): shapes, gradients, and what each transform does."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gankit.core.augment import (Augmented, contrast, cutout, diff_augment, maybe_augment,
                            parse_policy, saturation, translation)


@pytest.mark.parametrize("policy", ["color", "translation", "cutout",
                                    "translation,cutout,color"])
@pytest.mark.parametrize("shape", [(4, 1, 28, 28), (3, 3, 32, 32)])
def test_policies_keep_shape_and_are_differentiable(policy, shape):
    torch.manual_seed(0)
    x = torch.randn(*shape, requires_grad=True)
    y = diff_augment(x, policy)
    assert y.shape == x.shape and y.dtype == x.dtype
    (y * torch.randn_like(y)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_translation_shifts_by_whole_pixels_with_zero_fill():
    x = torch.arange(1, 17, dtype=torch.float32).view(1, 1, 4, 4).repeat(2, 1, 1, 1)
    y = translation(x, shift=torch.tensor([[1, 0], [0, -1]]))
    # sample 0: down by one row; the top row is new (zero)
    assert torch.equal(y[0, 0, 1:], x[0, 0, :-1]) and torch.equal(y[0, 0, 0], torch.zeros(4))
    # sample 1: left by one column; the right column is zero
    assert torch.equal(y[1, 0, :, :-1], x[1, 0, :, 1:])
    assert torch.equal(y[1, 0, :, -1], torch.zeros(4))
    assert torch.equal(translation(x, shift=torch.zeros(2, 2, dtype=torch.long)), x)


def test_random_translation_stays_within_an_eighth_of_the_side():
    torch.manual_seed(0)
    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 8, 8] = 1.0  # one bright pixel; find where it went
    y = translation(x)
    where = y.flatten(1).argmax(1)
    rows, cols = where // 16, where % 16
    assert (rows - 8).abs().max() <= 2 and (cols - 8).abs().max() <= 2
    assert len(set(zip(rows.tolist(), cols.tolist()))) > 5  # samples get their own shift


def test_cutout_zeroes_one_patch_of_half_the_side():
    x = torch.ones(2, 3, 8, 8)
    y = cutout(x, centre=torch.tensor([[4, 4], [0, 0]]))
    # sample 0: rows/cols 2..5 are zero, the rest untouched
    assert torch.equal(y[0, :, 2:6, 2:6], torch.zeros(3, 4, 4))
    assert y[0].sum() == 3 * (64 - 16)
    # sample 1: the patch is clipped at the corner (rows/cols 0..1)
    assert torch.equal(y[1, :, :2, :2], torch.zeros(3, 2, 2)) and y[1].sum() == 3 * (64 - 4)
    torch.manual_seed(0)
    z = cutout(torch.ones(16, 1, 8, 8))
    zeros = (z == 0).flatten(1).sum(1)
    assert (zeros > 0).all() and (zeros <= 16).all()


def test_colour_transforms():
    torch.manual_seed(0)
    gray = torch.randn(4, 1, 5, 5)
    assert torch.allclose(saturation(gray), gray)  # one channel: nothing to saturate
    x = torch.randn(4, 3, 5, 5)
    y = contrast(x)
    torch.testing.assert_close(y.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)))  # keeps the mean
    assert not torch.allclose(diff_augment(x, "color"), x)


def test_policy_parsing():
    assert parse_policy("translation, cutout,color") == ["translation", "cutout", "color"]
    assert parse_policy("") == []
    with pytest.raises(ValueError, match="unknown DiffAugment"):
        parse_policy("translation,flip")


class Recorder(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))
        self.seen = []

    def forward(self, x, labels=None):
        self.seen.append((x.detach().clone(), labels))
        return x.flatten(1).sum(1) * self.w


def test_augmented_d_transforms_its_input_and_passes_labels():
    D = Recorder()
    assert maybe_augment(D, "") is D
    wrapped = maybe_augment(D, "cutout")
    assert isinstance(wrapped, Augmented) and list(wrapped.parameters()) == [D.w]
    x = torch.ones(4, 1, 8, 8, requires_grad=True)
    labels = torch.arange(4)
    wrapped(x, labels).sum().backward()
    seen, seen_labels = D.seen[-1]
    assert torch.equal(seen_labels, labels) and (seen == 0).any()
    assert (x.grad == 0).any() and (x.grad == 1).any()  # cut-out pixels get no gradient


def test_loop_trains_with_diffaugment(tmp_path, monkeypatch):
    """Every image D sees in a --diffaugment run went through the policy: real and fake
    together in D's step (a batch of 2 x 4), the fakes in G's step (4)."""
    import gankit
    from gankit.core import augment

    calls = []
    real_augment = augment.diff_augment

    def spy(x, policy):
        out = real_augment(x, policy)
        calls.append((policy, x.shape[0], torch.equal(out, x)))
        return out

    monkeypatch.setattr(augment, "diff_augment", spy)
    run = gankit.train("dcgan", out=tmp_path / "run", steps=3, batch_size=4,
                       model__g_channels=4, model__d_channels=4,
                       train__diffaugment="translation,cutout,color", train__tensorboard=False,
                       train__grid_size=4)
    assert (run / "samples" / "final.png").is_file()
    assert [size for _, size, _ in calls] == [8, 4] * 3
    assert {policy for policy, _, _ in calls} == {"translation,cutout,color"}
    assert not any(unchanged for _, _, unchanged in calls)


def test_cli_flag_sets_the_policy(capsys):
    from gankit.cli import main

    assert main(["train", "--preset", "dcgan", "--diffaugment", "translation,color",
                 "--dry-run"]) == 0
    assert "diffaugment=translation,color" in capsys.readouterr().out
    assert main(["train", "--diffaugment", "rotate", "--dry-run"]) == 2
