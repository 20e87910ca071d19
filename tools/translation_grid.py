"""Draw the docs' emoji-styles picture: held-out emoji through each trained translator, beside
the input and the true target.

    python tools/translation_grid.py --runs pix2pix=runs/p2p cyclegan=runs/cg cut=runs/cut \
        --direction AtoB --out docs/translation/emoji_styles_google_to_twitter.png

One row per held-out emoji (the first ``--count`` of emoji-styles' held-out split, which no
run and no classifier trained on): input | each run's translation, in the order given |
the true target, every image enlarged 3x. Runs are read with their EMA generators where
they keep one, as ``gankit translate`` does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def grid(runs: dict[str, Path], direction: str, count: int, stride: int):
    """uint8 (3, H, W): ``count`` held-out emoji (every ``stride``-th) as rows of input |
    translations | truth."""
    import torch
    from torchvision.utils import make_grid

    import gankit
    from gankit.data import load_translation

    loaded = {name: gankit.load(path) for name, path in runs.items()}
    d = next(iter(loaded.values())).config.data
    data = load_translation(d.name, image_size=d.image_size, root=d.root)
    forward = direction == "AtoB"
    source, truth = (data.a_test, data.b_test) if forward else (data.b_test, data.a_test)
    rows = torch.arange(0, count * stride, stride)
    columns = [source[rows]] + [gankit.translate(run, source[rows], direction)
                                for run in loaded.values()] + [truth[rows]]
    images = torch.stack(columns, 1).flatten(0, 1)  # row by row
    picture = make_grid(images, nrow=len(columns), padding=2, pad_value=255)
    return picture.repeat_interleave(3, 1).repeat_interleave(3, 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="+", required=True, metavar="NAME=RUN_DIR")
    parser.add_argument("--direction", choices=("AtoB", "BtoA"), default="AtoB")
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--stride", type=int, default=37, help="every N-th held-out emoji "
                        "(37: a spread over the categories)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    from torchvision.io import write_png

    runs = dict(item.split("=", 1) for item in args.runs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_png(grid(runs, args.direction, args.count, args.stride).contiguous(), str(args.out))
    print(f"wrote {args.out}: input | {' | '.join(runs)} | target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
