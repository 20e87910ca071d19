"""Score digits2mnist CycleGAN runs on *training* images, to choose settings without
touching the held-out images that ``bench/translation.py`` and ``gankit eval`` score.

  python bench/translation_validation.py [RUN ...]

A CycleGAN sees its training images without labels; their labels (kept by scikit-learn
and mnist5k, never given to the trainer) say here whether a translation kept the digit:

* digits -> MNIST: all 1,497 training digits, read by mnist-cnn (which never saw a
  scikit-learn digit); FID in mnist-cnn's features against 1,497 MNIST training digits;
* MNIST -> digits: the first 1,500 MNIST training digits, read by digits-cnn (trained on
  the digits' training part, never on MNIST); FID against the 1,497 training digits.

The settings of the ``cyclegan`` preset, and those of ``bench/translation.py``'s
bounding-box normalisation (``normalise_mnist``; the first table, which is printed with or
without runs), were chosen on these figures; the README's tables come from the held-out
images only. The first row of the runs' table is the hand-made conversion of
``bench/translation.py``, for reference. Both tables go to
``docs/results/translation_validation-<kind>.md`` (``--no-write``: printed only).
"""

from __future__ import annotations

from pathlib import Path

import common
import gankit
from gankit.data.embedded import load_mnist5k, split_mnist5k
from gankit.data.translation import _digits_split
from gankit.evaluation.translation import translation_scores
from translation import (NORMALISED_THICKEN, NORMALISED_WIDTH, normalise_mnist,
                         reframe_digits, unframe_mnist)

VALIDATION_SIZE = 1500  # images per direction
TITLE = "Translation settings chosen on training images (digits2mnist validation)"


def validation_sets():
    """(digits, digit labels, MNIST, MNIST labels): training images of both domains."""
    digits, digit_labels, _, _ = _digits_split()
    mnist = load_mnist5k()
    rows = split_mnist5k(5000, 500, seed=0)[0][:VALIDATION_SIZE]
    return digits, digit_labels, mnist.samples[rows], mnist.labels[rows]


# the settings of bench/translation.py's normalise_mnist that the first table scores
THICKENINGS = (0, 1, 2)  # px
WIDTHS = (1.0, 0.9, 0.8, 0.7)  # x the aspect-kept width


def normalisation_grid(mnist, mnist_labels, digits) -> tuple[dict, str]:
    """digits-cnn's accuracy and FID for every bounding-box normalisation setting of the
    MNIST training digits (uint8 (N, 1, 28, 28)), marking the one bench/translation.py
    uses: (figures, Markdown)."""
    figures, rows = {}, []
    for thicken in THICKENINGS:
        for width in WIDTHS:
            scores = translation_scores(normalise_mnist(mnist, thicken, width), "digits",
                                        mnist_labels, digits)
            chosen = " (chosen)" if (thicken, width) == (NORMALISED_THICKEN,
                                                         NORMALISED_WIDTH) else ""
            figures[f"thicken {thicken}, width {width}"] = scores
            rows.append([f"thicken {thicken} px, width × {width}{chosen}",
                         f"{scores['accuracy']:.4f}", f"{scores['fid']:.2f}"])
    return figures, common.table(["bounding-box normalisation (MNIST → digits)", "accuracy",
                                  "FID"], rows)


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("runs", nargs="*", type=Path)
    args = parser.parse_args()
    print(common.machine_line())
    digits, digit_labels, mnist, mnist_labels = validation_sets()
    figures, grid = normalisation_grid(mnist, mnist_labels, digits)
    grid = (f"The first {len(mnist):,} MNIST training digits, normalised and read by "
            f"digits-cnn; FID against the {len(digits):,} training digits.\n\n{grid}")
    print(grid)
    common.write_results("translation_validation", TITLE, figures, grid, args=args,
                         section="normalisation", heading="The bounding-box normalisation's "
                         "settings", headline="validation accuracies of the translation "
                         "settings and the hand-made normalisation")
    translators = [("hand-made", lambda images, direction: reframe_digits(images)
                    if direction == "AtoB" else unframe_mnist(images))]
    translators += [(str(path), gankit.load(path).translate) for path in args.runs]
    figures, rows = {}, []
    for name, translate in translators:
        to_mnist = translation_scores(translate(digits, "AtoB"), "mnist", digit_labels,
                                      mnist[:len(digits)])
        to_digits = translation_scores(translate(mnist, "BtoA"), "digits", mnist_labels,
                                       digits)
        figures[name] = {"digits_to_mnist": to_mnist, "mnist_to_digits": to_digits}
        rows.append([name, f"{to_mnist['accuracy']:.4f}", f"{to_mnist['fid']:.2f}",
                     f"{to_digits['accuracy']:.4f}", f"{to_digits['fid']:.2f}"])
        print(common.table([""] * 5, rows[-1:]).splitlines()[-1], flush=True)
    markdown = (f"{len(digits):,} training digits → MNIST (read by mnist-cnn) and "
                f"{len(mnist):,} MNIST training digits → digits (read by digits-cnn):\n\n"
                + common.table(["run (validation on training images)", "digits → MNIST",
                                "FID", "MNIST → digits", "FID"], rows))
    if args.runs:
        common.write_results("translation_validation", TITLE, figures, markdown, args=args,
                             section="runs", heading="Runs scored on the training images")


if __name__ == "__main__":
    main()
