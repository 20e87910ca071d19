"""The ``gankit`` command: parses, validates, prints the resolved config, hands off.

User mistakes end as one line on stderr and exit code 2; no tensor maths lives here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gankit import __version__
from gankit.errors import UserError

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
  gankit sample runs/default -n 100 --format png --out samples/
  gankit sample runs/default -n 64 --truncation 0.7    # fewer odd samples, less variety""",
    "eval": """examples:
  gankit eval runs/default -n 5000 --json e.json      # the run's EMA generator vs its data
  gankit eval --samples samples.npz --data mnist5k    # any images (npz or folder)
  gankit eval runs/default --metrics fid,modes --extractor mnist-cnn""",
    "extractor": """examples:
  gankit extractor train --data mnist5k --out gankit/evaluation/metrics/weights/mnist_cnn.pt""",
    "interpolate": """examples:
  gankit interpolate runs/default                         # 8 rows x 10 steps -> runs/default/interp.png
  gankit interpolate runs/default --steps 16 --rows 4 --out walk.png --gif   # also walk.gif
  gankit interpolate runs/default --truncation 0.7 --seed 3""",
    "export": """examples:
  gankit export runs/default --out G.onnx                    # ONNX, dynamic batch axis
  gankit export runs/default --format torchscript --out G.pt""",
    "watch": """examples:
  gankit watch runs/default                  # refresh every 5 s until Ctrl-C
  gankit watch runs/default --interval 30
  gankit watch runs/default --once           # print once and exit""",
    "inpaint": """examples:
  gankit inpaint runs/default --image digit.png --box 0,14,28,14 --out filled.png
  gankit inpaint runs/default --image digit.png --mask mask.png --out filled.png  # white = missing
  gankit inpaint runs/default --image digit.png --box 8,8,12,12 --restarts 5 --steps 300""",
    "sweep": """examples:
  gankit sweep --preset seed-tutorial --trials 20 --steps 2000 \\
      --param optim.lr_g=loguniform:1e-5:1e-3 --param optim.beta1=uniform:0.0:0.9 \\
      --metric fid --budget-minutes 30 --storage sqlite:///sweep.db
  gankit sweep ... (the same command again)       # continues the study, no repeats
  gankit train --config sweeps/seed-tutorial-fid/best.yaml""",
    "report": """examples:
  gankit report runs/default                          # writes runs/default/report.html
  gankit report runs/default --out ~/report.html --neighbours 16""",
    "list": """examples:
  gankit list presets
  gankit list models""",
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a mistake in one line and exits with code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{message} (see `{self.prog} --help`)")


def _whole_number(minimum: int):
    """An argparse type: a whole number >= ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            bound = "> 0" if minimum == 1 else f">= {minimum}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value
    return parse


_positive_int = _whole_number(1)
_nonnegative_int = _whole_number(0)


def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _truncation(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0 (1 = none), got {text}")
    return value


def _at_least_two(text: str) -> int:
    value = _positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be >= 2 (both ends of the path), got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _class_list(text: str) -> list[int]:
    try:
        classes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected class numbers like 0,1,2, got {text!r}") from None
    if not classes:
        raise argparse.ArgumentTypeError("give at least one class number")
    return classes


def _add_ema_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ema", action=argparse.BooleanOptionalAction, default=True,
                        help="use the EMA generator when the run has one (default)")


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
    train.add_argument("--precision", choices=("fp32", "bf16", "fp16"),
                       help="autocast precision (default fp32: the exact maths; fp16 adds a "
                       "GradScaler)")
    train.add_argument("--compile", action="store_true", default=None,
                       help="torch.compile G and D (falls back to eager where unavailable)")
    train.add_argument("--cuda-graphs", action="store_true", default=None,
                       help="CUDA only: compile G and D in torch.compile's reduce-overhead "
                       "mode, which replays their passes as CUDA graphs")
    train.add_argument("--threads", type=_nonnegative_int,
                       help="CPU threads (default 0: the cores not already busy)")
    train.add_argument("--deterministic", action="store_true", default=None,
                       help="PyTorch's deterministic algorithms (train.deterministic)")
    train.add_argument("--keep", type=_positive_int, metavar="K",
                       help="checkpoints to keep (train.keep_checkpoints, default 3)")
    train.add_argument("--eval-every", type=_nonnegative_int, metavar="N",
                       help="log FID and mode counts every N steps (train.eval_every)")
    train.add_argument("--target", metavar="SCORE=VALUE", help="stop when a score reaches "
                       "VALUE, e.g. fid=20 (train.target; needs --eval-every)")
    train.add_argument("--diffaugment", metavar="POLICY", help="DiffAugment for D's inputs, "
                       "e.g. translation,cutout,color (train.diffaugment; '' turns it off)")
    train.add_argument("--pack", type=_positive_int, metavar="M", help="PacGAN: D judges M "
                       "samples at once, 2..4 typical (model.pack; batch size divisible by M)")
    train.add_argument("--nproc", type=_positive_int, metavar="N", help="train with N "
                       "processes on this machine (starts torchrun; DistributedDataParallel)")
    train.add_argument("--per-device-batch", type=_positive_int, metavar="B", help="under "
                       "torchrun: images per process, global batch B x processes "
                       "(train.per_device_batch; default: --batch-size split evenly)")
    train.add_argument("--sync-batchnorm", action="store_true", default=None,
                       help="under torchrun: BatchNorm statistics over the global batch "
                       "(train.sync_batchnorm)")

    sample = command("sample", "draw images from a trained run")
    sample.add_argument("run_dir", metavar="RUN_DIR", help="run directory or checkpoint file")
    sample.add_argument("-n", type=_positive_int, default=64, help="number of images (64)")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--out", help="output path (default RUN_DIR/sample.png|.npz|/pngs)")
    sample.add_argument("--format", choices=("grid", "png", "npz"), default="grid",
                        help="grid: one PNG; png: a folder of N files; npz: key images, "
                        "uint8 N x H x W x C")
    _add_ema_flag(sample)
    sample.add_argument("--show", action="store_true", help="show the grid with matplotlib")
    sample.add_argument("--truncation", type=_truncation, default=1.0, metavar="PSI",
                        help="truncation trick: z -> z * PSI (1: none; 0.5-0.8 typical)")
    sample.add_argument("--device", default="cpu")
    which = sample.add_mutually_exclusive_group()
    which.add_argument("--class", dest="classes", type=_class_list, metavar="K",
                       help="conditional runs: images of class K only")
    which.add_argument("--classes", type=_class_list, metavar="K1,K2,...",
                       help="conditional runs: one grid row (block of -n/len) per class")

    evaluate = command("eval", "score generated images: FID, KID, IS, precision/recall, "
                       "density/coverage, mode counts")
    evaluate.add_argument("run_dir", metavar="RUN_DIR", nargs="?", help="run to sample from")
    evaluate.add_argument("--samples", metavar="FILE.npz|FOLDER", help="score these images instead")
    evaluate.add_argument("--data", metavar="NAME|FOLDER", help="real reference set (default: "
                          "the run's data)")
    evaluate.add_argument("-n", type=_positive_int, help="images to generate (5000) or to take "
                          "from --samples (all)")
    evaluate.add_argument("--metrics", default="fid,kid,is,pr,dc,modes",
                          help="comma-separated (gankit list metrics)")
    evaluate.add_argument("--reference", choices=("train", "test"), default="train",
                          help="split of the real set to compare with")
    evaluate.add_argument("--json", metavar="PATH", help="write scores and provenance here")
    evaluate.add_argument("--extractor", help="feature extractor (gankit list extractors); "
                          "default mnist-cnn for small gray images, else inception")
    evaluate.add_argument("--extractor-weights", metavar="PATH", help="weights file for the "
                          "extractor (offline Inception)")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--device", default="cpu")
    evaluate.add_argument("--root", default="data", help="where torchvision data sets live")

    extractor = command("extractor", "train gankit's own feature extractor")
    extractor.add_argument("action", choices=("train",))
    extractor.add_argument("--data", default="mnist5k", help="labelled 28x28 gray data set")
    extractor.add_argument("--out", required=True, metavar="PATH", help="weights file to write")
    extractor.add_argument("--epochs", type=_positive_int, default=30)
    extractor.add_argument("--seed", type=int, default=0)

    interp = command("interpolate", "images along spherical paths between random latents: "
                     "one row per pair (and an animated GIF)")
    interp.add_argument("run_dir", metavar="RUN_DIR", help="run directory or checkpoint file")
    interp.add_argument("--steps", type=_at_least_two, default=10, help="images per row (10)")
    interp.add_argument("--rows", type=_positive_int, default=8, help="pairs of latents (8)")
    interp.add_argument("--out", metavar="PATH", help="grid PNG (default RUN_DIR/interp.png)")
    interp.add_argument("--gif", action="store_true", help="also write an animation, OUT "
                        "with the suffix .gif (one frame per step)")
    interp.add_argument("--seed", type=int, default=0)
    interp.add_argument("--truncation", type=_truncation, default=1.0, metavar="PSI",
                        help="truncation trick: z -> z * PSI (1: none)")
    _add_ema_flag(interp)
    interp.add_argument("--device", default="cpu")

    export = command("export", "write the (EMA) generator as ONNX or TorchScript: z (batch, "
                     "latent_dim) -> images (batch, C, H, W), dynamic batch axis")
    export.add_argument("run_dir", metavar="RUN_DIR", help="run directory or checkpoint file")
    export.add_argument("--format", choices=("onnx", "torchscript"), help="default: from the "
                        "--out suffix (.pt/.ts: torchscript), else onnx")
    export.add_argument("--out", metavar="PATH", help="file to write (default RUN_DIR/G.onnx "
                        "or RUN_DIR/G.pt)")
    export.add_argument("--ema", action=argparse.BooleanOptionalAction, default=True,
                        help="export the EMA generator when the run has one (default)")

    watch = command("watch", "follow a run in the terminal: newest grid, loss plot and "
                    "sparklines of the recent losses")
    watch.add_argument("run_dir", metavar="RUN_DIR", help="run directory")
    watch.add_argument("--interval", type=_positive_float, default=5.0, metavar="S",
                       help="seconds between refreshes (5)")
    watch.add_argument("--once", action="store_true", help="print once and exit")
    watch.add_argument("--width", type=_positive_int, default=40, help="sparkline length (40)")

    report = command("report", "write one self-contained HTML page about a run: config, "
                     "losses, metrics, samples, nearest real neighbours, collapse warnings")
    report.add_argument("run_dir", metavar="RUN_DIR", help="run directory")
    report.add_argument("--out", metavar="PATH", help="HTML file (default RUN_DIR/report.html)")
    report.add_argument("--neighbours", type=_nonnegative_int, default=8, metavar="N",
                        help="samples in the memorisation check (8; 0 skips it)")
    report.add_argument("--seed", type=int, default=0, help="seed of those samples")
    report.add_argument("--device", default="cpu")

    inpaint = command("inpaint", "fill missing pixels of an image with a trained generator: "
                      "search z (and the class) that match the known pixels, then blend")
    inpaint.add_argument("run_dir", metavar="RUN_DIR", help="run directory or checkpoint file")
    inpaint.add_argument("--image", required=True, metavar="PNG", help="the image (run's size)")
    hole = inpaint.add_mutually_exclusive_group(required=True)
    hole.add_argument("--mask", metavar="PNG", help="mask image: white = missing, black = known")
    hole.add_argument("--box", metavar="X,Y,W,H", help="missing rectangle (pixels)")
    inpaint.add_argument("--out", metavar="PNG", help="filled image (default RUN_DIR/inpainted.png)")
    inpaint.add_argument("--restarts", type=_positive_int, default=3,
                         help="random starts per image (per class when conditional) (3)")
    inpaint.add_argument("--steps", type=_positive_int, default=200, help="Adam steps (200)")
    inpaint.add_argument("--seed", type=int, default=0)
    inpaint.add_argument("--feature-weight", type=_nonnegative_float, default=0.0, metavar="W",
                         help="weight of the mnist-cnn feature loss on the known pixels (0: off)")
    _add_ema_flag(inpaint)
    inpaint.add_argument("--device", default="cpu")

    sweep = command("sweep", "hyper-parameter search with Optuna: trials of a preset with "
                    "sampled overrides, pruned on the logged metric, resumable (SQLite)")
    sweep.add_argument("--preset", default="default", help="recipe to start from")
    sweep.add_argument("--trials", type=_positive_int, default=20,
                       help="finished trials the study should hold (20)")
    sweep.add_argument("--param", dest="params", action="append", default=[],
                       metavar="KEY=KIND:ARGS", help="searched key: uniform:A:B, "
                       "loguniform:A:B, int:A:B or choice:X,Y,Z (repeatable)")
    sweep.add_argument("--metric", default="fid", choices=("fid", "modes", "mode_kl"),
                       help="logged score to optimise (fid)")
    sweep.add_argument("--budget-minutes", type=_nonnegative_float, default=0.0, metavar="M",
                       help="stop starting trials after M minutes; also caps each trial (0: none)")
    sweep.add_argument("--storage", default="sqlite:///sweep.db", metavar="URL",
                       help="Optuna storage (sqlite:///sweep.db)")
    sweep.add_argument("--study", metavar="NAME", help="study name (default PRESET-METRIC)")
    sweep.add_argument("--out", metavar="DIR", help="trial runs and best.yaml (default "
                       "sweeps/STUDY)")
    sweep.add_argument("--steps", type=_positive_int, help="train.steps of every trial")
    sweep.add_argument("--eval-every", type=_positive_int, metavar="N",
                       help="steps between logged metric values (default steps/4)")
    sweep.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="KEY=VALUE", help="fixed override for every trial (repeatable)")
    sweep.add_argument("--seed", type=int, default=0, help="sampler seed")
    sweep.add_argument("--verbose", action="store_true", help="show the trials' own messages")

    listing = command("list", "list presets, models, losses, datasets, metrics or extractors")
    listing.add_argument("what", choices=("presets", "models", "losses", "datasets", "metrics",
                                          "extractors"))
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
             "train.device": args.device, "train.deterministic": args.deterministic,
             "train.keep_checkpoints": args.keep}
    flags.update({"train.precision": args.precision, "train.compile": args.compile,
                  "train.cuda_graphs": args.cuda_graphs, "train.threads": args.threads})
    flags.update({"train.eval_every": getattr(args, "eval_every", None),
                  "train.target": getattr(args, "target", None)})
    flags["train.diffaugment"] = getattr(args, "diffaugment", None)
    flags["model.pack"] = getattr(args, "pack", None)
    flags["train.per_device_batch"] = getattr(args, "per_device_batch", None)
    flags["train.sync_batchnorm"] = getattr(args, "sync_batchnorm", None)
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
    from gankit.config import apply_overrides, from_dict, read_config_file, resolve, validate

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
    from gankit.training.distributed import env_rank, launch_local

    nproc = getattr(args, "nproc", None) or 1
    if nproc > 1 and not args.dry_run:
        from gankit.training.checkpoint import list_checkpoints

        if not args.resume and list_checkpoints(run_dir):
            raise UserError(f"{run_dir} already holds a run; add --resume to continue it or "
                            f"choose another --out")
        if not cfg.train.per_device_batch and cfg.train.batch_size % nproc:
            raise UserError(f"the batch size {cfg.train.batch_size} does not split evenly "
                            f"across {nproc} processes; choose a multiple of {nproc} or give "
                            f"--per-device-batch")
        return launch_local(nproc, getattr(args, "argv", None) or sys.argv[1:])
    say = print if env_rank() == 0 else (lambda *a, **k: None)  # torchrun: rank 0 prints
    say(describe(cfg))
    if args.dry_run:
        return 0
    say(f"run directory: {run_dir}")
    from gankit.training.loop import train

    train(cfg, run_dir, resume=bool(args.resume), progress=not args.no_progress)
    return 0


# --- sample ---------------------------------------------------------------------------------

def cmd_sample(args) -> int:
    from gankit.apps.sampling import load, sample, save_grid, save_npz, save_png_folder, show

    run = load(args.run_dir, device=args.device)
    images = sample(run, n=args.n, seed=args.seed, ema=args.ema,
                    truncation=args.truncation, classes=args.classes)
    base = Path(args.run_dir) if Path(args.run_dir).is_dir() else Path(args.run_dir).parent.parent
    default_out = {"grid": base / "sample.png", "npz": base / "samples.npz",
                   "png": base / "samples"}[args.format]
    out = Path(args.out) if args.out else default_out
    if len(run.image_shape) == 1:  # 2-D toy sets: scatter plot or npz key "points"
        from gankit.evaluation.points import write_points

        print(write_points(images, out, args.format, run.config.data.name, run.step))
        return 0
    try:
        if args.format == "grid":
            # --classes: one row per class
            rows = -(-args.n // len(args.classes)) if args.classes else None
            path = save_grid(images, out, nrow=rows)
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


# --- eval and extractor ---------------------------------------------------------------------

def cmd_eval(args) -> int:
    from gankit.evaluation.evaluate import evaluate, format_table, write_json

    if args.run_dir and args.samples:
        raise UserError("give either RUN_DIR or --samples, not both")
    if not args.run_dir and not args.samples:
        raise UserError("give a RUN_DIR to sample from, or --samples FILE --data NAME")
    if args.run_dir and not Path(args.run_dir).exists():
        raise UserError(f"run directory {args.run_dir} not found")
    result = evaluate(run_dir=args.run_dir, samples=args.samples, data=args.data, n=args.n,
                      metrics=args.metrics, reference=args.reference,
                      extractor=args.extractor, extractor_weights=args.extractor_weights,
                      seed=args.seed, device=args.device, root=args.root)
    print(format_table(result))
    if args.json:
        print(f"wrote {write_json(result, args.json)}")
    return 0


def cmd_extractor(args) -> int:
    from gankit.config import DataConfig
    from gankit.data import load_dataset
    from gankit.evaluation.metrics.extractors import train_mnist_cnn

    data = load_dataset(DataConfig(name=args.data, download=False))
    if data.images.shape[1] != 1:
        raise UserError(f"the extractor trains on gray images; {args.data} has "
                        f"{data.images.shape[1]} channels")
    result = train_mnist_cnn(data.images, data.labels, args.out, epochs=args.epochs,
                             seed=args.seed)
    print(f"wrote {result['path']}: held-out accuracy {result['accuracy']:.4f}, "
          f"sha256 {result['sha256']}")
    return 0


# --- interpolate ----------------------------------------------------------------------------

def cmd_interpolate(args) -> int:
    from gankit.apps.latent import interpolate, save_gif, save_interpolation_grid
    from gankit.apps.sampling import load

    if not Path(args.run_dir).exists():
        raise UserError(f"run directory not found: {args.run_dir}")
    run = load(args.run_dir, device=args.device)
    base = Path(args.run_dir) if Path(args.run_dir).is_dir() else Path(args.run_dir).parent.parent
    out = Path(args.out) if args.out else base / "interp.png"
    if args.gif and out.suffix.lower() == ".gif":
        raise UserError(f"--out names the grid PNG; the GIF goes beside it ({out.with_suffix('.png')}"
                        f" -> {out})")
    frames = interpolate(run, steps=args.steps, rows=args.rows, seed=args.seed,
                         truncation=args.truncation, ema=args.ema)
    path = save_interpolation_grid(frames, out)
    print(f"wrote {args.rows} x {args.steps} interpolation grid from step {run.step} to {path}")
    if args.gif:
        gif = save_gif(frames, out.with_suffix(".gif"))
        print(f"wrote {args.steps}-frame animation to {gif}")
    return 0


# --- export ---------------------------------------------------------------------------------

def cmd_export(args) -> int:
    from gankit.apps.export import export_generator
    from gankit.apps.sampling import load

    if not Path(args.run_dir).exists():
        raise UserError(f"run directory not found: {args.run_dir}")
    out = Path(args.out) if args.out else None
    fmt = args.format or ("torchscript" if out is not None
                          and out.suffix.lower() in (".pt", ".pth", ".ts") else "onnx")
    if out is None:
        base = Path(args.run_dir) if Path(args.run_dir).is_dir() else Path(args.run_dir).parent.parent
        out = base / ("G.onnx" if fmt == "onnx" else "G.pt")
    run = load(args.run_dir)
    path = export_generator(run, out, format=fmt, ema=args.ema)
    which = "EMA generator" if args.ema and run.G_ema is not None else "generator"
    print(f"wrote the {which} of step {run.step} as {fmt} to {path}: z float32 (batch, "
          f"{run.config.model.latent_dim}) -> images float32 (batch, "
          f"{', '.join(map(str, run.image_shape))}) in {run.config.data.value_range} range")
    return 0


# --- watch ----------------------------------------------------------------------------------

def cmd_watch(args) -> int:
    from gankit.apps.watch import watch

    return watch(args.run_dir, interval=args.interval, once=args.once, width=args.width)


# --- report ---------------------------------------------------------------------------------

def cmd_report(args) -> int:
    from gankit.apps.report import build_report

    path = build_report(args.run_dir, out=args.out, neighbours=args.neighbours, seed=args.seed,
                        device=args.device)
    print(f"wrote {path}")
    return 0


# --- inpaint and sweep ----------------------------------------------------------------------

def cmd_inpaint(args) -> int:
    from gankit.apps.inpaint import inpaint_image

    if not Path(args.run_dir).exists():
        raise UserError(f"run directory not found: {args.run_dir}")
    base = Path(args.run_dir) if Path(args.run_dir).is_dir() else Path(args.run_dir).parent.parent
    out = Path(args.out) if args.out else base / "inpainted.png"
    result = inpaint_image(args.run_dir, args.image, mask=args.mask, box=args.box, out=out,
                           restarts=args.restarts, steps=args.steps, seed=args.seed,
                           feature_weight=args.feature_weight, ema=args.ema,
                           device=args.device)
    label = f", class {result['label']}" if result["label"] is not None else ""
    print(f"wrote {result['path']}: {result['missing_pixels']} pixels filled{label}; "
          f"fit MSE on the known pixels {result['fit_mse']:.5f}, MSE on the filled pixels vs "
          f"the input's pixels there {result['hidden_mse']:.5f} (pixels in [0, 1])")
    return 0


def cmd_sweep(args) -> int:
    from gankit.apps.sweep import sweep

    result = sweep(args.preset, args.params, args.trials, args.storage, metric=args.metric,
                   study_name=args.study, out=args.out, steps=args.steps,
                   eval_every=args.eval_every, budget_minutes=args.budget_minutes,
                   overrides=_parse_set(args.overrides), seed=args.seed,
                   quiet=not args.verbose)
    print(result["table"])
    if result["best"] is not None:
        print(f"best: trial {result['best']['number']}, {args.metric} "
              f"{result['best']['value']:.4g}; config: {result['best_config']} "
              f"(gankit train --config {result['best_config']})")
    else:
        print("no trial has finished yet")
    return 0


# --- list -----------------------------------------------------------------------------------

def cmd_list(args) -> int:
    from gankit.config import PRESETS
    from gankit.data import DATASETS
    from gankit.core.losses import LOSSES
    from gankit.core.models import MODELS

    if args.what == "presets":
        rows = {name: make().description for name, make in PRESETS.items()}
    elif args.what == "models":
        rows = {name: desc for name, (_, desc) in MODELS.items()}
    elif args.what == "losses":
        rows = {name: loss.description for name, loss in LOSSES.items()}
    elif args.what == "metrics":
        from gankit.evaluation.metrics import METRICS

        rows = {name: metric.description for name, metric in METRICS.items()}
    elif args.what == "extractors":
        from gankit.evaluation.metrics import EXTRACTORS

        rows = {name: desc for name, (_, desc) in EXTRACTORS.items()}
    else:
        rows = {name: desc for name, (_, desc) in DATASETS.items()}
        rows["PATH"] = "any folder of images (recursive; sub-folders are classes)"
    width = max(map(len, rows))
    for name, text in rows.items():
        print(f"{name:<{width}}  {text}")
    return 0


def one_line(message: str) -> str:
    """The message with line breaks and other control characters (which may come from a
    user's file names) escaped, so that an error is always exactly one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


def main(argv: list[str] | None = None) -> int:
    handlers = {"train": cmd_train, "sample": cmd_sample, "list": cmd_list, "eval": cmd_eval,
                "extractor": cmd_extractor, "report": cmd_report,
                "interpolate": cmd_interpolate,
                "export": cmd_export,
                "watch": cmd_watch,
                "inpaint": cmd_inpaint, "sweep": cmd_sweep}
    try:
        args = build_parser().parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)  # train --nproc relaunches it
        return handlers[args.command](args)
    except UserError as exc:
        print(f"gankit: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gankit: interrupted", file=sys.stderr)
        return 130
