"""How a kind's general step runs on its device: CUDA switches, memory format, autocast
precision, torch.compile and CUDA graphs.

On by default on CUDA: cuDNN's autotuner, TF32 matrix products and channels_last
convolutions. Opt-in: bf16/fp16 autocast (``auto`` is resolved before the kind builds its
step, by :mod:`gankit.speed.precision`), torch.compile, CUDA graphs. The CPU defaults (fp32,
eager) compute exactly the tutorial's mathematics (``tests/test_exactness.py``).

The speed machinery (thread count, oneDNN products, the hand-written MLP step, calibration,
precision probing, lazy imports) is :mod:`gankit.speed`, which the driver alone calls.
"""

from __future__ import annotations

import torch
from torch import nn

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def configure_cuda(device: torch.device, deterministic: bool, tf32: bool) -> list[str]:
    """The CUDA fast-path switches for a run on ``device``; returns what was set (for the
    log), nothing off CUDA.

    - ``cudnn.benchmark``: cuDNN times its convolution algorithms once for the fixed batch
      shape and keeps the fastest (off for ``--deterministic``, whose algorithms must not
      vary);
    - TF32 for float32 matrix products (``train.tf32``; cuDNN convolutions use TF32 by
      PyTorch's default): 10-bit mantissas in the products, float32 sums, several times the
      float32 rate on Ampere and later GPUs.
    """
    if device.type != "cuda":
        return []
    torch.backends.cudnn.benchmark = not deterministic
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    torch.backends.cudnn.allow_tf32 = tf32
    return [f"cudnn.benchmark={'off' if deterministic else 'on'}",
            f"tf32={'on' if tf32 else 'off'}"]


def has_convolutions(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.conv._ConvNd) for m in module.modules())


def channels_last(device: torch.device, *modules: nn.Module) -> bool:
    """On CUDA, convolutional ``modules`` move to the channels_last memory format in place
    (tensor cores read NHWC without transposes); True if any did. Same parameters and
    values, only the strides change; a checkpoint loads into either format."""
    moved = False
    for module in modules:
        if device.type == "cuda" and has_convolutions(module):
            module.to(memory_format=torch.channels_last)
            moved = True
    return moved


# --- precision (what auto resolves to is gankit.speed.precision's) -----------------------

class Autocast(nn.Module):
    """``net`` whose forward pass runs under autocast to ``precision``; the output comes back
    as float32, so losses are computed in float32 and backward runs outside autocast (as
    PyTorch's AMP recipe asks). Parameters, modules and state stay those of ``net``."""

    def __init__(self, net: nn.Module, device: torch.device, precision: str):
        super().__init__()
        self.net, self.device_type, self.dtype = net, device.type, DTYPES[precision]

    def forward(self, *args):
        with torch.autocast(self.device_type, dtype=self.dtype):
            out = self.net(*args)
        return out.float()


def with_precision(net: nn.Module, device: torch.device, precision: str) -> nn.Module:
    """``net`` itself for fp32; an :class:`Autocast` wrapper of it for bf16/fp16."""
    return net if precision == "fp32" else Autocast(net, device, precision)


def grad_scalers(device: torch.device, precision: str) -> tuple:
    """(scaler for D, scaler for G) for fp16, else (None, None). One per optimiser: each is
    updated right after its own step (D may step twice per iteration)."""
    if precision != "fp16":
        return None, None
    return torch.amp.GradScaler(device.type), torch.amp.GradScaler(device.type)


def compile_unavailable(device: torch.device = torch.device("cpu")) -> str | None:
    """Why torch.compile cannot run on ``device`` (one line), or None when a tiny function
    compiles and runs there."""
    try:
        import torch._dynamo  # noqa: F401

        probe = torch.compile(lambda x: torch.relu(x) * 2 + 1)
        if not torch.equal(probe(torch.ones(4, device=device)).cpu(), torch.full((4,), 3.0)):
            return "a compiled probe gave a wrong result"
    except Exception as exc:  # any failure of the compiler stack means: run eagerly
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"{type(exc).__name__}: {first[:200]}"
    return None


def compile_mode(device: torch.device, cuda_graphs: bool) -> str:
    """torch.compile's mode: "reduce-overhead" (the compiled passes are recorded as CUDA
    graphs and replayed: one launch per pass instead of one per kernel) when CUDA graphs are
    asked for on a CUDA device, else "default"."""
    return "reduce-overhead" if cuda_graphs and device.type == "cuda" else "default"


def compile_models(*modules: nn.Module, device: torch.device = torch.device("cpu"),
                   echo=print, mode: str = "default") -> bool:
    """torch.compile each module in place with ``mode`` (state-dict names unchanged); True
    if compiled.

    Where the compiler is unavailable (no C++ compiler, unsupported Python or platform)
    this prints one line and leaves the modules eager.
    """
    reason = compile_unavailable(device)
    if reason is not None:
        echo(f"--compile: torch.compile is unavailable here ({reason}); training eagerly")
        return False
    import torch._dynamo

    # A graph the compiler cannot handle later runs eagerly instead of stopping the run.
    torch._dynamo.config.suppress_errors = True
    for module in modules:
        module.compile(mode=mode)
    return True
