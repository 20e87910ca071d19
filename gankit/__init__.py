"""gankit: train, evaluate and use generative adversarial networks with PyTorch.

Python API::

    import gankit
    run_dir = gankit.train("seed-mlp", out="runs/mlp", epochs=1)
    run = gankit.load(run_dir)          # run.G, run.D, run.G_ema, run.config
    images = gankit.sample(run, n=16)   # uint8 (16, 1, 28, 28)
    gankit.write_report(run_dir)        # run_dir/report.html, self-contained
    frames = gankit.interpolate(run, steps=10, rows=8)  # uint8 (8, 10, 1, 28, 28), slerp
    gankit.export_generator(run, "G.onnx")               # or format="torchscript"
"""

__version__ = "0.1.0"

from .api import load, sample, train  # noqa: E402
from .html_report import build_report as write_report  # noqa: E402
from .latent import interpolate  # noqa: E402
from .export import export_generator  # noqa: E402

__all__ = ["__version__", "train", "load", "sample", "write_report", "interpolate",
           "export_generator"]
