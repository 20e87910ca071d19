"""Draw the README's pictures from a trained default-preset run.

    python tools/readme_pictures.py runs/default      # after `make run`

writes ``docs/images/default_samples.png`` (100 samples of the EMA generator, seed 0, one
row per class) and ``docs/images/inpainting.png`` (eight digits of the embedded set: the
digit, its lower half hidden, and what ``gankit inpaint``'s defaults fill in). The
translation picture is a run's own ``samples/final.png`` (see docs/applications.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT = ROOT / "docs" / "images"


def _scaled(grid, factor: int):
    """A uint8 (C, H, W) grid enlarged ``factor`` times by repeating pixels (crisp digits)."""
    return grid.repeat_interleave(factor, 1).repeat_interleave(factor, 2)


def default_samples(run, out: Path) -> Path:
    """Ten samples of each class, one class a row."""
    import gankit
    from torchvision.io import write_png
    from torchvision.utils import make_grid

    images = gankit.sample(run, n=100, seed=0, classes=list(range(10)))  # (100, 1, 28, 28)
    grid = make_grid(images, nrow=10, padding=2, pad_value=0)
    write_png(_scaled(grid, 2).contiguous(), str(out))
    return out


def inpainting(run, out: Path, count: int = 8) -> Path:
    """Columns of (digit, lower half hidden, filled), one digit a column."""
    import torch
    from torchvision.io import write_png
    from torchvision.utils import make_grid

    from gankit.apps.inpaint import inpaint_image, lower_half_mask
    from gankit.config import resolve
    from gankit.data import load_dataset

    digits = load_dataset(resolve("default").data)
    picks = [int((digits.labels == k).nonzero()[7]) for k in range(count)]
    known = lower_half_mask(1, (28, 28))[0]  # (1, 28, 28): 1 = known (upper half)
    rows = [[], [], []]
    for index in picks:
        image = digits.samples[index]
        filled = inpaint_image(run, image, mask=known, seed=0)["filled"]
        rows[0].append(image)
        rows[1].append((image.float() * known).to(torch.uint8))
        rows[2].append(filled)
    tiles = torch.stack([tile for row in rows for tile in row])
    grid = make_grid(tiles, nrow=count, padding=2, pad_value=128)
    write_png(_scaled(grid, 2).contiguous(), str(out))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="a run of the default preset (make run: runs/default)")
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the PNGs")
    args = parser.parse_args(argv)
    import gankit

    run = gankit.load(args.run_dir)
    args.out.mkdir(parents=True, exist_ok=True)
    print(default_samples(run, args.out / "default_samples.png"))
    print(inpainting(run, args.out / "inpainting.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
