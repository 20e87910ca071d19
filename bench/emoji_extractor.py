"""Checks of the shipped emoji-cnn on the real emoji sets (they need the npm tarballs, so
they are not in the test suite):

  python bench/emoji_extractor.py --root DATA_ROOT            # held-out accuracy vs the saved one
  python bench/emoji_extractor.py --root DATA_ROOT --rebuild  # + the committed command rebuilds
                                                              #   the pinned file (~3.5 min)

DATA_ROOT is a ``data.root`` holding the emoji caches (any run on emoji-google makes them, or
``gankit data prepare emoji-google``). The rebuild is byte-identical only with the torch that
built the shipped file (2.14.1).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gankit.cli import main as gankit_main  # noqa: E402
from gankit.evaluation.metrics import emoji_cnn  # noqa: E402
from gankit.evaluation.metrics.emoji_cnn import (EMOJI_CNN_SHA256, EMOJI_CNN_WEIGHTS,  # noqa: E402
                                                 split_by_emoji)
from gankit.evaluation.metrics.extractors import get_extractor, sha256_file  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    images, labels, groups = emoji_cnn.emoji_training_data(args.root, download=False)
    _, held = split_by_emoji(groups, labels)
    held_images = images[held]
    _, probs = get_extractor("emoji-cnn")(held_images)
    accuracy = float((torch.from_numpy(probs.argmax(1)) == labels[held]).float().mean())
    saved = torch.load(EMOJI_CNN_WEIGHTS, weights_only=True)["accuracy"]
    print(f"held-out accuracy {accuracy:.4f} on {len(held_images)} images (saved: {saved:.4f})")
    ok = abs(accuracy - saved) < 1e-6
    if args.rebuild:
        with tempfile.TemporaryDirectory() as work:
            out = Path(work) / EMOJI_CNN_WEIGHTS.name
            gankit_main(["extractor", "train", "--extractor", "emoji-cnn", "--root", args.root,
                         "--out", str(out)])
            digest = sha256_file(out)
        print(f"rebuilt sha256 {digest} (pinned: {EMOJI_CNN_SHA256})")
        ok = ok and digest == EMOJI_CNN_SHA256
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
