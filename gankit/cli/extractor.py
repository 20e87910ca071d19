"""``gankit extractor list|train``: the classifiers gankit ships for its metrics.

``list`` shows each pinned extractor's weights file, the sha256 every load checks, whether
the file here matches it and what it was trained on (read from the package and the files;
no network, no training); ``train`` makes such a file again, or a new one, or (``--folder``)
a classifier of a user's labelled folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gankit.errors import UserError

# name -> (module, weights constant, sha256 constant, training data, `extractor train` flags)
PINNED = {
    "mnist-cnn": ("extractors", "MNIST_CNN_WEIGHTS", "MNIST_CNN_SHA256",
                  "mnist5k, the 5,000 embedded MNIST digits", "--data mnist5k"),
    "digits-cnn": ("extractors", "DIGITS_CNN_WEIGHTS", "DIGITS_CNN_SHA256",
                   "digits2mnist's training digits (scikit-learn's 8x8 digits upscaled to "
                   "28x28)", "--extractor digits-cnn"),
    "emoji-cnn": ("emoji_cnn", "EMOJI_CNN_WEIGHTS", "EMOJI_CNN_SHA256",
                  "the 9 categories of emoji-google and emoji-twitter together (64 px RGB)",
                  "--extractor emoji-cnn --root DATA_ROOT"),
}


def cmd_extractor(args) -> int:
    if args.extractor_command == "list":
        print(pinned_table())
        return 0
    return _train(args)


def pinned_table() -> str:
    """What ``gankit extractor list`` prints: a block of lines per pinned extractor."""
    from importlib import import_module

    import gankit
    from gankit.evaluation.metrics.pinned import read_pinned

    package_root = Path(gankit.__file__).resolve().parent.parent
    blocks = []
    for name, (module, weights, sha256, data, flags) in PINNED.items():
        source = import_module(f"gankit.evaluation.metrics.{module}")
        path, pinned = Path(getattr(source, weights)), getattr(source, sha256)
        shown = path.relative_to(package_root) if path.is_relative_to(package_root) else path
        made_by = f"gankit extractor train {flags} --out {shown}"
        try:
            saved, digest = read_pinned(path, None, made_by)
        except UserError as exc:
            state, recipe = f"not usable here: {exc}", ""
        else:
            state = "the file here matches" if digest == pinned else \
                f"the file here differs: sha256 {digest}"
            recipe = (f"; {saved.get('held_out')} held out, {saved.get('epochs')} epochs, "
                      f"seed {saved.get('seed')}, held-out accuracy "
                      f"{float(saved.get('accuracy', float('nan'))):.4f}")
        blocks.append("\n".join([name, f"  weights     {shown} ({state})",
                                 f"  sha256      {pinned}", f"  trained on  {data}{recipe}",
                                 f"  made by     {made_by}"]))
    blocks.append("(every extractor, with FID's Inception: gankit list extractors)")
    return "\n".join(blocks)


def _train(args) -> int:
    from gankit.config import DataConfig
    from gankit.data import load_dataset
    from gankit.data.decoding import progress_bar
    from gankit.evaluation.metrics import emoji_cnn, extractors

    if args.folder is not None:
        return _train_folder(args)
    if args.extractor != "mnist-cnn" and args.data is not None:
        raise UserError(f"{args.extractor} trains on its own data sets; --data is for mnist-cnn")
    epochs = args.epochs or {"mnist-cnn": 30, "digits-cnn": extractors.DIGITS_CNN_EPOCHS,
                             "emoji-cnn": emoji_cnn.EMOJI_CNN_EPOCHS}[args.extractor]
    with progress_bar(epochs, "training", "epoch", not args.no_progress) as bar:
        echo = _echo_through(bar)
        if args.extractor == "digits-cnn":
            result = extractors.train_digits_cnn(args.out, epochs=epochs, seed=args.seed,
                                                 echo=echo)
        elif args.extractor == "emoji-cnn":
            result = emoji_cnn.train_emoji_cnn(args.out, root=args.root, seed=args.seed,
                                               epochs=epochs, echo=echo)
        else:
            name = args.data or "mnist5k"
            data = load_dataset(DataConfig(name=name, root=args.root, download=False))
            if data.samples.shape[1] != 1:
                raise UserError(f"the extractor trains on gray images; {name} has "
                                f"{data.samples.shape[1]} channels")
            result = extractors.train_mnist_cnn(data.samples, data.labels, args.out,
                                                epochs=epochs, seed=args.seed, echo=echo)
    balanced = result.get("balanced_accuracy")
    mean = f" (mean over the categories {balanced:.4f})" if balanced is not None else ""
    print(f"wrote {result['path']}: held-out accuracy {result['accuracy']:.4f}{mean}, "
          f"sha256 {result['sha256']}")
    return 0


def _train_folder(args) -> int:
    """``extractor train --folder DIR``: a classifier of the labelled folder's classes."""
    from gankit.data.decoding import progress_bar
    from gankit.evaluation.metrics import folder_cnn

    if args.data is not None:
        raise UserError("--folder trains on the folder's class sub-folders; --data is for "
                        "mnist-cnn")
    epochs = args.epochs or folder_cnn.FOLDER_CNN_EPOCHS
    with progress_bar(epochs, "training", "epoch", not args.no_progress) as bar:
        result = folder_cnn.train_folder_classifier(args.folder, args.out, epochs=epochs,
                                                    seed=args.seed, echo=_echo_through(bar))
    classes = result["classes"]
    shown = ", ".join(classes[:8]) + (f", ... ({len(classes)} in all)" if len(classes) > 8
                                      else "")
    print(f"wrote {result['path']}: {len(classes)} classes ({shown}), "
          f"{result['channels']} channel(s) at {result['side']} px; held-out accuracy "
          f"{result['accuracy']:.4f} on {result['held_out']} images (mean over the classes "
          f"{result['balanced_accuracy']:.4f}), sha256 {result['sha256']}")
    return 0


def _echo_through(bar):
    """The training's ``echo``: its lines go to stdout above the bar, and each epoch's line
    ("epoch N/M: ...") moves the bar on by one."""
    def echo(message: str) -> None:
        bar.write(message, file=sys.stdout)
        if message.startswith("epoch "):
            bar.update(1)
    return echo
