"""Latent space: slerp, the truncation trick, gankit interpolate (grid and GIF)."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

import gankit
from gankit.cli import main
from gankit.errors import UserError
from gankit.apps.latent import gif_frames, slerp, truncate


def test_slerp_endpoints_and_norms():
    generator = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(2, 5, 100, generator=generator)
    path = slerp(z0, z1, torch.linspace(0, 1, 7))
    assert path.shape == (5, 7, 100)
    assert torch.allclose(path[:, 0], z0, atol=1e-5) and torch.allclose(path[:, -1], z1, atol=1e-5)
    # the norm stays between the ends' norms, near sqrt(d) = 10; a straight line dips
    norms = path.norm(dim=2)
    low = torch.minimum(z0.norm(dim=1), z1.norm(dim=1)).unsqueeze(1)
    high = torch.maximum(z0.norm(dim=1), z1.norm(dim=1)).unsqueeze(1)
    assert ((norms >= low - 1e-4) & (norms <= high + 1e-4)).all()
    line_mid = ((z0 + z1) / 2).norm(dim=1)
    assert (line_mid < 0.8 * norms[:, 3]).all()  # two random 100-d vectors: ~90 degrees apart
    # equal norms stay on the sphere; the angle grows evenly along the path
    a, b = z0 / z0.norm(dim=1, keepdim=True), z1 / z1.norm(dim=1, keepdim=True)
    unit = slerp(a, b, torch.linspace(0, 1, 5))
    assert torch.allclose(unit.norm(dim=2), torch.ones(5, 5), atol=1e-5)
    steps = torch.arccos((unit[:, 1:] * unit[:, :-1]).sum(2).clamp(-1, 1))
    assert torch.allclose(steps, steps[:, :1].expand_as(steps), atol=1e-4)


def test_slerp_parallel_pairs_fall_back_to_the_line():
    z0 = torch.tensor([[1.0, 2.0, 3.0]])
    path = slerp(z0, 2 * z0, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.isfinite(path).all()
    assert torch.allclose(path[0, 1], 1.5 * z0[0])


def test_truncation_scales_towards_the_mean():
    z = torch.randn(10, 4)
    assert truncate(z, 1.0) is z
    assert torch.equal(truncate(z, 0.5), z * 0.5)
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(UserError, match="truncation"):
            truncate(z, bad)


def test_sample_truncation_changes_images_deterministically(trained_run):
    plain = gankit.sample(trained_run, n=4, seed=1)
    assert torch.equal(gankit.sample(trained_run, n=4, seed=1, truncation=1.0), plain)
    low = gankit.sample(trained_run, n=4, seed=1, truncation=0.5)
    assert not torch.equal(low, plain)
    assert torch.equal(gankit.sample(trained_run, n=4, seed=1, truncation=0.5), low)


def test_interpolate_api_shapes_and_seed(trained_run):
    frames = gankit.interpolate(trained_run, frames=5, rows=3, seed=2)
    assert frames.shape == (3, 5, 1, 28, 28) and frames.dtype == torch.uint8
    # the ends of each row are the images of z0 and z1 themselves
    assert torch.equal(gankit.interpolate(trained_run, 5, rows=3, seed=2), frames)
    assert not torch.equal(frames[:, 0], frames[:, -1])
    with pytest.raises(UserError, match="frames"):
        gankit.interpolate(trained_run, frames=1)


def test_interpolate_api_still_takes_steps_with_a_deprecation_warning(trained_run):
    with pytest.warns(DeprecationWarning, match=r"steps=.*deprecated; use frames"):
        old = gankit.interpolate(trained_run, steps=3, rows=2, seed=1)
    assert torch.equal(old, gankit.interpolate(trained_run, frames=3, rows=2, seed=1))
    with pytest.raises(TypeError, match="frames only"):
        gankit.interpolate(trained_run, frames=3, steps=3)


def test_interpolate_cli_grid_and_gif(trained_run, tmp_path, capsys):
    out = tmp_path / "walk.png"
    assert main(["interpolate", str(trained_run), "--frames", "6", "--rows", "3", "--out",
                 str(out), "--gif", "--seed", "4", "--truncation", "0.7"]) == 0
    printed = capsys.readouterr().out
    assert "3 x 6" in printed and "6-frame" in printed
    grid = Image.open(out)
    # rows x frames tiles of 28 px with make_grid's 2 px padding
    assert grid.size == (6 * (28 + 2) + 2, 3 * (28 + 2) + 2)
    gif = Image.open(tmp_path / "walk.gif")
    assert gif.format == "GIF" and gif.n_frames == 6
    assert gif.info.get("loop") == 0


def test_gif_keeps_every_frame_of_a_constant_path():
    frames = torch.full((2, 4, 3, 8, 8), 128, dtype=torch.uint8)  # four identical steps, RGB
    pictures = gif_frames(frames)
    assert len(pictures) == 4 and len({p.tobytes() for p in pictures}) == 4


@pytest.mark.parametrize("args, message", [
    (["--frames", "1"], "--frames: must be >= 2"),
    (["--rows", "0"], "--rows: must be > 0"),
    (["--truncation", "0"], "--truncation: must be a finite number > 0"),
    (["--out", "x.gif", "--gif"], "--out names the grid PNG"),
])
def test_interpolate_user_errors(trained_run, tmp_path, capsys, args, message):
    assert main(["interpolate", str(trained_run), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_interpolate_missing_run_and_unwritable_out(trained_run, tmp_path, capsys):
    assert main(["interpolate", str(tmp_path / "nope")]) == 2
    assert "run directory not found" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["interpolate", str(trained_run), "--out", str(blocker / "i.png")]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert main(["interpolate", str(trained_run), "--out", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
