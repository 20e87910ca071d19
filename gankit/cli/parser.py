"""The ``gankit`` argument parser: one sub-command per action, with examples in its help.

Flags that several sub-commands share come from :mod:`gankit.cli.argtypes`, so that a name
has one meaning and one help text everywhere: ``--steps`` is a training budget only,
``--device`` defaults to auto, ``--no-progress`` and ``--root`` mean the same wherever they
appear. Renamed flags keep their old spelling as a deprecated alias that warns.
"""

from __future__ import annotations

import argparse
from typing import Callable

from gankit import __version__
from gankit.cli.argtypes import (add_device_flag, add_ema_flag, add_progress_flag,
                                 add_renamed_flag, add_seed_flag, at_least_two, class_list,
                                 nonnegative_float, nonnegative_int, positive_float,
                                 positive_int, truncation)
from gankit.cli.config_flags import add_config_flags
from gankit.cli.examples import EXAMPLES
from gankit.cli.latent_parser import add_directions, add_edit, add_inpaint, add_project
from gankit.cli.listing import LISTINGS
from gankit.cli.studio_parser import add_studio
from gankit.errors import UserError

__all__ = ["EXAMPLES", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse that reports a mistake in one line, naming the help of the (sub-)command
    that was given, and exits with code 2 (through :class:`UserError`)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{message} (see `{self.prog} --help`)")

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:  # reported by the deepest sub-command given, not by `gankit` itself
            _deepest(self, namespace).error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace


def _deepest(parser: argparse.ArgumentParser, namespace: argparse.Namespace
             ) -> argparse.ArgumentParser:
    """The innermost sub-parser that ``namespace`` went through (``gankit data prepare``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = action.choices.get(getattr(namespace, action.dest, None) or "")
            if chosen is not None:
                return _deepest(chosen, namespace)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gankit", description="Train, sample and evaluate GANs.")
    parser.add_argument("--version", action="version", version=f"gankit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser,
                                     metavar="COMMAND", help="what to do; `gankit COMMAND "
                                     "--help` shows its flags and examples")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help_text, description=help_text,
                                   epilog=EXAMPLES.get(name),
                                   formatter_class=argparse.RawDescriptionHelpFormatter)

    for add in (_add_train, _add_sample, _add_eval, _add_extractor, _add_interpolate,
                _add_export, _add_watch, _add_report, add_inpaint, add_project,
                add_directions, add_edit, _add_sweep, _add_translate, add_studio, _add_data,
                _add_list):
        add(command)
    return parser


def _sub_commands(parser: argparse.ArgumentParser, dest: str, what: str):
    """The sub-sub-commands of ``parser`` (``gankit data prepare|verify``): a function
    ``(name, help, description) -> parser``."""
    actions = parser.add_subparsers(dest=dest, required=True, parser_class=_Parser,
                                    metavar="ACTION", help=what)

    def add(name: str, help_text: str, description: str | None = None):
        return actions.add_parser(name, help=help_text, description=description or help_text)
    return add


def _add_train(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    train = command("train", "train a GAN (a preset, a config file and overrides)")
    train.add_argument("--preset", default=None, help="recipe to start from (gankit list presets)")
    train.add_argument("--config", metavar="FILE", help="YAML, TOML or JSON file of overrides")
    train.add_argument("--out", metavar="RUN_DIR", help="run directory (default runs/PRESET)")
    train.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="KEY=VALUE", help="override any config key, e.g. "
                       "optim.lr_g=1e-4 (repeatable; the keys: gankit train --dry-run)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
    train.add_argument("--dry-run", action="store_true", help="print the config and stop")
    add_progress_flag(train)
    train.add_argument("--nproc", type=positive_int, metavar="N", help="train with N "
                       "processes on this machine (starts torchrun; DistributedDataParallel)")
    add_config_flags(train)  # one flag per config option that declares one (config/schema.py)


def _add_sample(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    sample = command("sample", "draw images from a trained run")
    sample.add_argument("run_dir", metavar="RUN_DIR", help="run directory or checkpoint file")
    sample.add_argument("-n", type=positive_int, default=64, help="number of images (64)")
    add_seed_flag(sample, 0, "latents")
    sample.add_argument("--out", help="output path (default RUN_DIR/sample.png|.npz|/pngs)")
    sample.add_argument("--format", choices=("grid", "png", "npz"), default="grid",
                        help="grid: one PNG; png: a folder of N files; npz: key images, "
                        "uint8 N x H x W x C")
    add_ema_flag(sample)
    sample.add_argument("--show", action="store_true", help="show the grid with matplotlib")
    sample.add_argument("--truncation", type=truncation, default=1.0, metavar="PSI",
                        help="truncation trick: z -> z * PSI (1: none; 0.5-0.8 typical)")
    add_device_flag(sample)
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
    add_seed_flag(evaluate, 0, "generated images and of the metrics' random subsets")
    add_device_flag(evaluate)
    evaluate.add_argument("--root", default="data", metavar="DIR", help="where the named "
                          "data set of --data lives (data.root; default data; a run's own "
                          "data is read where the run found it)")
    evaluate.add_argument("--direction", choices=("AtoB", "BtoA"), help="translation runs: "
                          "which way to translate the held-out images (default: the run's)")
    add_progress_flag(evaluate)


def _add_extractor(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    extractor = command("extractor", "gankit's own feature extractors (the classifiers "
                        "behind FID and mode counts on digits and emoji): list or train them")
    add = _sub_commands(extractor, "extractor_command", "list or train")
    add("list", "show the pinned extractors: weights file, sha256, training data",
        "show each extractor whose weights ship with gankit: its weights file, the sha256 "
        "every load checks, whether the file here matches it, what it was trained on and "
        "the command that makes the file again (reads the files; no network, no training)")
    train = add("train", "train one of gankit's classifiers and write its weights file",
                "train one of gankit's classifiers on the CPU (one thread, fixed seed: the "
                "same file on every machine) and write its weights file")
    which = train.add_mutually_exclusive_group()
    which.add_argument("--extractor", choices=("mnist-cnn", "digits-cnn", "emoji-cnn"),
                       default="mnist-cnn", help="which classifier: mnist-cnn (on --data), "
                       "digits-cnn (on digits2mnist's training digits) or emoji-cnn (on "
                       "the categories of emoji-google and emoji-twitter)")
    which.add_argument("--folder", default=None, metavar="DIR", help="instead, a classifier "
                       "of your labelled folder: one sub-folder of images per class "
                       "(DIR/CLASS/*.png), any size, gray or colour, read at 32 px; a tenth "
                       "of each class held out; for translation's semantic consistency")
    train.add_argument("--data", default=None, metavar="NAME|FOLDER", help="labelled 28x28 "
                       "gray data set for mnist-cnn (default mnist5k)")
    train.add_argument("--root", default="data", metavar="DIR", help="where named data sets "
                       "live (data.root; default data); emoji-cnn reads ROOT/emoji/")
    train.add_argument("--out", required=True, metavar="PATH", help="weights file to write")
    train.add_argument("--epochs", type=positive_int, default=None,
                       help="default 30 (mnist-cnn), 20 (digits-cnn), 16 (emoji-cnn), "
                       "20 (--folder)")
    add_seed_flag(train, 0, "weights' initialisation and the order of the training images")
    add_progress_flag(train)


def _add_interpolate(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    interp = command("interpolate", "images along spherical paths between random latents: "
                     "one row per pair (and an animated GIF)")
    interp.add_argument("run_dir", metavar="RUN_DIR", help="run directory or checkpoint file")
    add_renamed_flag(interp, "--frames", "--steps", type=at_least_two, default=10,
                     metavar="N", help="images per row, both ends included; the GIF's "
                     "frames (10)")
    interp.add_argument("--rows", type=positive_int, default=8, help="pairs of latents (8)")
    interp.add_argument("--out", metavar="PATH", help="grid PNG (default RUN_DIR/interp.png)")
    interp.add_argument("--gif", action="store_true", help="also write an animation, OUT "
                        "with the suffix .gif (one frame per column)")
    add_seed_flag(interp, 0, "latents")
    interp.add_argument("--truncation", type=truncation, default=1.0, metavar="PSI",
                        help="truncation trick: z -> z * PSI (1: none)")
    add_ema_flag(interp)
    add_device_flag(interp)


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
    add_seed_flag(report, 0, "samples of the memorisation check")
    add_device_flag(report)
    report.add_argument("--root", metavar="DIR", help="where the run's named data set lives, "
                        "for the memorisation check (data.root; default: the run's, "
                        "usually data)")


def _add_sweep(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    sweep = command("sweep", "hyper-parameter search with Optuna: trials of a preset with "
                    "sampled overrides, pruned on the logged metric, resumable (SQLite)")
    sweep.add_argument("--preset", default="default", help="recipe to start from (gankit "
                       "list presets; default: the preset named default)")
    sweep.add_argument("--trials", type=positive_int, default=20,
                       help="finished trials the study should hold (20)")
    sweep.add_argument("--param", dest="params", action="append", default=[],
                       metavar="KEY=KIND:ARGS", help="searched key: uniform:A:B, "
                       "loguniform:A:B, int:A:B or choice:X,Y,Z (repeatable)")
    sweep.add_argument("--metric", default="fid", choices=("fid", "modes", "mode_kl"),
                       help="logged score to optimise (fid)")
    add_renamed_flag(sweep, "--minutes", "--budget-minutes", type=nonnegative_float,
                     default=0.0, metavar="M", help="stop starting trials after M minutes; "
                     "also caps each trial (0: none)")
    sweep.add_argument("--storage", default="sqlite:///sweep.db", metavar="URL",
                       help="Optuna storage (sqlite:///sweep.db)")
    sweep.add_argument("--study", metavar="NAME", help="study name (default PRESET-METRIC)")
    sweep.add_argument("--out", metavar="DIR", help="trial runs and best.yaml (default "
                       "sweeps/STUDY)")
    add_renamed_flag(sweep, "--trial-steps", "--steps", type=positive_int, metavar="N",
                     help="train.steps of every trial (default: the preset's)")
    sweep.add_argument("--eval-every", type=positive_int, metavar="N",
                       help="steps between logged metric values (default trial steps/4)")
    sweep.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="KEY=VALUE", help="fixed override for every trial (repeatable)")
    sweep.add_argument("--root", metavar="DIR", help="data.root of every trial: where named "
                       "data sets live (default data)")
    add_device_flag(sweep, default=None)
    add_seed_flag(sweep, 0, "sampler that picks the trials' settings")
    sweep.add_argument("--verbose", action="store_true", help="show the trials' own messages")
    add_progress_flag(sweep)


def _add_translate(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    translate = command("translate", "translate images with a pix2pix, CycleGAN or CUT run: "
                        "one image or a folder, any size, PNG out")
    translate.add_argument("run_dir", metavar="RUN_DIR", help="run directory or checkpoint file")
    source = translate.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", metavar="IMAGE|FOLDER",
                        help="an image file, or a folder of images (searched recursively)")
    source.add_argument("--emoji", metavar="CODE[,CODE...]",
                        help="runs on emoji-styles: these emoji of its own (code points as "
                        "1f600, U+1F600 or the emoji itself), written as CODE.png")
    translate.add_argument("--out", required=True, metavar="PATH",
                           help="a .png file (one input) or a folder")
    translate.add_argument("--direction", choices=("AtoB", "BtoA"),
                           help="default: the run's (unpaired runs translate both ways)")
    translate.add_argument("--keep-size", action="store_true",
                           help="bring each output back to its input's size")
    add_ema_flag(translate)
    add_device_flag(translate)
    add_progress_flag(translate)


def _add_data(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    data = command("data", "prepare a data set once (a folder, zip, tar or named set -> a "
                   "memory-mapped array that opens instantly) or verify one")
    add = _sub_commands(data, "data_command", "prepare or verify")
    prepare = add("prepare", "decode images into a prepared data set", "decode images on "
                  "all cores into DIR: images.npy (uint8 N x C x H x W), labels.npy, "
                  "manifest.json")
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
    prepare.add_argument("--root", default="data", metavar="DIR", help="where named data "
                         "sets live (data.root; default data)")
    add_progress_flag(prepare)
    verify = add("verify", "check a prepared set's array against the sha256 in its manifest")
    verify.add_argument("dir", metavar="DIR", help="a prepared data set")


def _add_list(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    listing = command("list", "list presets, models, losses, datasets, translations (two-domain "
                      "sets), metrics or extractors")
    listing.add_argument("what", choices=tuple(LISTINGS), help="which registry to list")
