"""Checks of the shipped emoji-cnn on the real emoji sets (they need the npm tarballs, so
they are not in the test suite):

  python bench/emoji_extractor.py --root DATA_ROOT            # held-out accuracy vs the saved one
  python bench/emoji_extractor.py --root DATA_ROOT --rebuild  # + the committed command rebuilds
                                                              #   the pinned file (~3.5 min)

DATA_ROOT is a ``data.root`` holding the emoji caches (any run on emoji-google makes them, or
``gankit data prepare emoji-google``). The rebuild is byte-identical only with the torch that
built the shipped file (2.14.1). The figures go to
``docs/results/emoji_extractor-<kind>.md`` (``--no-write``: printed only).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch

import common
from gankit.cli import main as gankit_main
from gankit.data.emoji import load_emoji
from gankit.evaluation.metrics import emoji_cnn
from gankit.evaluation.metrics.emoji_cnn import (EMOJI_CNN_SHA256, EMOJI_CNN_WEIGHTS,
                                                 split_by_emoji)
from gankit.evaluation.metrics.extractors import get_extractor, sha256_file

TITLE = "emoji-cnn on the real emoji sets: held-out accuracy and the rebuild"


def main() -> int:
    parser = common.parser(__doc__)
    parser.add_argument("--root", required=True)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    print(common.machine_line())
    images, labels, groups = emoji_cnn.emoji_training_data(args.root, download=False)
    _, held = split_by_emoji(groups, labels)
    held_images, held_labels = images[held], labels[held]
    _, probs = get_extractor("emoji-cnn")(held_images)
    right = torch.from_numpy(probs.argmax(1)) == held_labels
    accuracy = float(right.float().mean())
    classes = load_emoji("emoji-google", args.root, download=False).class_names \
        or [str(k) for k in range(probs.shape[1])]
    per_class = {name: (float(right[held_labels == k].float().mean()),
                        int((held_labels == k).sum())) for k, name in enumerate(classes)
                 if (held_labels == k).any()}
    saved = torch.load(EMOJI_CNN_WEIGHTS, weights_only=True)["accuracy"]
    print(f"held-out accuracy {accuracy:.4f} on {len(held_images)} images (saved: {saved:.4f})")
    ok = abs(accuracy - saved) < 1e-6
    rows = [["held-out accuracy (all images)", f"{accuracy:.4f}"],
            ["the same, averaged over the categories",
             f"{sum(a for a, _ in per_class.values()) / len(per_class):.4f}"],
            ["saved in the shipped file", f"{saved:.4f}"]]
    figures = {"images": len(held_images), "accuracy": accuracy, "saved": saved,
               "per_category": per_class}
    if args.rebuild:
        with tempfile.TemporaryDirectory() as work:
            out = Path(work) / EMOJI_CNN_WEIGHTS.name
            _, seconds = common.timed(gankit_main, [
                "extractor", "train", "--extractor", "emoji-cnn", "--root", args.root,
                "--out", str(out)])
            digest = sha256_file(out)
        print(f"rebuilt sha256 {digest} (pinned: {EMOJI_CNN_SHA256})")
        ok = ok and digest == EMOJI_CNN_SHA256
        figures.update({"rebuilt_sha256": digest, "rebuild_seconds": seconds})
        rows.append(["the committed command rebuilds the pinned file",
                     f"{'yes' if digest == EMOJI_CNN_SHA256 else 'NO'} ({seconds / 60:.1f} min)"])
    print("OK" if ok else "MISMATCH")
    markdown = (f"{len(held_images):,} held-out images (emoji never trained on, in either "
                "style, with all their skin tones):\n\n"
                + common.table(["emoji-cnn", "value"], rows) + "\n\n"
                + common.table(["category", "held-out images", "accuracy"],
                               [[name, n, f"{a:.2f}"] for name, (a, n) in per_class.items()]))
    print(markdown)
    common.write_results("emoji_extractor", TITLE, figures, markdown, args=args,
                         headline=f"held-out accuracy {accuracy:.3f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
