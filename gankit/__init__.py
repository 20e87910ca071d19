"""gankit: train, evaluate and use generative adversarial networks with PyTorch.

Python API::

    import gankit
    run_dir = gankit.train("seed-mlp", out="runs/mlp", epochs=1)
    run = gankit.load(run_dir)          # run.G, run.D, run.G_ema, run.config
    images = gankit.sample(run, n=16)   # uint8 (16, 1, 28, 28)
    gankit.write_report(run_dir)        # run_dir/report.html, self-contained
    frames = gankit.interpolate(run, steps=10, rows=8)  # uint8 (8, 10, 1, 28, 28), slerp
    gankit.export_generator(run, "G.onnx")               # or format="torchscript"
    gankit.inpaint_image(run, "digit.png", box=(0, 14, 28, 14), out="filled.png")
    run = gankit.train("pix2pix", out="runs/p2p")     # image translation (pix2pix, cyclegan)
    out = gankit.translate(run, digits_u8)               # uint8 (N, 1, 28, 28) -> translated
    gankit.run_sweep("seed-tutorial", ["optim.lr_g=loguniform:1e-5:1e-3"], trials=10,
                     storage="sqlite:///sweep.db", steps=2000)   # Optuna study, best.yaml
"""

__version__ = "0.1.0"

from gankit.api import load, sample, train, translate  # noqa: E402
from gankit.apps.report import build_report as write_report  # noqa: E402
from gankit.apps.latent import interpolate  # noqa: E402
from gankit.apps.export import export_generator  # noqa: E402
from gankit.apps.inpaint import inpaint_batch, inpaint_image  # noqa: E402
from gankit.apps.sweep import sweep as run_sweep  # noqa: E402

__all__ = ["__version__", "train", "load", "sample", "translate", "write_report", "interpolate",
           "export_generator", "inpaint_image", "inpaint_batch", "run_sweep"]
