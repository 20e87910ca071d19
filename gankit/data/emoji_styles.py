"""``emoji-styles``: the same emoji drawn by Google (Noto) and by Twitter (Twemoji), matched by
code point, as a colour translation set with a true answer for every input.

Domain A is ``emoji-google``, domain B ``emoji-twitter`` (:mod:`gankit.data.emoji`: RGBA
composited on white, 3,781 images each, in the same emoji.json order). Row ``i`` of both is
the same image file name, ``1f600.png`` (😀): :func:`load_emoji_styles` checks that, so
the set is paired by name. A paired run (pix2pix) trains on the pairs; an unpaired one
(CycleGAN, CUT) draws the two domains shuffled independently, and the pairs serve only to
score it against the truth.

The held-out emoji are emoji-cnn's own (:func:`gankit.data.emoji.split_by_emoji`: 15 % of
each category's emoji, every skin tone of them), so neither a
translation run nor the classifier that scores its categories ever saw a held-out emoji, in
either style. Categories are kept for evaluation only: the training images carry no labels.

The images are 64 px; runs use 32 px unless ``data.image_size`` says otherwise
(``TranslationData.preferred_size``): 32 px trains in minutes on a CPU.
"""

from __future__ import annotations

import torch

from gankit.errors import UserError

NAME = "emoji-styles"
PREFERRED_SIZE = 32  # px, a CPU's size; 64 (the files' own) with data.image_size=64
DOMAINS = ("emoji-google", "emoji-twitter")


def code_point_of(name: str) -> str:
    """An image file name or what a user typed (``1f600.png``, ``1F600``, ``U+1F600``, ``😀``)
    -> the file names' form: lower-case hex code points joined by ``-`` (``1f600``)."""
    text = name.strip()
    if text.lower().endswith(".png"):
        text = text[:-4]
    if text and all(ord(c) > 127 for c in text):  # the emoji itself
        return "-".join(f"{ord(c):x}" for c in text)
    return text.lower().replace("u+", "")


def emoji_files(root: str = "data", download: bool = True) -> list[str]:
    """The image file names of emoji-styles' rows (the same in both domains)."""
    from gankit.data.emoji import PACKAGES, emoji_rows, fetch_tarball, read_meta
    from pathlib import Path

    names = []
    for data_set in DOMAINS:
        package, vendor, integrity = PACKAGES[data_set]
        tarball = fetch_tarball(package, integrity, Path(root).expanduser() / "emoji", download)
        names.append([image for _, image, _ in emoji_rows(read_meta(tarball), vendor)])
    if names[0] != names[1]:
        raise UserError("the google and twitter emoji sets do not list the same emoji in the "
                        "same order; delete data.root/emoji and load them again")
    return names[0]


def rows_of(code_points: list[str], files: list[str]) -> list[int]:
    """The rows of ``files`` (emoji-styles' image names) that ``code_points`` name, in their
    order; a code point the set does not have is a UserError naming it."""
    index = {code_point_of(f): i for i, f in enumerate(files)}
    rows = []
    for asked in code_points:
        key = code_point_of(asked)
        if key not in index:
            raise UserError(f"{NAME} has no emoji {asked!r} (code point {key}); its "
                            f"{len(files):,} emoji are named as in emoji-datasource, e.g. "
                            f"{code_point_of(files[0])}")
        rows.append(index[key])
    return rows


def held_out_rows(root: str = "data", download: bool = True
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(training rows, held-out rows) of either domain: emoji-cnn's split of the emoji."""
    from gankit.data.emoji import emoji_groups, load_emoji, split_by_emoji

    labels = load_emoji(DOMAINS[0], root, download).labels
    groups = emoji_groups(DOMAINS[0], root, download)
    # emoji-cnn splits both vendors' rows together; the held-out emoji of each category are
    # drawn from the sorted set of its emoji names, which is the same for one vendor's rows
    train, test = split_by_emoji(groups + groups, torch.cat([labels, labels]))
    n = len(groups)
    return train[train < n], test[test < n]


def load_emoji_styles(root: str = "data", download: bool = True):
    """The set at 64 px: A = google, B = twitter, paired row by row; held-out categories
    (for evaluation only) on both sides; ``files`` names every training and held-out row."""
    from gankit.data.emoji import load_emoji
    from gankit.data.translation import TranslationData

    files = emoji_files(root, download)
    google, twitter = (load_emoji(name, root, download) for name in DOMAINS)
    train, test = held_out_rows(root, download)
    a, b = google.samples, twitter.samples  # memory-mapped; indexing copies
    labels = google.labels[test].clone()
    return TranslationData(NAME, True, a[train], b[train], a[test], b[test], labels,
                           labels.clone(), a_domain="google", b_domain="twitter",
                           preferred_size=PREFERRED_SIZE,
                           a_names=[files[i] for i in train.tolist()],
                           a_test_names=[files[i] for i in test.tolist()])
