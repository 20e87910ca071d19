"""Image translation benchmark: pix2pix, CycleGAN and CUT on the built-in sets, over seeds,
beside the baselines they must beat.

  python bench/translation.py                       # digits2mnist and mnist-8px, seeds 0,1,2
  python bench/translation.py --tasks mnist-8px --seeds 0
  python bench/translation.py --seeds none          # the baselines only (seconds)
  python bench/translation.py --tasks digits2mnist --methods cyclegan,"cyclegan + semantic","cut AtoB","cut BtoA"
  python bench/translation.py --tasks emoji-styles  # colour, with true targets, 32 px
  python bench/translation.py --tasks emoji-styles --seeds 0 --size 64
  python bench/translation.py --tasks emoji-styles --part step-cost   # CUT vs CycleGAN step
  python bench/translation.py --tasks digits2mnist --seeds 0 \
      --set translation.generator=resnet --set translation.resnet_blocks=3 \
      --set translation.g_channels=32        # the anchor's ResNet G instead of the warp G

``--set KEY=VALUE`` (repeatable) goes to every training run of the digit tasks.

Tasks (held-out images only: never trained on, scored by classifiers that never saw them):
* ``digits2mnist`` (unpaired, ``--preset cyclegan``): digits -> MNIST scored by mnist-cnn
  (accuracy against the digits' labels, FID to held-out MNIST); MNIST -> digits scored by
  digits-cnn. Baselines: *resize only* (the 28x28 upscaled digit as it is) and a
  *hand-made* conversion (digits -> MNIST: the digit shrunk into MNIST's centred 20x20 box;
  MNIST -> digits: the 20x20 box cut out, area-averaged to 8x8 and upscaled like the digits;
  and a stronger one, ``normalise_mnist``: each digit's bounding box scaled into 32x32 as
  scikit-learn's digits were made, strokes thickened, averaged to 8x8, upscaled).
  ``--methods`` adds CycleGAN with semantic consistency (labels used: each direction's
  *source* classifier in its loss, the target's scores it) and CUT (a run per direction).
* ``mnist-8px`` (paired, ``--preset pix2pix``): 8x8 -> 28x28 super-resolution scored by
  mnist-cnn accuracy, FID, L1 and PSNR against the originals; beside *bilinear upsampling*
  (the input as it is) and *L1 regression* (the same U-Net, ``translation.gan_weight=0``).
* ``emoji-styles`` (colour, paired by code point): see ``bench/translation_emoji.py``.

Each training run is a ``gankit train`` subprocess (its wall time and the peak resident
memory of the runs are printed); scores come from ``gankit.evaluation.translation``, the
code behind ``gankit eval``. Figures are mean ± std over the seeds. Each task's tables go
to its section of ``docs/results/translation-<kind>.md`` (``--no-write``: printed only).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

import common
import translation_emoji
from gankit.data import load_translation, upscale_digits
from gankit.evaluation.translation import translation_scores

TITLE = "Image translation: pix2pix, CycleGAN and CUT on the built-in sets"


def reframe_digits(a_u8: torch.Tensor) -> torch.Tensor:
    """Full-frame 28x28 digits -> MNIST's layout: shrunk to 20x20, centred in 28x28."""
    small = F.interpolate(a_u8.float(), size=(20, 20), mode="area")
    return F.pad(small, (4, 4, 4, 4)).round().clamp(0, 255).to(torch.uint8)


def unframe_mnist(b_u8: torch.Tensor) -> torch.Tensor:
    """MNIST -> the digits' layout: the centred 20x20 box, area-averaged to 8x8, upscaled."""
    box = b_u8[..., 4:24, 4:24].float()
    eight = F.interpolate(box, size=(8, 8), mode="area").round().clamp(0, 255)
    return upscale_digits(eight.to(torch.uint8))


# The bounding-box normalisation below: the best of the 12 settings that
# bench/translation_validation.py scores on the MNIST *training* digits (0.7753 there; 0.6667
# to 0.7713 for the others: thickening 0, 1 or 2 px, width x 1.0, 0.9, 0.8 or 0.7)
NORMALISED_THRESHOLD = 40  # a pixel above this (of 255) belongs to the digit's bounding box
NORMALISED_THICKEN = 1  # px of dilation at the 32x32 bitmap's scale (the pens differ)
NORMALISED_WIDTH = 0.8  # the box's width relative to its aspect-kept width


def normalise_mnist(b_u8: torch.Tensor, thicken: int = NORMALISED_THICKEN,
                    width: float = NORMALISED_WIDTH,
                    threshold: int = NORMALISED_THRESHOLD) -> torch.Tensor:
    """MNIST (N, 1, 28, 28) uint8 -> the digits' layout, the way scikit-learn's digits were
    made (UCI optdigits: each digit's bounding box scaled into a 32x32 bitmap, 4x4 blocks
    averaged to 8x8), then upscaled like them: (N, 1, 28, 28) uint8.

    Per image: the box of the pixels above ``threshold`` (the whole frame if none), scaled
    to 32 px high and ``width`` x its aspect-kept width (at most 32), strokes dilated by
    ``thicken`` px, centred on a 32x32 canvas, area-averaged to 8x8. Label-blind: a
    stronger hand-made conversion than :func:`unframe_mnist`.
    """
    eights = []
    for image in b_u8[:, 0].float():
        rows = (image > threshold).any(1).nonzero().flatten()
        cols = (image > threshold).any(0).nonzero().flatten()
        if len(rows):
            image = image[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        height, wide = image.shape
        columns = max(1, min(32, round(32 * wide / height * width)))
        box = F.interpolate(image[None, None], size=(32, columns), mode="bilinear",
                            align_corners=False)
        left = (32 - columns) // 2
        canvas = F.pad(box, (left, 32 - columns - left))
        if thicken:  # on the canvas, so that strokes on the box's edges widen too
            canvas = F.max_pool2d(canvas, 2 * thicken + 1, 1, thicken)
        eights.append(F.avg_pool2d(canvas, 4)[0])
    eight = torch.stack(eights).round().clamp(0, 255).to(torch.uint8)
    return upscale_digits(eight)


def train_run(preset: str, seed: int, out: Path, extra: list[str]) -> float:
    """``gankit train --preset P --seed S`` into a fresh ``out`` in a subprocess; its wall
    time in seconds."""
    return common.train(["--preset", preset, "--seed", str(seed), *extra], out).seconds


def scored(run_dir: Path, direction: str) -> dict:
    import gankit
    from gankit.evaluation.translation import evaluate_translation

    return evaluate_translation(gankit.load(run_dir), direction)["scores"]


DIGITS = {"accuracy": 4, "fid": 2, "l1": 4, "psnr": 2, "cycle_l1": 4}  # as the tables print


def row(name: str, runs: list[dict], keys: tuple[str, ...], **digits: int) -> list[str]:
    """A table row: ``name``, then each score's mean ± std over ``runs`` ("–" where a run
    has none)."""
    digits = {**DIGITS, **digits}
    return [name] + [common.mean_std([r[k] for r in runs], digits[k])
                     if all(k in r for r in runs) else "–" for k in keys]


# digits2mnist's trained rows: name -> (preset, settings, directions each run serves)
DIGITS_METHODS = {
    "cyclegan": ("cyclegan", [], ("AtoB", "BtoA")),
    # CyCADA's semantic consistency: digits-cnn reads digits -> MNIST, mnist-cnn the other way
    "cyclegan + semantic": ("cyclegan", ["--set", "translation.semantic_weight=1"],
                            ("AtoB", "BtoA")),
    # CUT is one way: a run per direction, the cut preset's 2,000 steps of batch 8
    "cut AtoB": ("cut", ["--data", "digits2mnist"], ("AtoB",)),
    "cut BtoA": ("cut", ["--data", "digits2mnist", "--set",
                         "translation.direction=BtoA"], ("BtoA",)),
}


def trained_rows(methods: list[str], seeds: list[int], work: Path, extra: list[str],
                 reuse: bool = False) -> tuple[dict, dict]:
    """({direction: {row: [scores per seed]}}, {method: [training seconds]}) of the
    methods' runs; ``reuse``: a run already finished in ``work`` is scored as it is."""
    scores: dict[str, dict[str, list]] = {"AtoB": {}, "BtoA": {}}
    seconds: dict[str, list[float]] = {}
    for seed in seeds:
        for method in methods:
            preset, options, directions = DIGITS_METHODS[method]
            out = work / f"{method.replace(' + ', '-').replace(' ', '-')}-{seed}"
            if not (reuse and translation_emoji.finished_seconds(out) is not None):
                train_run(preset, seed, out, [*options, *extra])
            seconds.setdefault(method, []).append(translation_emoji.finished_seconds(out))
            for direction in directions:
                row_name = method.split()[0] if method.startswith("cut") else method
                scores[direction].setdefault(row_name, []).append(scored(out, direction))
    return scores, seconds


def digits2mnist(seeds: list[int], work: Path, extra: list[str],
                 methods: list[str] | None = None, reuse: bool = False) -> tuple[dict, str]:
    """The unpaired task's two tables (digits -> MNIST, MNIST -> digits): (figures,
    Markdown)."""
    data = load_translation("digits2mnist")
    to_mnist = ("accuracy", "fid")
    base_ab = [("resize only", data.a_test), ("hand-made", reframe_digits(data.a_test))]
    base_ba = [("resize only", data.b_test), ("hand-made", unframe_mnist(data.b_test)),
               ("hand-made, bounding box normalised", normalise_mnist(data.b_test))]
    methods = methods or ["cyclegan"]
    runs, seconds = trained_rows(methods, seeds, work, extra, reuse)
    ab = {name: translation_scores(a, "mnist", data.a_test_labels, data.b_test)
          for name, a in base_ab}
    ba = {name: translation_scores(b, "digits", data.b_test_labels, data.a_test)
          for name, b in base_ba}
    table_ab = [row(name, [s], to_mnist) for name, s in ab.items()]
    table_ba = [row(name, [s], to_mnist + ("cycle_l1",)) for name, s in ba.items()]
    counted = f" ({common.plural(len(seeds), 'seed')})"
    table_ab += [row(name + counted, results, to_mnist) for name, results in runs["AtoB"].items()]
    table_ba += [row(name + counted, results, to_mnist + ("cycle_l1",))
                 for name, results in runs["BtoA"].items()]
    took = "; ".join(f"{m} runs trained {common.mean_std(s, 0)} s" for m, s in seconds.items())
    markdown = (f"{len(data.a_test)} held-out digits / {len(data.b_test)} held-out MNIST "
                f"digits; {took or 'baselines only'}\n\n"
                + common.table(["digits → MNIST", "mnist-cnn accuracy", "FID (mnist-cnn)"],
                               table_ab) + "\n\n"
                + common.table(["MNIST → digits", "digits-cnn accuracy", "FID (digits-cnn)",
                                "cycle L1"], table_ba)
                + confusions(runs["BtoA"]))
    figures = {"seeds": seeds, "seconds": seconds, "digits_to_mnist": {**ab, **runs["AtoB"]},
               "mnist_to_digits": {**ba, **runs["BtoA"]}}
    return figures, markdown


def confusions(rows: dict[str, list[dict]]) -> str:
    """MNIST -> digits: each trained row's confusion matrix summed over its seeds (rows: the
    MNIST digit's label, columns: the class digits-cnn reads in its translation)."""
    parts = []
    for name, results in rows.items():
        if not all("confusion" in r for r in results):
            continue
        total = torch.tensor([r["confusion"] for r in results]).sum(0)
        cells = [[str(k)] + [str(int(v)) for v in line] for k, line in enumerate(total)]
        parts.append(f"\n\nMNIST → digits, {name}: confusion over its seeds (rows: true "
                     f"digit, columns: digits-cnn's reading)\n\n"
                     + common.table(["", *map(str, range(total.shape[1]))], cells))
    return "".join(parts)


def mnist_8px(seeds: list[int], work: Path, extra: list[str]) -> tuple[dict, str]:
    """The paired task's table: (figures, Markdown)."""
    data = load_translation("mnist-8px")
    keys = ("accuracy", "fid", "l1", "psnr")
    runs = {"L1 regression": [], "pix2pix (L1 + cGAN)": []}
    seconds = []
    for seed in seeds:
        for name, options in (("L1 regression", ["--set", "translation.gan_weight=0"]),
                              ("pix2pix (L1 + cGAN)", [])):
            out = work / f"{name.split()[0].lower()}-{seed}"
            seconds.append(train_run("pix2pix", seed, out, [*options, *extra]))
            runs[name].append(scored(out, "AtoB"))
    bilinear = translation_scores(data.a_test, "mnist", data.a_test_labels, data.b_test,
                                  truth_u8=data.b_test)
    rows = [row("bilinear upsampling", [bilinear], keys, fid=3)]
    if seeds:
        rows += [row(f"{name} ({common.plural(len(seeds), 'seed')})", results, keys, fid=3)
                 for name, results in runs.items()]
    took = f"runs of {common.mean_std(seconds, 0)} s each" if seeds else "baselines only"
    markdown = (f"{len(data.a_test)} held-out digits; {took}\n\n"
                + common.table(["8×8 → 28×28", "mnist-cnn accuracy", "FID (mnist-cnn)", "L1",
                                "PSNR (dB)"], rows))
    return {"seeds": seeds, "seconds": seconds, "bilinear": bilinear, **runs}, markdown


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--tasks", default="digits2mnist,mnist-8px")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated; none: the "
                        "baselines only, no training")
    parser.add_argument("--work", type=Path, default=Path("runs/bench-translation"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting for every training run (repeatable)")
    parser.add_argument("--methods", default="cyclegan", help="digits2mnist's trained rows, "
                        f"comma-separated: {', '.join(DIGITS_METHODS)}")
    parser.add_argument("--size", type=int, default=32, help="emoji-styles: 32 or 64 px")
    parser.add_argument("--emoji-steps", default="pix2pix=2000,cyclegan=1500,cut=2000",
                        help="emoji-styles: each method's training steps")
    parser.add_argument("--part", choices=("scores", "step-cost"), default="scores",
                        help="emoji-styles: step-cost times CUT against CycleGAN in one "
                        "process instead")
    parser.add_argument("--reuse", action="store_true", help="emoji-styles and "
                        "digits2mnist's --methods: score runs already finished in --work as "
                        "they are (a stopped bench goes on)")
    args = parser.parse_args()
    extra = [item for setting in args.set for item in ("--set", setting)]
    seeds = [] if args.seeds == "none" else [int(s) for s in args.seeds.split(",")]
    steps = {k: int(v) for k, v in (item.split("=") for item in args.emoji_steps.split(","))}
    methods = args.methods.split(",")
    tasks = {"digits2mnist": lambda: digits2mnist(seeds, args.work, extra, methods, args.reuse),
             "mnist-8px": lambda: mnist_8px(seeds, args.work, extra),
             "emoji-styles": lambda: translation_emoji.emoji_styles(seeds, args.work, steps,
                                                                    args.size, args.reuse),
             "emoji-step-cost": lambda: translation_emoji.step_cost(5, 10, args.size)}
    print(common.machine_line())
    for task in args.tasks.split(","):
        task = "emoji-step-cost" if task == "emoji-styles" and args.part == "step-cost" else task
        figures, markdown = tasks[task]()
        if seeds and task != "emoji-step-cost":
            peak = common.peak_rss_mib(children=True)
            figures["peak_rss_mib"] = peak
            markdown += f"\n\nPeak resident memory of a training run: {peak:.0f} MiB."
        print(f"\n{task}: {markdown}")
        options = common.changed(parser, args, {"seeds", "set", "methods", "size",
                                                "emoji_steps", "part"})  # not --reuse
        common.write_results("translation", TITLE, figures, markdown, args=args,
                             section=f"{task} {options}".strip(),
                             heading=task + (f" (`{options}`)" if options else ""),
                             headline="held-out scores of pix2pix, CycleGAN and CUT beside "
                             "the baselines: digits (label preservation) and emoji styles "
                             "(against the true target)")


if __name__ == "__main__":
    main()
