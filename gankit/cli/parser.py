"""The ``gankit`` argument parser: one sub-command per action, with examples in its help."""

from __future__ import annotations

import argparse
from typing import Callable

from gankit import __version__
from gankit.apps.inpaint_defaults import PRIOR_WEIGHT, REALISM_WEIGHT
from gankit.cli.argtypes import (add_ema_flag, at_least_two, class_list, nonnegative_float,
                                 nonnegative_int, positive_float, positive_int, truncation)
from gankit.cli.listing import LISTINGS
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
  gankit extractor train --data mnist5k --out gankit/evaluation/metrics/weights/mnist_cnn.pt
  gankit extractor train --extractor digits-cnn --out gankit/evaluation/metrics/weights/digits_cnn.pt
  gankit extractor train --extractor emoji-cnn --root data --out gankit/evaluation/metrics/weights/emoji_cnn.pt""",
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
    "translate": """examples:
  gankit translate runs/pix2pix --input digits8px/ --out upscaled/   # a folder, PNGs out
  gankit translate runs/cyclegan --input digit.png --out mnist.png --direction AtoB
  gankit translate runs/cyclegan --input mnist/ --out digits/ --direction BtoA --keep-size""",
    "data": """examples:
  gankit data prepare ./photos --out photos.prepared --image-size 64   # sub-folders are classes
  gankit data prepare photos.zip --out photos.prepared --image-size 64 --resize pad --skip-bad
  gankit data prepare emoji-google --out emoji64     # a registered set (gankit list datasets)
  gankit data verify photos.prepared                 # the sha256 of the whole array
  gankit train --data photos.prepared --mirror""",
    "list": """examples:
  gankit list presets
  gankit list models""",
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a mistake in one line and exits with code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gankit", description="Train, sample and evaluate GANs.")
    parser.add_argument("--version", action="version", version=f"gankit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help_text, description=help_text,
                                   epilog=EXAMPLES.get(name),
                                   formatter_class=argparse.RawDescriptionHelpFormatter)

    for add in (_add_train, _add_sample, _add_eval, _add_extractor, _add_interpolate,
                _add_export, _add_watch, _add_report, _add_inpaint, _add_sweep, _add_translate,
                _add_data, _add_list):
        add(command)
    return parser


def _add_train(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    train = command("train", "train a GAN (a preset, a config file and overrides)")
    train.add_argument("--preset", default=None, help="recipe to start from (gankit list presets)")
    train.add_argument("--config", metavar="FILE", help="YAML, TOML or JSON file of overrides")
    train.add_argument("--data", metavar="NAME|FOLDER", help="data set name or image folder")
    train.add_argument("--image-size", type=nonnegative_int, help="resize/crop images to S x S")
    train.add_argument("--channels", type=int, choices=(1, 3), help="1 grayscale, 3 RGB")
    train.add_argument("--mirror", action="store_true", default=None, help="random "
                       "left-right flips of the real images, seeded per batch (data.mirror)")
    train.add_argument("--epochs", type=nonnegative_int, help="epoch budget (0: none)")
    train.add_argument("--steps", type=nonnegative_int, help="step budget (0: none)")
    train.add_argument("--minutes", type=nonnegative_float, help="wall-clock budget (0: none)")
    train.add_argument("--batch-size", type=positive_int)
    train.add_argument("--seed", type=int)
    train.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    train.add_argument("--out", metavar="RUN_DIR", help="run directory (default runs/PRESET)")
    train.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="KEY=VALUE", help="override any config key, e.g. "
                       "optim.lr_g=1e-4 (repeatable)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
    train.add_argument("--dry-run", action="store_true", help="print the config and stop")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--precision", choices=("fp32", "bf16", "fp16", "auto"),
                       help="autocast precision (default fp32: the exact maths; fp16 adds a "
                       "GradScaler; auto: bf16 where the GPU or CPU has native bf16, "
                       "else fp32)")
    train.add_argument("--compile", action="store_true", default=None,
                       help="torch.compile G and D (falls back to eager where unavailable)")
    train.add_argument("--cuda-graphs", action="store_true", default=None,
                       help="CUDA only: compile G and D in torch.compile's reduce-overhead "
                       "mode, which replays their passes as CUDA graphs")
    train.add_argument("--threads", type=nonnegative_int,
                       help="CPU threads (default 0: the cores not already busy)")
    train.add_argument("--deterministic", action="store_true", default=None,
                       help="PyTorch's deterministic algorithms (train.deterministic)")
    train.add_argument("--keep", type=positive_int, metavar="K",
                       help="checkpoints to keep (train.keep_checkpoints, default 3)")
    train.add_argument("--eval-every", type=nonnegative_int, metavar="N",
                       help="log FID and mode counts every N steps (train.eval_every)")
    train.add_argument("--target", metavar="SCORE=VALUE", help="stop when a score reaches "
                       "VALUE, e.g. fid=20 (train.target; needs --eval-every)")
    train.add_argument("--diffaugment", metavar="POLICY", help="DiffAugment for D's inputs, "
                       "e.g. translation,cutout,color (train.diffaugment; '' turns it off)")
    train.add_argument("--pack", type=positive_int, metavar="M", help="PacGAN: D judges M "
                       "samples at once, 2..4 typical (model.pack; batch size divisible by M)")
    train.add_argument("--nproc", type=positive_int, metavar="N", help="train with N "
                       "processes on this machine (starts torchrun; DistributedDataParallel)")
    train.add_argument("--per-device-batch", type=positive_int, metavar="B", help="under "
                       "torchrun: images per process, global batch B x processes "
                       "(train.per_device_batch; default: --batch-size split evenly)")
    train.add_argument("--sync-batchnorm", action="store_true", default=None,
                       help="under torchrun: BatchNorm statistics over the global batch "
                       "(train.sync_batchnorm)")


def _add_sample(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    sample = command("sample", "draw images from a trained run")
    sample.add_argument("run_dir", metavar="RUN_DIR", help="run directory or checkpoint file")
    sample.add_argument("-n", type=positive_int, default=64, help="number of images (64)")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--out", help="output path (default RUN_DIR/sample.png|.npz|/pngs)")
    sample.add_argument("--format", choices=("grid", "png", "npz"), default="grid",
                        help="grid: one PNG; png: a folder of N files; npz: key images, "
                        "uint8 N x H x W x C")
    add_ema_flag(sample)
    sample.add_argument("--show", action="store_true", help="show the grid with matplotlib")
    sample.add_argument("--truncation", type=truncation, default=1.0, metavar="PSI",
                        help="truncation trick: z -> z * PSI (1: none; 0.5-0.8 typical)")
    sample.add_argument("--device", default="cpu")
    which = sample.add_mutually_exclusive_group()
    which.add_argument("--class", dest="classes", type=class_list, metavar="K",
                       help="conditional runs: images of class K only")
    which.add_argument("--classes", type=class_list, metavar="K1,K2,...",
                       help="conditional runs: one grid row (block of -n/len) per class")


def _add_eval(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    evaluate = command("eval", "score generated images: FID, KID, IS, precision/recall, "
                       "density/coverage, mode counts")
    evaluate.add_argument("run_dir", metavar="RUN_DIR", nargs="?", help="run to sample from")
    evaluate.add_argument("--samples", metavar="FILE.npz|FOLDER", help="score these images instead")
    evaluate.add_argument("--data", metavar="NAME|FOLDER", help="real reference set (default: "
                          "the run's data)")
    evaluate.add_argument("-n", type=positive_int, help="images to generate (5000) or to take "
                          "from --samples (all)")
    evaluate.add_argument("--metrics", default="fid,kid,is,pr,dc,modes",
                          help="comma-separated (gankit list metrics)")
    evaluate.add_argument("--reference", choices=("train", "test"), default="train",
                          help="split of the real set to compare with")
    evaluate.add_argument("--json", metavar="PATH", help="write scores and provenance here")
    evaluate.add_argument("--extractor", help="feature extractor (gankit list extractors); "
                          "default mnist-cnn for small gray images, emoji-cnn for the emoji "
                          "sets, else inception")
    evaluate.add_argument("--extractor-weights", metavar="PATH", help="weights file for the "
                          "extractor (offline Inception)")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--device", default="cpu")
    evaluate.add_argument("--root", default="data", help="where torchvision data sets live")
    evaluate.add_argument("--direction", choices=("AtoB", "BtoA"), help="translation runs: "
                          "which way to translate the held-out images (default: the run's)")


def _add_extractor(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    extractor = command("extractor", "train gankit's own feature extractor")
    extractor.add_argument("action", choices=("train",))
    extractor.add_argument("--extractor", choices=("mnist-cnn", "digits-cnn", "emoji-cnn"),
                           default="mnist-cnn", help="which classifier: mnist-cnn (on --data), "
                           "digits-cnn (on digits2mnist's training digits) or emoji-cnn (on "
                           "the categories of emoji-google and emoji-twitter)")
    extractor.add_argument("--data", default=None, help="labelled 28x28 gray data set for "
                           "mnist-cnn (default mnist5k)")
    extractor.add_argument("--root", default="data", help="emoji-cnn: data.root of the emoji "
                           "sets (their cache and tarballs are in ROOT/emoji/)")
    extractor.add_argument("--out", required=True, metavar="PATH", help="weights file to write")
    extractor.add_argument("--epochs", type=positive_int, default=None,
                           help="default 30 (mnist-cnn), 20 (digits-cnn), 16 (emoji-cnn)")
    extractor.add_argument("--seed", type=int, default=0)


def _add_interpolate(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    interp = command("interpolate", "images along spherical paths between random latents: "
                     "one row per pair (and an animated GIF)")
    interp.add_argument("run_dir", metavar="RUN_DIR", help="run directory or checkpoint file")
    interp.add_argument("--steps", type=at_least_two, default=10, help="images per row (10)")
    interp.add_argument("--rows", type=positive_int, default=8, help="pairs of latents (8)")
    interp.add_argument("--out", metavar="PATH", help="grid PNG (default RUN_DIR/interp.png)")
    interp.add_argument("--gif", action="store_true", help="also write an animation, OUT "
                        "with the suffix .gif (one frame per step)")
    interp.add_argument("--seed", type=int, default=0)
    interp.add_argument("--truncation", type=truncation, default=1.0, metavar="PSI",
                        help="truncation trick: z -> z * PSI (1: none)")
    add_ema_flag(interp)
    interp.add_argument("--device", default="cpu")


def _add_export(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    export = command("export", "write the (EMA) generator as ONNX or TorchScript: z (batch, "
                     "latent_dim) -> images (batch, C, H, W), dynamic batch axis")
    export.add_argument("run_dir", metavar="RUN_DIR", help="run directory or checkpoint file")
    export.add_argument("--format", choices=("onnx", "torchscript"), help="default: from the "
                        "--out suffix (.pt/.ts: torchscript), else onnx")
    export.add_argument("--out", metavar="PATH", help="file to write (default RUN_DIR/G.onnx "
                        "or RUN_DIR/G.pt)")
    export.add_argument("--ema", action=argparse.BooleanOptionalAction, default=True,
                        help="export the EMA generator when the run has one (default)")
    export.add_argument("--direction", choices=("AtoB", "BtoA"),
                        help="translation runs: which translator (default: the run's)")


def _add_watch(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    watch = command("watch", "follow a run in the terminal: newest grid, loss plot and "
                    "sparklines of the recent losses")
    watch.add_argument("run_dir", metavar="RUN_DIR", help="run directory")
    watch.add_argument("--interval", type=positive_float, default=5.0, metavar="S",
                       help="seconds between refreshes (5)")
    watch.add_argument("--once", action="store_true", help="print once and exit")
    watch.add_argument("--width", type=positive_int, default=40, help="sparkline length (40)")


def _add_report(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    report = command("report", "write one self-contained HTML page about a run: config, "
                     "losses, metrics, samples, nearest real neighbours, collapse warnings")
    report.add_argument("run_dir", metavar="RUN_DIR", help="run directory")
    report.add_argument("--out", metavar="PATH", help="HTML file (default RUN_DIR/report.html)")
    report.add_argument("--neighbours", type=nonnegative_int, default=8, metavar="N",
                        help="samples in the memorisation check (8; 0 skips it)")
    report.add_argument("--seed", type=int, default=0, help="seed of those samples")
    report.add_argument("--device", default="cpu")


def _add_inpaint(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    inpaint = command("inpaint", "fill missing pixels of an image with a trained generator: "
                      "search z (and the class) that match the known pixels, then blend")
    inpaint.add_argument("run_dir", metavar="RUN_DIR", help="run directory or checkpoint file")
    inpaint.add_argument("--image", required=True, metavar="PNG", help="the image (run's size)")
    hole = inpaint.add_mutually_exclusive_group(required=True)
    hole.add_argument("--mask", metavar="PNG", help="mask image: white = missing, black = known")
    hole.add_argument("--box", metavar="X,Y,W,H", help="missing rectangle (pixels)")
    inpaint.add_argument("--out", metavar="PNG", help="filled image (default RUN_DIR/inpainted.png)")
    inpaint.add_argument("--restarts", type=positive_int, default=3,
                         help="random starts per image (per class when conditional) (3)")
    inpaint.add_argument("--steps", type=positive_int, default=200, help="Adam steps (200)")
    inpaint.add_argument("--seed", type=int, default=0)
    inpaint.add_argument("--feature-weight", type=nonnegative_float, default=0.0, metavar="W",
                         help="weight of the mnist-cnn feature loss on the known pixels (0: off)")
    inpaint.add_argument("--prior-weight", type=nonnegative_float, default=PRIOR_WEIGHT,
                         metavar="W", help=f"weight of the prior on z ({PRIOR_WEIGHT:g})")
    inpaint.add_argument("--realism-weight", type=nonnegative_float, default=REALISM_WEIGHT,
                         metavar="W", help=f"weight of the run's D on the whole image "
                                           f"({REALISM_WEIGHT:g}: off)")
    add_ema_flag(inpaint)
    inpaint.add_argument("--device", default="cpu")


def _add_sweep(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    sweep = command("sweep", "hyper-parameter search with Optuna: trials of a preset with "
                    "sampled overrides, pruned on the logged metric, resumable (SQLite)")
    sweep.add_argument("--preset", default="default", help="recipe to start from")
    sweep.add_argument("--trials", type=positive_int, default=20,
                       help="finished trials the study should hold (20)")
    sweep.add_argument("--param", dest="params", action="append", default=[],
                       metavar="KEY=KIND:ARGS", help="searched key: uniform:A:B, "
                       "loguniform:A:B, int:A:B or choice:X,Y,Z (repeatable)")
    sweep.add_argument("--metric", default="fid", choices=("fid", "modes", "mode_kl"),
                       help="logged score to optimise (fid)")
    sweep.add_argument("--budget-minutes", type=nonnegative_float, default=0.0, metavar="M",
                       help="stop starting trials after M minutes; also caps each trial (0: none)")
    sweep.add_argument("--storage", default="sqlite:///sweep.db", metavar="URL",
                       help="Optuna storage (sqlite:///sweep.db)")
    sweep.add_argument("--study", metavar="NAME", help="study name (default PRESET-METRIC)")
    sweep.add_argument("--out", metavar="DIR", help="trial runs and best.yaml (default "
                       "sweeps/STUDY)")
    sweep.add_argument("--steps", type=positive_int, help="train.steps of every trial")
    sweep.add_argument("--eval-every", type=positive_int, metavar="N",
                       help="steps between logged metric values (default steps/4)")
    sweep.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="KEY=VALUE", help="fixed override for every trial (repeatable)")
    sweep.add_argument("--seed", type=int, default=0, help="sampler seed")
    sweep.add_argument("--verbose", action="store_true", help="show the trials' own messages")


def _add_translate(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    translate = command("translate", "translate images with a pix2pix or CycleGAN run: one "
                        "image or a folder, any size, PNG out")
    translate.add_argument("run_dir", metavar="RUN_DIR", help="run directory or checkpoint file")
    translate.add_argument("--input", required=True, metavar="IMAGE|FOLDER")
    translate.add_argument("--out", required=True, metavar="PATH",
                           help="a .png file (one input) or a folder")
    translate.add_argument("--direction", choices=("AtoB", "BtoA"),
                           help="default: the run's (unpaired runs translate both ways)")
    translate.add_argument("--keep-size", action="store_true",
                           help="bring each output back to its input's size")
    add_ema_flag(translate)
    translate.add_argument("--device", default="cpu")


def _add_data(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    data = command("data", "prepare a data set once (a folder, zip, tar or named set -> a "
                   "memory-mapped array that opens instantly) or verify one")
    actions = data.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    prepare = actions.add_parser("prepare", help="decode images into a prepared data set",
                                 description="decode images on all cores into DIR: "
                                 "images.npy (uint8 N x C x H x W), labels.npy, manifest.json")
    prepare.add_argument("source", metavar="SOURCE", help="folder (sub-folders are classes), "
                         ".zip, .tar/.tar.gz/.tgz, or a data set name")
    prepare.add_argument("--out", required=True, metavar="DIR", help="the prepared set (new)")
    prepare.add_argument("--image-size", type=nonnegative_int, default=0, metavar="S",
                         help="make every image S x S (needed when sizes differ)")
    prepare.add_argument("--resize", choices=("center-crop", "pad"), default="center-crop",
                         help="center-crop: fill S x S, cut the ends (default); pad: keep "
                         "the whole image, fill with the background")
    prepare.add_argument("--background", default="white", metavar="COLOUR",
                         help="white (default), black or #rrggbb: behind transparent pixels "
                         "and padding")
    prepare.add_argument("--channels", type=int, choices=(0, 1, 3), default=0,
                         help="0: grayscale if no image has colour, else RGB (default)")
    prepare.add_argument("--workers", type=nonnegative_int, default=0, metavar="N",
                         help="decoding processes (0: all cores)")
    prepare.add_argument("--skip-bad", action="store_true", help="skip unreadable files "
                         "(listed in the manifest) instead of stopping at the first")
    prepare.add_argument("--root", default="data", help="where named data sets live (data.root)")
    prepare.add_argument("--no-progress", action="store_true", help="no progress bar")
    verify = actions.add_parser("verify", help="check a prepared set's array against the "
                                "sha256 in its manifest")
    verify.add_argument("dir", metavar="DIR", help="a prepared data set")


def _add_list(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    listing = command("list", "list presets, models, losses, datasets, translations (two-domain "
                      "sets), metrics or extractors")
    listing.add_argument("what", choices=tuple(LISTINGS))
