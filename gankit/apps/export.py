"""``gankit export RUN_DIR``: the generator as an ONNX or TorchScript file.

What is exported is up to the run's training kind (:data:`gankit.apps.kinds.APPS`). For a
noise-to-image run (:func:`generator_export`) the graph maps ``z`` float32 (batch,
latent_dim) — and, for class-conditional runs, ``labels`` int64 (batch,) — to ``images``
float32 (batch, C, H, W) in the run's value range (``tanh``: [-1, 1]; ``unit``: [0, 1]); it
is the EMA generator when the run kept one. For a translation run
(:func:`translator_export`) it maps ``images`` in [-1, 1] to ``translated`` images. The
batch axis is dynamic. The file carries its metadata (latent_dim, value_range,
image_shape, step, gankit version, ...): ONNX as ``metadata_props``, TorchScript as the
extra file ``gankit.json``.

ONNX needs the ``onnx`` package (``pip install gankit[export]``; ``onnxruntime`` runs the
file); TorchScript needs nothing beyond PyTorch.
"""

from __future__ import annotations

import copy
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gankit import __version__
from gankit.errors import UserError

FORMATS = ("onnx", "torchscript")
OPSET = 17


def plain_generator(G: nn.Module) -> nn.Module:
    """A CPU, eval-mode copy of ``G`` made only of standard PyTorch modules.

    gankit's ``Linear`` computes through a custom autograd function and a private oneDNN op
    (see :mod:`gankit.core.models.linear`), which neither exporter understands; it is
    ``nn.Linear`` with the same parameters, so the copy simply becomes one.
    """
    from gankit.core.models.linear import Linear

    plain = copy.deepcopy(G).cpu().eval().requires_grad_(False)
    for module in plain.modules():
        if isinstance(module, Linear):
            module.__class__ = nn.Linear
    return plain


def metadata(run) -> dict[str, str]:
    """What a user of the exported file needs to know, as strings."""
    cfg = run.config
    return {"producer": f"gankit {__version__}", "preset": cfg.preset,
            "latent_dim": str(cfg.model.latent_dim), "value_range": cfg.data.value_range,
            "image_shape": ",".join(map(str, run.image_shape)), "step": str(run.step),
            "ema": str(run.G_ema is not None).lower(), "input": "z: float32 (batch, latent_dim)"
            + (", labels: int64 (batch,)" if _classes(run.G) else ""),
            "num_classes": str(_classes(run.G)),
            "output": "images: float32 (batch, C, H, W) in the value range"}


def _classes(G: nn.Module) -> int:
    return int(getattr(G, "num_classes", 0) or 0)


def translation_metadata(run, direction: str | None) -> dict[str, str]:
    """What a user of an exported translator needs to know, as strings."""
    c, h, w = run.input_shape(direction)
    return {"producer": f"gankit {__version__}", "preset": run.config.preset,
            "direction": direction or run.config.translation.direction, "step": str(run.step),
            "input": f"images: float32 (batch, {c}, {h}, {w}) in [-1, 1]",
            "output": "images: float32 (batch, C, H, W) in [-1, 1]"}


@dataclass
class Exported:
    """What ``gankit export`` writes of a run: ``network`` (a plain CPU copy), ``inputs`` an
    example batch, its ``metadata``, the graph's ``input_names`` and ``output_name``; and
    for the message, ``what`` it is and its ``signature``; ``path`` once written."""

    network: nn.Module
    inputs: tuple[torch.Tensor, ...]
    metadata: dict[str, str]
    input_names: list[str]
    output_name: str
    what: str
    signature: str
    path: Path | None = None


def _example() -> torch.Generator:
    """The example batch's seed: 2 rows, since a batch of 1 invites exporters to
    specialise on it."""
    return torch.Generator().manual_seed(0)


def generator_export(run, ema: bool, direction: str | None = None) -> Exported:
    """A noise-to-image run's export: G (the EMA generator when ``ema`` and kept) from z
    (and labels); ``direction`` is translation's."""
    G = plain_generator(run.generator if ema else run.G)
    z = torch.randn(2, run.config.model.latent_dim, generator=_example())
    inputs = (z, torch.arange(2) % _classes(G)) if _classes(G) else (z,)
    which = "EMA generator" if ema and run.G_ema is not None else "generator"
    return Exported(G, inputs, metadata(run), ["z", "labels"][:len(inputs)], "images",
                    f"the {which} of step {run.step}",
                    f"z float32 (batch, {run.config.model.latent_dim}) -> images float32 "
                    f"(batch, {', '.join(map(str, run.image_shape))}) in "
                    f"{run.config.data.value_range} range")


def translator_export(run, ema: bool, direction: str | None = None) -> Exported:
    """A translation run's export: its generator for ``direction`` (default: the run's),
    from images in [-1, 1]."""
    c, h, w = run.input_shape(direction)
    images = torch.rand(2, c, h, w, generator=_example()) * 2 - 1
    return Exported(plain_generator(run.translator(direction, ema=ema)), (images,),
                    translation_metadata(run, direction), ["images"], "translated",
                    f"the {direction or run.config.translation.direction} translator of "
                    f"step {run.step}",
                    f"images float32 (batch, {c}, {h}, {w}) in [-1, 1] -> translated images")


def export_generator(run, out: str | Path, format: str = "onnx", ema: bool = True,
                     opset: int = OPSET, direction: str | None = None) -> Path:
    """Write the run's generator (or, for a translation run, its translator for
    ``direction``) to ``out`` as ``format`` ("onnx" or "torchscript").

    ``run`` is a loaded run or a run directory / checkpoint path; ``ema`` picks the EMA
    generator when the run has one. Returns the path written.
    """
    return export_run(run, out, format, ema, opset, direction).path


def export_run(run, out: str | Path, format: str = "onnx", ema: bool = True,
               opset: int = OPSET, direction: str | None = None) -> Exported:
    """:func:`export_generator`, returning what was written (with its ``path``): the
    network and its description come from the export of the run's kind
    (:data:`gankit.apps.kinds.APPS`)."""
    from gankit.apps.kinds import exporter
    from gankit.apps.sampling import load
    from gankit.training.checkpoint import writable_file

    if format not in FORMATS:
        raise UserError(f"unknown export format {format!r}; choose from {', '.join(FORMATS)}")
    if isinstance(run, (str, Path)):
        run = load(run)
    exported = exporter(run)(run, ema, direction)
    out = writable_file(out)
    try:
        if format == "onnx":
            _export_onnx(exported.network, exported.inputs, out, info=exported.metadata,
                         opset=opset, names=exported.input_names,
                         output=exported.output_name)
        else:
            _export_torchscript(exported.network, exported.inputs, out, exported.metadata)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    exported.path = out
    return exported


def _export_onnx(G: nn.Module, inputs: tuple[torch.Tensor, ...], out: Path, *,
                 info: dict[str, str], opset: int, names: list[str], output: str) -> None:
    try:
        import onnx
    except ImportError:
        raise UserError("ONNX export needs the onnx package: pip install 'gankit[export]'"
                        ) from None
    import io

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript-based exporter is the one that needs no onnxscript; its
        # deprecation notice is not the user's business.
        warnings.simplefilter("ignore")
        torch.onnx.export(G, inputs, buffer, dynamo=False, opset_version=opset,
                          input_names=names, output_names=[output],
                          dynamic_axes={name: {0: "batch"} for name in names + [output]})
    model = onnx.load_from_string(buffer.getvalue())
    for key, value in info.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name, model.producer_version = "gankit", __version__
    onnx.checker.check_model(model)
    _atomic_bytes(out, model.SerializeToString())


def _export_torchscript(G: nn.Module, inputs: tuple[torch.Tensor, ...], out: Path,
                        info: dict[str, str]) -> None:
    others = [tuple(t[:1] for t in inputs), tuple(torch.cat([t, t, t]) for t in inputs)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notices
        traced = torch.jit.trace(G, inputs, check_inputs=others)
        traced = torch.jit.freeze(traced) if hasattr(torch.jit, "freeze") else traced
        import io

        buffer = io.BytesIO()
        torch.jit.save(traced, buffer, _extra_files={"gankit.json": json.dumps(info)})
    _atomic_bytes(out, buffer.getvalue())


def _atomic_bytes(path: Path, data: bytes) -> None:
    from gankit.training.checkpoint import _atomic_write_bytes

    _atomic_write_bytes(path, lambda handle: handle.write(data))


def load_torchscript(path: str | Path) -> tuple[torch.jit.ScriptModule, dict[str, str]]:
    """An exported TorchScript generator and its metadata."""
    extra = {"gankit.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return module, json.loads(extra["gankit.json"] or "{}")
