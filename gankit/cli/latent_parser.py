"""The parsers of the sub-commands that work in a run's latent space: ``gankit inpaint``,
``project``, ``directions`` and ``edit`` (torch-free: ``gankit --help`` imports this).

``--search-steps`` is the Adam steps of any latent search (inpaint, project); the search
flags are spelled and explained alike on both.
"""

from __future__ import annotations

import argparse
import math
import re
from typing import Callable

from gankit.apps import projection_defaults as projection
from gankit.apps.inpaint_defaults import PRIOR_WEIGHT, REALISM_WEIGHT
from gankit.cli.argtypes import (add_device_flag, add_ema_flag, add_progress_flag,
                                 add_renamed_flag, add_seed_flag, class_list,
                                 nonnegative_float, nonnegative_int, positive_int)

Command = Callable[[str, str], argparse.ArgumentParser]


def amount_range(text: str) -> str:
    """An argparse type: ``start:stop:count`` (count >= 1) or one number, both finite."""
    parts = text.split(":")
    try:
        numbers = [float(p) for p in parts[:2]]
        count = int(parts[2]) if len(parts) == 3 else 1
    except ValueError:
        numbers, count = [], 0
    if len(parts) not in (1, 3) or count < 1 or not all(map(math.isfinite, numbers)):
        raise argparse.ArgumentTypeError(f"expected start:stop:count (e.g. -3:3:7) or one "
                                         f"number, got {text!r}")
    return text


def _add_search_flags(parser: argparse.ArgumentParser, *, restarts: int, steps: int,
                      prior_weight: float, feature_weight: float,
                      old_steps: str | None = None) -> None:
    """The latent search's flags: --restarts, --search-steps, --seed, --prior-weight,
    --feature-weight."""
    parser.add_argument("--restarts", type=positive_int, default=restarts,
                        help=f"random starts per image (per class when conditional) "
                        f"({restarts})")
    steps_help = dict(type=positive_int, default=steps, metavar="N",
                      help=f"Adam steps of the latent search ({steps})")
    if old_steps:
        add_renamed_flag(parser, "--search-steps", old_steps, **steps_help)
    else:
        parser.add_argument("--search-steps", **steps_help)
    add_seed_flag(parser, 0, "random starts")
    parser.add_argument("--prior-weight", type=nonnegative_float, default=prior_weight,
                        metavar="W", help=f"weight of the prior on z ({prior_weight:g})")
    off = ": off" if not feature_weight else ""
    parser.add_argument("--feature-weight", type=nonnegative_float, default=feature_weight,
                        metavar="W", help=f"weight of the mnist-cnn feature loss on the "
                        f"known pixels ({feature_weight:g}{off})")


def _add_sources(parser: argparse.ArgumentParser, what: str) -> None:
    """--image PNG | --input DIR, one required."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", metavar="PNG", help="one image (the run's size)")
    source.add_argument("--input", metavar="DIR", help=f"a folder of images at the run's "
                        f"size (searched recursively), {what} in batches with one model load")


def add_inpaint(command: Command) -> None:
    inpaint = command("inpaint", "fill missing pixels of an image, or of every image of a "
                      "folder, with a trained generator: search z (and the class) that "
                      "match the known pixels, then blend")
    inpaint.add_argument("run_dir", metavar="RUN_DIR", help="run directory or checkpoint file")
    _add_sources(inpaint, "filled")
    hole = inpaint.add_mutually_exclusive_group(required=True)
    hole.add_argument("--mask", metavar="PNG", help="mask image: white = missing, black = "
                      "known (one mask for every image of --input)")
    hole.add_argument("--box", metavar="X,Y,W,H", help="missing rectangle (pixels)")
    inpaint.add_argument("--out", metavar="PNG|DIR", help="the filled image (default "
                         "RUN_DIR/inpainted.png); with --input a folder of them, the "
                         "inputs' relative paths as .png (default RUN_DIR/inpainted/)")
    _add_search_flags(inpaint, restarts=3, steps=200, prior_weight=PRIOR_WEIGHT,
                      feature_weight=0.0, old_steps="--steps")
    inpaint.add_argument("--realism-weight", type=nonnegative_float, default=REALISM_WEIGHT,
                         metavar="W", help=f"weight of the run's D on the whole image "
                                           f"({REALISM_WEIGHT:g}: off)")
    add_ema_flag(inpaint)
    add_device_flag(inpaint)
    add_progress_flag(inpaint)


def add_project(command: Command) -> None:
    project = command("project", "find the latent z (and the class) whose generated image "
                      "best matches each real image (GAN inversion): latents, "
                      "reconstructions and the search's path")
    project.add_argument("run_dir", metavar="RUN_DIR", help="run directory or checkpoint file")
    _add_sources(project, "projected")
    project.add_argument("--out", metavar="DIR", help="folder for the reconstructions (the "
                         "inputs' relative paths as .png), latents.npz (z, labels, fit_mse, "
                         "psnr, names) and trace/ (default RUN_DIR/projection/)")
    _add_search_flags(project, restarts=projection.RESTARTS, steps=projection.SEARCH_STEPS,
                      prior_weight=projection.PRIOR_WEIGHT,
                      feature_weight=projection.FEATURE_WEIGHT)
    project.add_argument("--trace", type=positive_int, metavar="N", help="also write "
                         "OUT/trace/NAME.png: the generated image every N search steps, left "
                         "to right (the start and the end included)")
    add_ema_flag(project)
    add_device_flag(project)


def add_directions(command: Command) -> None:
    directions = command("directions", "compute the run's latent directions without "
                         "training (SeFa: eigenvectors of W^T W of the first layer z enters), "
                         "sorted by eigenvalue, signs fixed")
    directions.add_argument("run_dir", metavar="RUN_DIR", help="run directory or checkpoint "
                            "file")
    directions.add_argument("--out", metavar="NPZ", help="directions (K x latent_dim, unit "
                            "rows), eigenvalues, layer and sign rule (default "
                            "RUN_DIR/directions.npz)")
    add_ema_flag(directions)
    add_device_flag(directions)


def add_edit(command: Command) -> None:
    edit = command("edit", "edit latents (e.g. gankit project's): walk along one SeFa "
                   "direction, or change the class; one strip row per latent")
    edit.add_argument("run_dir", metavar="RUN_DIR", help="run directory or checkpoint file")
    edit.add_argument("--latents", required=True, metavar="NPZ", help="latents: key z "
                      "(N x latent_dim) and, for a conditional run, labels (gankit project "
                      "writes both)")
    how = edit.add_mutually_exclusive_group(required=True)
    how.add_argument("--component", type=nonnegative_int, metavar="K", help="walk along "
                     "direction K (0: the largest eigenvalue)")
    how.add_argument("--class", dest="classes", type=class_list, metavar="K[,K...]",
                     help="conditional runs: the same z with class K instead (first column: "
                     "its own class)")
    # "--amount -3:3:7": a value that starts like a negative number is a value, not a flag
    edit._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)(e-?\d+)?(:|$)")
    edit.add_argument("--amount", type=amount_range, default="-3:3:7", metavar="A:B:N",
                      help="N amounts from A to B along the direction, in raw latent units "
                      "(= standard deviations of z's prior) (-3:3:7)")
    edit.add_argument("--sefa", metavar="NPZ", help="the directions gankit directions "
                      "wrote (default: computed from the run)")
    edit.add_argument("--out", metavar="PNG", help="the strip: a row per latent, a column "
                      "per amount (default RUN_DIR/edit.png)")
    add_ema_flag(edit)
    add_device_flag(edit)
