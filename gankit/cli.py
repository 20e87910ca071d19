"""The ``gankit`` command: parses, validates, prints the resolved config, hands off.

User mistakes end as one line on stderr and exit code 2; no tensor maths lives here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__
from .errors import UserError

EXAMPLES = {
    "train": """examples:
  gankit train                                  # default preset on the embedded digits
  gankit train --preset seed-mlp --epochs 1     # the tutorial's §4 recipe, one epoch
  gankit train --preset seed-mlp --dry-run      # print the resolved config and stop
  gankit train --data cifar10 --steps 20000 --set optim.lr_g=1e-4
  gankit train --data ./faces --image-size 64 --channels 3
  gankit train --resume runs/default --steps 8000""",
    "sample": """examples:
  gankit sample runs/default -n 64 --out grid.png
  gankit sample runs/default -n 5000 --format npz --out samples.npz
  gankit sample runs/default -n 100 --format png --out samples/""",
    "list": """examples:
  gankit list presets
  gankit list models""",
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a mistake in one line and exits with code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{message} (see `{self.prog} --help`)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gankit", description="Train, sample and evaluate GANs.")
    parser.add_argument("--version", action="version", version=f"gankit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help_text, description=help_text,
                                   epilog=EXAMPLES.get(name),
                                   formatter_class=argparse.RawDescriptionHelpFormatter)

    train = command("train", "train a GAN (a preset, a config file and overrides)")
    train.add_argument("--preset", default=None, help="recipe to start from (gankit list presets)")
    train.add_argument("--config", metavar="FILE", help="YAML, TOML or JSON file of overrides")
    train.add_argument("--data", metavar="NAME|FOLDER", help="data set name or image folder")
    train.add_argument("--image-size", type=_nonnegative_int, help="resize/crop images to S x S")
    train.add_argument("--channels", type=int, choices=(1, 3), help="1 grayscale, 3 RGB")
    train.add_argument("--epochs", type=_nonnegative_int, help="epoch budget (0: none)")
    train.add_argument("--steps", type=_nonnegative_int, help="step budget (0: none)")
    train.add_argument("--minutes", type=_nonnegative_float, help="wall-clock budget (0: none)")
    train.add_argument("--batch-size", type=_positive_int)
    train.add_argument("--seed", type=int)
    train.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    train.add_argument("--out", metavar="RUN_DIR", help="run directory (default runs/PRESET)")
    train.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="KEY=VALUE", help="override any config key, e.g. "
                       "optim.lr_g=1e-4 (repeatable)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
    train.add_argument("--dry-run", action="store_true", help="print the config and stop")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")

    sample = command("sample", "draw images from a trained run")
    sample.add_argument("run_dir", metavar="RUN_DIR", help="run directory or checkpoint file")
    sample.add_argument("-n", type=_positive_int, default=64, help="number of images (64)")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--out", help="output path (default RUN_DIR/sample.png|.npz|/pngs)")
    sample.add_argument("--format", choices=("grid", "png", "npz"), default="grid",
                        help="grid: one PNG; png: a folder of N files; npz: key images, "
                        "uint8 N x H x W x C")
    sample.add_argument("--ema", action=argparse.BooleanOptionalAction, default=True,
                        help="use the EMA generator when the run has one (default)")
    sample.add_argument("--show", action="store_true", help="show the grid with matplotlib")
    sample.add_argument("--device", default="cpu")

    listing = command("list", "list presets, models, losses or datasets")
    listing.add_argument("what", choices=("presets", "models", "losses", "datasets"))
    return parser


# --- train ----------------------------------------------------------------------------------

def _parse_set(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set takes KEY=VALUE, got {pair!r}")
        overrides[key.strip()] = value.strip()
    return overrides


def _flag_overrides(args) -> dict[str, object]:
    flags = {"data.name": args.data, "data.image_size": args.image_size,
             "data.channels": args.channels, "train.epochs": args.epochs,
             "train.steps": args.steps, "train.minutes": args.minutes,
             "train.batch_size": args.batch_size, "train.seed": args.seed,
             "train.device": args.device}
    return {k: v for k, v in flags.items() if v is not None}


def describe(cfg) -> str:
    """The resolved config, one line per section."""
    lines = [f"preset: {cfg.preset}" + (f"  ({cfg.description})" if cfg.description else "")]
    for section, values in cfg.to_dict().items():
        if isinstance(values, dict):
            body = " ".join(f"{k}={','.join(map(str, v)) if isinstance(v, (list, tuple)) else v}"
                            for k, v in values.items())
            lines.append(f"{section}: {body}")
    return "\n".join(lines)


def cmd_train(args) -> int:
    from .config import apply_overrides, from_dict, read_config_file, resolve, validate

    flags = _flag_overrides(args)
    sets = _parse_set(args.overrides)
    if args.resume:
        if args.preset or args.config:
            raise UserError("--resume continues a run with its own config; drop --preset/--config")
        run_dir = Path(args.resume)
        config_path = run_dir / "config.json"
        if not config_path.is_file():
            raise UserError(f"cannot resume: {config_path} not found")
        try:
            saved = from_dict(json.loads(config_path.read_text()))
        except ValueError:
            raise UserError(f"cannot resume: {config_path} is not valid JSON") from None
        cfg = apply_overrides(saved, {**flags, **sets})
        validate(cfg)
    else:
        file_overrides = read_config_file(args.config) if args.config else {}
        cfg = resolve(args.preset or "default", file_overrides, {**flags, **sets})
        run_dir = Path(args.out) if args.out else Path("runs") / cfg.preset
    if args.out and args.resume and Path(args.out) != run_dir:
        raise UserError("give the run directory once: --resume RUN_DIR (without --out)")
    print(describe(cfg))
    if args.dry_run:
        return 0
    print(f"run directory: {run_dir}")
    from .loop import train

    train(cfg, run_dir, resume=bool(args.resume), progress=not args.no_progress)
    return 0


# --- sample ---------------------------------------------------------------------------------

def cmd_sample(args) -> int:
    from .sampling import load, sample, save_grid, save_npz, save_png_folder, show

    run = load(args.run_dir, device=args.device)
    images = sample(run, n=args.n, seed=args.seed, ema=args.ema)
    base = Path(args.run_dir) if Path(args.run_dir).is_dir() else Path(args.run_dir).parent.parent
    default_out = {"grid": base / "sample.png", "npz": base / "samples.npz",
                   "png": base / "samples"}[args.format]
    out = Path(args.out) if args.out else default_out
    try:
        if args.format == "grid":
            path = save_grid(images, out)
        elif args.format == "npz":
            if out.suffix != ".npz":
                raise UserError(f"--format npz writes a .npz file, not {out}")
            path = save_npz(images, out)
        else:
            path = save_png_folder(images, out)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"wrote {args.n} images from step {run.step} to {path}")
    if args.show:
        show(images, nrow=max(1, int(round(args.n ** 0.5))))
    return 0


# --- list -----------------------------------------------------------------------------------

def cmd_list(args) -> int:
    from .config import PRESETS
    from .data import DATASETS
    from .losses import LOSSES
    from .models import MODELS

    if args.what == "presets":
        rows = {name: make().description for name, make in PRESETS.items()}
    elif args.what == "models":
        rows = {name: desc for name, (_, desc) in MODELS.items()}
    elif args.what == "losses":
        rows = {name: loss.description for name, loss in LOSSES.items()}
    else:
        rows = {name: desc for name, (_, desc) in DATASETS.items()}
        rows["PATH"] = "any folder of images (recursive; sub-folders are classes)"
    width = max(map(len, rows))
    for name, text in rows.items():
        print(f"{name:<{width}}  {text}")
    return 0


def main(argv: list[str] | None = None) -> int:
    handlers = {"train": cmd_train, "sample": cmd_sample, "list": cmd_list}
    try:
        args = build_parser().parse_args(argv)
        return handlers[args.command](args)
    except UserError as exc:
        print(f"gankit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gankit: interrupted", file=sys.stderr)
        return 130
