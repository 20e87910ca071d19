"""gankit: train, evaluate and use generative adversarial networks with PyTorch.

Python API::

    import gankit
    run_dir = gankit.train("seed-mlp", out="runs/mlp", epochs=1)
    run = gankit.load(run_dir)          # run.G, run.D, run.G_ema, run.config
    images = gankit.sample(run, n=16)   # uint8 (16, 1, 28, 28)
    gankit.write_report(run_dir)        # run_dir/report.html, self-contained
    frames = gankit.interpolate(run, frames=10, rows=8)  # uint8 (8, 10, 1, 28, 28), slerp
    gankit.export_generator(run, "G.onnx")               # or format="torchscript"
    gankit.inpaint_image(run, "digit.png", box=(0, 14, 28, 14), out="filled.png")
    gankit.inpaint_folder(run, "digits/", "filled/", box=(0, 14, 28, 14))  # one model load
    found = gankit.project(run, "digits/")    # found.z, .labels, .reconstructions, .fit_mse
    sefa = gankit.directions(run)             # SeFa: sefa.directions (K, latent_dim), unit rows
    strip = gankit.edit(run, found.z, labels=found.labels, component=0, amounts="-3:3:7")
    run = gankit.train("pix2pix", out="runs/p2p")     # image translation (pix2pix, cyclegan)
    out = gankit.translate(run, digits_u8)               # uint8 (N, 1, 28, 28) -> translated
    gankit.studio(["runs/default"], port=7860)   # the browser studio (pip install 'gankit[studio]')
    gankit.run_sweep("seed-tutorial", ["optim.lr_g=loguniform:1e-5:1e-3"], trials=10,
                     storage="sqlite:///sweep.db", steps=2000)   # Optuna study, best.yaml
"""

__version__ = "0.1.0"

from importlib import import_module

# The public functions, imported on first use (PEP 562) so that ``import gankit`` and the
# commands that need no tensors (``gankit --help``, ``gankit list``) do not import torch.
_LAZY = {"train": ("gankit.api", "train"), "load": ("gankit.api", "load"),
         "sample": ("gankit.api", "sample"), "translate": ("gankit.api", "translate"),
         "write_report": ("gankit.apps.report", "build_report"),
         "interpolate": ("gankit.apps.latent", "interpolate"),
         "export_generator": ("gankit.apps.export", "export_generator"),
         "inpaint_image": ("gankit.apps.inpaint", "inpaint_image"),
         "inpaint_batch": ("gankit.apps.inpaint", "inpaint_batch"),
         "inpaint_folder": ("gankit.apps.inpaint", "inpaint_folder"),
         "project": ("gankit.apps.project", "project"),
         "directions": ("gankit.apps.directions", "directions"),
         "edit": ("gankit.apps.directions", "edit"),
         "run_sweep": ("gankit.apps.sweep", "sweep")}
# Sub-packages that are public names themselves: gankit.studio is callable (it serves) and
# holds create_app (the ASGI app).
_MODULES = {"studio": "gankit.studio"}


def __getattr__(name: str):
    if name in _MODULES:
        return import_module(_MODULES[name])  # the import binds it here
    if name not in _LAZY:
        raise AttributeError(f"module 'gankit' has no attribute {name!r}")
    module, attribute = _LAZY[name]
    value = getattr(import_module(module), attribute)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_MODULES))


__all__ = ["__version__", "train", "load", "sample", "translate", "write_report", "interpolate",
           "export_generator", "inpaint_image", "inpaint_batch", "inpaint_folder", "project",
           "directions", "edit", "run_sweep", "studio"]
