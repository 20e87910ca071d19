"""gankit: train, evaluate and use generative adversarial networks with PyTorch.

Python API::

    import gankit
    run_dir = gankit.train("seed-mlp", out="runs/mlp", epochs=1)
    run = gankit.load(run_dir)          # run.G, run.D, run.G_ema, run.config
    images = gankit.sample(run, n=16)   # uint8 (16, 1, 28, 28)
"""

__version__ = "0.1.0"

from .api import load, sample, train  # noqa: E402

__all__ = ["__version__", "train", "load", "sample"]
