"""Loading a trained run and drawing images from it: grids, PNG folders, npz arrays."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gankit.training.checkpoint import latest_checkpoint, load_checkpoint
from gankit.config import Config, from_dict
from gankit.data import to_uint8
from gankit.errors import UserError, first_line
from gankit.core.models import build_models


@dataclass
class Run:
    """A trained run: networks in eval mode, its config and where it stopped."""

    G: nn.Module
    D: nn.Module
    G_ema: nn.Module | None
    config: Config
    step: int
    image_shape: tuple[int, int, int]
    num_classes: int
    run_dir: Path | None = None

    @property
    def generator(self) -> nn.Module:
        """The EMA generator when the run kept one, else G."""
        return self.G_ema if self.G_ema is not None else self.G


def load(run_dir_or_checkpoint: str | Path, device: str = "cpu") -> Run:
    """Load a run directory (its newest good checkpoint) or one checkpoint file."""
    import json

    path = Path(run_dir_or_checkpoint)
    if path.is_file():
        state = load_checkpoint(path, device)
        run_dir = path.parent.parent
    else:
        state = latest_checkpoint(path, device)
        run_dir = path
    try:
        cfg = from_dict(json.loads(state["config"]))
        shape = tuple(int(s) for s in state["image_shape"])
        num_classes = int(state.get("num_classes", 0))
        G, D = build_models(cfg.model, shape, num_classes)
        G.load_state_dict(state["G"])
        D.load_state_dict(state["D"])
        G_ema = None
        if state.get("G_ema") is not None:
            G_ema = build_models(cfg.model, shape, num_classes)[0]
            G_ema.load_state_dict(state["G_ema"])
    except UserError:
        raise
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        first = first_line(exc)
        raise UserError(f"checkpoint in {path} does not fit its model: {first[:200]}") from None
    for net in (G, D, G_ema):
        if net is not None:
            net.to(device).eval()
    return Run(G=G, D=D, G_ema=G_ema, config=cfg, step=int(state["step"]), image_shape=shape,
               num_classes=num_classes, run_dir=run_dir)


@torch.no_grad()
def class_labels(n: int, classes: list[int] | None, num_classes: int) -> torch.Tensor | None:
    """Labels (n,) for a conditional G: ``classes`` in consecutive blocks (one grid row per
    class), or all classes in turn when ``classes`` is None; None for unconditional G."""
    if not classes:
        return torch.arange(n) % num_classes if num_classes else None
    if not num_classes:
        raise UserError("this run is not class-conditional; --class/--classes need a model "
                        "trained with model.conditional=true on labelled data")
    bad = [c for c in classes if not 0 <= c < num_classes]
    if bad:
        raise UserError(f"class {bad[0]} is out of range: this run knows classes "
                        f"0..{num_classes - 1}")
    per_class = -(-n // len(classes))
    return torch.tensor(classes).repeat_interleave(per_class)[:n]


def generate(G: nn.Module, n: int, latent_dim: int, seed: int = 0, batch_size: int = 500,
             truncation: float = 1.0, labels: torch.Tensor | None = None) -> torch.Tensor:
    """n images (n, C, H, W) in the model's range from z ~ N(0, I) seeded by ``seed``.

    The noise is drawn on the CPU, all at once, so that a seed gives the same images on
    every device and for every ``batch_size``. ``labels`` (n,) pick the classes of a
    conditional G (default: all classes in turn).
    """
    device = next(G.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, latent_dim, generator=generator)
    if truncation != 1.0:  # the truncation trick, z * psi (see gankit.apps.latent)
        from gankit.apps.latent import truncate

        noise = truncate(noise, truncation)
    out = []
    for start in range(0, n, batch_size):
        z = noise[start:start + batch_size].to(device)
        if labels is None:
            out.append(G(z).float().cpu())
        else:
            out.append(G(z, labels[start:start + batch_size].to(device)).float().cpu())
    return torch.cat(out) if out else torch.empty(0)


def sample(run: Run | str | Path, n: int = 64, seed: int = 0, ema: bool = True,
           truncation: float = 1.0, classes: list[int] | None = None) -> torch.Tensor:
    """n images from a run as uint8 (n, C, H, W); ``truncation`` psi scales z (1: none).

    ``classes`` (conditional runs): images of these classes, in blocks of n / len(classes).
    Runs on 2-D point sets (ring8, grid25) give float32 points (n, 2) instead.
    """
    if not isinstance(run, Run):
        run = load(run)
    G = run.generator if ema else run.G
    if len(run.image_shape) == 1:  # points: no classes, no pixel range
        if classes:
            raise UserError("this run makes 2-D points; --class/--classes do not apply")
        with torch.no_grad():
            return generate(G, n, run.config.model.latent_dim, seed, truncation=truncation)
    labels = class_labels(n, classes, getattr(G, "num_classes", 0))
    images = generate(G, n, run.config.model.latent_dim, seed, truncation=truncation,
                      labels=labels)
    return to_uint8(images, run.config.data.value_range)


def save_grid(images_u8: torch.Tensor, path: str | Path, nrow: int | None = None) -> Path:
    """Save uint8 (N, C, H, W) images as one grid PNG (``make_grid`` layout, 2 px padding)."""
    from torchvision.utils import save_image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nrow = nrow or max(1, int(round(len(images_u8) ** 0.5)))
    save_image(images_u8.float() / 255.0, path, nrow=nrow, normalize=True, value_range=(0, 1))
    return path


def save_npz(images_u8: torch.Tensor, path: str | Path) -> Path:
    """Save as npz with key ``images``: uint8 (N, H, W, C)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, images=images_u8.permute(0, 2, 3, 1).contiguous().numpy())
    return path


def save_png_folder(images_u8: torch.Tensor, folder: str | Path) -> Path:
    """Save each image as ``folder/000000.png``."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    array = images_u8.permute(0, 2, 3, 1).numpy()
    for i, image in enumerate(array):
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(folder / f"{i:06d}.png")
    return folder


def show(images_u8: torch.Tensor, nrow: int = 4) -> None:
    """The tutorial's display: ``make_grid(nrow=4, normalize=True)`` in a matplotlib window."""
    import matplotlib

    if matplotlib.get_backend().lower() in ("agg", "pdf", "svg", "ps", "cairo"):
        raise UserError("--show needs a display (matplotlib has no interactive backend here); "
                        "use --out grid.png instead")
    import matplotlib.pyplot as plt
    from torchvision.utils import make_grid

    grid = make_grid(images_u8.float() / 255.0, nrow=nrow, normalize=True)
    plt.imshow(grid.permute(1, 2, 0).numpy())
    plt.axis("off")
    plt.show()
