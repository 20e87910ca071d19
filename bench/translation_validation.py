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
``bench/translation.py``, for reference.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import gankit  # noqa: E402
from gankit.data.embedded import load_mnist5k, split_mnist5k  # noqa: E402
from gankit.data.translation import _digits_split  # noqa: E402
from gankit.evaluation.translation import translation_scores  # noqa: E402
from translation import (NORMALISED_THICKEN, NORMALISED_WIDTH,  # noqa: E402
                         normalise_mnist, reframe_digits, unframe_mnist)  # bench/translation.py

VALIDATION_SIZE = 1500  # images per direction


def validation_sets():
    """(digits, digit labels, MNIST, MNIST labels): training images of both domains."""
    digits, digit_labels, _, _ = _digits_split()
    mnist = load_mnist5k()
    rows = split_mnist5k(5000, 500, seed=0)[0][:VALIDATION_SIZE]
    return digits, digit_labels, mnist.samples[rows], mnist.labels[rows]


# the settings of bench/translation.py's normalise_mnist that the first table scores
THICKENINGS = (0, 1, 2)  # px
WIDTHS = (1.0, 0.9, 0.8, 0.7)  # x the aspect-kept width


def normalisation_grid(mnist, mnist_labels, digits) -> None:
    """Print digits-cnn's accuracy and FID for every bounding-box normalisation setting of
    the MNIST training digits (uint8 (N, 1, 28, 28)), marking the one bench/translation.py
    uses."""
    print("| bounding-box normalisation (MNIST -> digits) | accuracy | FID |\n|---|---|---|")
    for thicken in THICKENINGS:
        for width in WIDTHS:
            scores = translation_scores(normalise_mnist(mnist, thicken, width), "digits",
                                        mnist_labels, digits)
            chosen = " (chosen)" if (thicken, width) == (NORMALISED_THICKEN,
                                                         NORMALISED_WIDTH) else ""
            print(f"| thicken {thicken} px, width x {width}{chosen} | "
                  f"{scores['accuracy']:.4f} | {scores['fid']:.2f} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", type=Path)
    args = parser.parse_args()
    digits, digit_labels, mnist, mnist_labels = validation_sets()
    normalisation_grid(mnist, mnist_labels, digits)
    print("| run | digits -> MNIST accuracy | FID | MNIST -> digits accuracy | FID |\n"
          "|---|---|---|---|---|")
    translators = [("hand-made", lambda images, direction: reframe_digits(images)
                    if direction == "AtoB" else unframe_mnist(images))]
    translators += [(str(path), gankit.load(path).translate) for path in args.runs]
    for name, translate in translators:
        to_mnist = translation_scores(translate(digits, "AtoB"), "mnist", digit_labels,
                                      mnist[:len(digits)])
        to_digits = translation_scores(translate(mnist, "BtoA"), "digits", mnist_labels,
                                       digits)
        print(f"| {name} | {to_mnist['accuracy']:.4f} | {to_mnist['fid']:.2f} | "
              f"{to_digits['accuracy']:.4f} | {to_digits['fid']:.2f} |")


if __name__ == "__main__":
    main()
