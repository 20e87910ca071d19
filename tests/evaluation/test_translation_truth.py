"""Evaluation of translations with ground truth: SSIM against an independent reference, the
histogram-match baseline, the style judge (trained once, then loaded from its cache), and
``evaluate_translation`` scoring an unpaired run against the true targets of a set paired
by name, with the real-vs-real floor beside it."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from gankit.data.translation import TranslationData
from gankit.evaluation import style_judge as judge_module
from gankit.evaluation import translation as translation_module
from gankit.evaluation.metrics.ssim import ssim
from gankit.evaluation.translation_baselines import histogram_match, identity


# --- SSIM -------------------------------------------------------------------------------------

def _numpy_ssim(x: np.ndarray, y: np.ndarray, size: int) -> np.ndarray:
    """Wang et al.'s SSIM written out: a size x size Gaussian window (sigma 1.5) at every
    position where it fits, weighted means, variances and covariance, then the mean over
    positions and channels. x, y: uint8 (N, C, H, W). Returns (N,)."""
    g = np.exp(-(np.arange(size) - (size - 1) / 2) ** 2 / (2 * 1.5 ** 2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    x, y = x.astype(np.float64) / 255, y.astype(np.float64) / 255
    n, c, h, wd = x.shape
    out = np.zeros(n)
    for i in range(n):
        values = []
        for k in range(c):
            for top in range(h - size + 1):
                for left in range(wd - size + 1):
                    a = x[i, k, top:top + size, left:left + size]
                    b = y[i, k, top:top + size, left:left + size]
                    ma, mb = (w * a).sum(), (w * b).sum()
                    va, vb = (w * (a - ma) ** 2).sum(), (w * (b - mb) ** 2).sum()
                    cov = (w * (a - ma) * (b - mb)).sum()
                    values.append((2 * ma * mb + c1) * (2 * cov + c2)
                                  / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2)))
        out[i] = np.mean(values)
    return out


@pytest.mark.parametrize("shape, size", [((2, 3, 14, 13), 11), ((1, 1, 7, 9), 7)])
def test_ssim_matches_a_written_out_reference(shape, size):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    y = (x.float() + torch.randn(shape, generator=g) * 40).clamp(0, 255).to(torch.uint8)
    expected = _numpy_ssim(x.numpy(), y.numpy(), size)
    assert ssim(x, y).numpy() == pytest.approx(expected, abs=1e-10)
    assert 0.05 < expected.min() and expected.max() < 0.95  # neither trivial end


def test_ssim_is_one_for_identical_images_symmetric_and_falls_with_noise():
    g = torch.Generator().manual_seed(1)
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    smooth = (127 + 100 * torch.sin(xx / 5) * torch.cos(yy / 7)).expand(2, 3, 32, 32)
    clean = smooth.round().to(torch.uint8)
    assert ssim(clean, clean).tolist() == pytest.approx([1.0, 1.0], abs=1e-12)
    noise = torch.randn(clean.shape, generator=g)
    noisy = [(smooth + sigma * noise).round().clamp(0, 255).to(torch.uint8)
             for sigma in (2, 8, 20, 50)]
    values = [float(ssim(n, clean).mean()) for n in noisy]
    assert values == sorted(values, reverse=True) and values[0] < 1 and values[-1] < 0.5
    assert torch.allclose(ssim(noisy[1], clean), ssim(clean, noisy[1]), atol=1e-12)
    # two flat images: only the luminance term is left, (2ab + C1) / (a² + b² + C1)
    black, white = torch.zeros(1, 1, 16, 16, dtype=torch.uint8), torch.full(
        (1, 1, 16, 16), 255, dtype=torch.uint8)
    assert float(ssim(black, white)) == pytest.approx(1e-4 / (1 + 1e-4), rel=1e-9)


# --- the histogram-match baseline -------------------------------------------------------------

def test_histogram_match_moves_each_image_to_the_pooled_reference_histogram():
    g = torch.Generator().manual_seed(2)
    images = torch.randint(0, 256, (4, 3, 24, 24), generator=g, dtype=torch.uint8)
    # the reference: channel 0 dark, 1 bright, 2 squeezed into the middle
    base = torch.rand(6, 3, 20, 20, generator=g)
    reference = torch.stack([base[:, 0] ** 3, base[:, 1] ** 0.3, 0.3 + 0.4 * base[:, 2]], 1)
    reference = (reference * 255).round().to(torch.uint8)
    out = histogram_match(images, reference)
    assert out.dtype == torch.uint8 and out.shape == images.shape
    qs = torch.tensor([0.1, 0.25, 0.5, 0.75, 0.9])
    for k in range(3):
        ref = reference[:, k].flatten().float()
        assert abs(float(out[:, k].float().mean() - ref.mean())) < 3
        for image in out[:, k]:  # each image on its own, not only the set
            assert (image.flatten().float().quantile(qs) - ref.quantile(qs)).abs().max() < 6
        # monotone: sorting the input by value sorts the output too
        for source, matched in zip(images[:, k], out[:, k]):
            order = source.flatten().argsort(stable=True)
            assert bool((matched.flatten()[order].diff() >= 0).all())
    assert identity(images) is images


def test_histogram_match_with_a_source_set_applies_one_table_to_every_image():
    g = torch.Generator().manual_seed(3)
    source = torch.randint(0, 128, (5, 1, 16, 16), generator=g, dtype=torch.uint8)
    reference = torch.randint(128, 256, (5, 1, 16, 16), generator=g, dtype=torch.uint8)
    out = histogram_match(source, reference, source_u8=source)
    assert out.min() >= 128
    # one table: a level maps to one value, whichever image it is in
    table = {}
    for value, mapped in zip(source.flatten().tolist(), out.flatten().tolist()):
        assert table.setdefault(value, mapped) == mapped


# --- the style judge -----------------------------------------------------------------------

def _blobs(n: int, colour: tuple[int, int, int], g: torch.Generator, side: int = 16
           ) -> torch.Tensor:
    """n uint8 images (n, 3, side, side): a disc of a random place and size in ``colour``
    (± 40 per image) on white."""
    yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    centre = torch.rand(n, 2, 1, 1, generator=g) * side / 2 + side / 4
    radius = (torch.rand(n, 1, 1, generator=g) + 1) * side / 6
    inside = (yy - centre[:, 0]) ** 2 + (xx - centre[:, 1]) ** 2 < radius ** 2  # (n, S, S)
    tint = (torch.tensor(colour) + (torch.rand(n, 3, generator=g) * 2 - 1) * 40).clamp(0, 255)
    images = torch.where(inside.unsqueeze(1), tint.view(n, 3, 1, 1), torch.tensor(255.0))
    return images.round().to(torch.uint8)


def _two_styles(paired: bool = True) -> TranslationData:
    """Reddish (A) and bluish (B) discs: 100 training and 24 held-out images a side; the
    domains are named as emoji-styles' (so emoji-cnn reads them), the labels are random
    categories, and the held-out pairs are named as a set paired by name."""
    g = torch.Generator().manual_seed(4)
    red, blue = (200, 50, 50), (50, 60, 210)
    a, b, a_test, b_test = (_blobs(n, c, g) for n, c in ((100, red), (100, blue),
                                                          (24, red), (24, blue)))
    labels = torch.randint(0, 9, (24,), generator=g)
    names = [f"e{i}" for i in range(24)] if paired else None
    return TranslationData("two-styles", paired, a, b, a_test, b_test, labels, labels.clone(),
                           a_domain="google", b_domain="twitter", a_test_names=names)


def test_style_judge_tells_the_styles_apart_and_is_trained_once(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path))
    data = _two_styles()
    judge = judge_module.style_judge(data)
    assert judge.accuracy >= 0.95 and judge.trained_on == 200
    assert judge.path is not None and judge.path.is_file()
    assert judge.path.parent == tmp_path / "style_judge"
    assert judge.share(data.b_test, "B") + judge.share(data.b_test, "A") == pytest.approx(1)

    def no_training(*args, **kwargs):
        raise AssertionError("the cached judge was trained again")

    monkeypatch.setattr(judge_module, "train_judge", no_training)
    again = judge_module.style_judge(data)
    assert again.path == judge.path and again.accuracy == judge.accuracy
    assert torch.equal(again.reads_b(data.a_test), judge.reads_b(data.a_test))
    # other training images are another judge, which the stub refuses to train
    changed = TranslationData("two-styles", True, data.b, data.a, data.a_test, data.b_test)
    with pytest.raises(AssertionError, match="trained again"):
        judge_module.style_judge(changed)


def test_style_judge_training_is_deterministic():
    data = _two_styles()
    first = judge_module.train_judge(data.a[:40], data.b[:40], epochs=2)
    second = judge_module.train_judge(data.a[:40], data.b[:40], epochs=2)
    for p, q in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(p, q)


# --- evaluate_translation with the truth ------------------------------------------------------

class _IdentityRun:
    """A stand-in for a loaded unpaired run whose translations are its inputs."""

    step = 7

    def __init__(self, mode: str = "unpaired"):
        self.config = SimpleNamespace(
            data=SimpleNamespace(name="two-styles", image_size=0, channels=0, root="data"),
            translation=SimpleNamespace(direction="AtoB", mode=mode))

    def translate(self, images, direction, ema=True):
        return images.clone()


def test_an_unpaired_run_on_a_set_paired_by_name_is_scored_against_the_truth(
        tmp_path, monkeypatch):
    import gankit.data

    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path))
    data = _two_styles()
    monkeypatch.setattr(gankit.data, "load_translation", lambda *args, **kwargs: data)
    result = translation_module.evaluate_translation(_IdentityRun())
    scores, floor = result["scores"], result["floor"]
    truth = data.b_test.float() / 255
    assert scores["l1"] == pytest.approx(float((data.a_test.float() / 255 - truth).abs().mean()))
    mse = (data.a_test.float() / 255 - truth).pow(2).flatten(1).mean(1)
    assert scores["psnr"] == pytest.approx(float((-10 * torch.log10(mse)).mean()), rel=1e-5)
    assert scores["ssim"] == pytest.approx(float(ssim(data.a_test, data.b_test).mean()))
    assert scores["cycle_l1"] == 0  # the identity comes back unchanged
    assert scores["classifier"] == "emoji-cnn" and 0 <= scores["accuracy"] <= 1
    # the inputs stay reddish: the judge puts few of them in the bluish target style
    assert scores["style_share"] <= 0.1 and floor["style_share"] >= 0.9
    assert floor["l1"] == 0 and floor["ssim"] == pytest.approx(1) and floor["psnr"] == 100
    assert floor["fid"] == pytest.approx(
        translation_module.real_vs_real_fid(data.b_test, data.b, "emoji-cnn"))
    text = translation_module.format_translation(result)
    for words in ("category agreement", "ssim", "style share", "real vs real", "higher is better"):
        assert words in text
    assert not any(line.strip().startswith("accuracy") for line in text.splitlines())


def test_without_pairs_there_is_no_truth_no_judge_and_no_floor(tmp_path, monkeypatch):
    import gankit.data

    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path))
    data = _two_styles(paired=False)
    monkeypatch.setattr(gankit.data, "load_translation", lambda *args, **kwargs: data)
    result = translation_module.evaluate_translation(_IdentityRun())
    assert not {"l1", "psnr", "ssim", "style_share"} & set(result["scores"])
    assert "floor" not in result and not (tmp_path / "style_judge").exists()
    assert "cycle_l1" in result["scores"] and math.isfinite(result["scores"]["fid"])
