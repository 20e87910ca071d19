"""Speed settings of a run: CPU threads, CUDA switches, memory format, autocast precision,
torch.compile and CUDA graphs.

On by default: the thread count, and on CUDA cuDNN's autotuner, TF32 matrix products and
channels_last convolutions. Opt-in: bf16/fp16 (or ``auto``: bf16 only where the hardware
runs it natively), torch.compile, CUDA graphs. The CPU defaults
(fp32, eager) compute exactly the tutorial's mathematics (``tests/test_exactness.py``).
"""

from __future__ import annotations

import os
import time
from typing import Callable

import torch
from torch import nn

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


# PyTorch's own intra-op thread count when gankit was imported (one per physical core,
# or OMP_NUM_THREADS): what an automatic count may rise to again after set_threads lowered it.
_DEFAULT_THREADS = torch.get_num_threads()


def default_threads() -> int:
    """PyTorch's thread count before gankit set any (see :data:`_DEFAULT_THREADS`)."""
    return _DEFAULT_THREADS


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_times() -> tuple[int, int]:
    """(all, idle) CPU time in clock ticks since boot, summed over the machine's CPUs (Linux's
    /proc/stat; raises OSError elsewhere)."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    if not fields or fields[0] != "cpu":
        raise OSError("unexpected /proc/stat")
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    ticks = [int(value) for value in fields[1:9]]
    return sum(ticks), ticks[3] + ticks[4]


def load_reading() -> tuple[float, int, int, float]:
    """(wall seconds, all CPU ticks, idle ticks, this process's CPU seconds) now (Linux;
    raises OSError elsewhere)."""
    total, idle = cpu_times()
    return time.monotonic(), total, idle, time.process_time()


def other_cpus(before, after, machine_cpus: int) -> float | None:
    """CPUs that *other* processes kept busy between two readings of :func:`load_reading`:
    all busy CPUs minus this process's own use. None when no time passed."""
    wall, total, idle = after[0] - before[0], after[1] - before[1], after[2] - before[2]
    if wall <= 0 or total <= 0:
        return None
    busy = (1 - idle / total) * machine_cpus
    mine = (after[3] - before[3]) / wall
    return max(0.0, busy - mine)


# A reading taken by open_load_window(), which the next busy_cpus() measures from.
_opened: tuple[float, int, int, float] | None = None
# An opened window older than this is not used (the load it saw may be over).
_OPENED_MAX_AGE = 5.0


def open_load_window() -> None:
    """Start :func:`busy_cpus`' window now: a run opens it before loading its data and
    building its networks, so that work (which the measurement subtracts as this process's
    own) fills the window instead of a sleep (up to 0.2 s of start-up saved)."""
    global _opened
    try:
        _opened = load_reading()
    except (OSError, ValueError):
        _opened = None


def busy_cpus(window: float = 0.2) -> float:
    """How many CPUs other work keeps busy now: the non-idle share of CPU time over a
    ``window`` of seconds times the CPU count, minus this process's own use (Linux), else
    the 1-minute load average. The window starts at :func:`open_load_window` when that was
    called in the last few seconds, otherwise now.

    The load average lags by a minute: right after another training run ends it still
    counts that run's cores as busy, so a job started then would leave a core idle.
    """
    global _opened
    opened, _opened = _opened, None
    try:
        fresh = opened is not None and time.monotonic() - opened[0] <= _OPENED_MAX_AGE
        before = opened if fresh else load_reading()
        left = window - (time.monotonic() - before[0])
        if left > 0:
            time.sleep(left)
        other = other_cpus(before, load_reading(), os.cpu_count() or 1)
        if other is not None:
            return other
    except (OSError, ValueError):
        pass
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def auto_threads() -> int:
    """The CPUs this process may use minus those busy with other work now, at least 1.

    PyTorch's default is one thread per core. On a machine whose cores are busy with other
    work its OpenMP threads wait for each other at every barrier, and a step can take
    several times longer than with fewer threads.
    """
    cpus = available_cpus()
    limit = min(cpus, torch.get_num_threads())
    if limit <= 1:  # nothing to choose: skip the 0.2 s measurement
        return 1
    return max(1, min(limit, round(cpus - busy_cpus())))


def set_threads(threads: int) -> int:
    """Set PyTorch's intra-op threads (0: :func:`auto_threads`); return the number used."""
    n = threads or auto_threads()
    if n != torch.get_num_threads():
        torch.set_num_threads(n)
    return n


def threads_for_run(threads: int, device: torch.device, deterministic: bool) -> int:
    """Apply a run's ``train.threads`` (every kind of run calls this): a named count always;
    0 (auto) on the CPU follows the machine's load, except in a deterministic run, which
    keeps PyTorch's own count. Returns the count in use. During the run
    :mod:`gankit.training.thread_governor` keeps an automatic count following the load."""
    if threads or (device.type == "cpu" and not deterministic):
        return set_threads(threads)
    return torch.get_num_threads()


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


# --- precision -------------------------------------------------------------------------------

# /proc/cpuinfo flags of x86 CPUs that multiply bf16 in hardware (Cooper Lake, Zen 4 and
# later; Sapphire Rapids' tile unit). Without them oneDNN emulates bf16 and PyTorch may fall
# back to a scalar kernel: several times slower than fp32, never faster.
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
# ONEDNN_MAX_CPU_ISA values below which oneDNN does not use each flag's instructions (bf16 under
# autocast runs through oneDNN; a cap makes an AVX-512 machine behave like an AVX2 one).
_ISAS_WITHOUT = {
    "avx512_bf16": {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE",
                    "AVX512_CORE_VNNI"},
    "amx_bf16": {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE",
                 "AVX512_CORE_VNNI", "AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX10_1_512"},
}


def cpu_flags(path: str = "/proc/cpuinfo") -> frozenset[str] | None:
    """The CPU's x86 feature flags (the ``flags`` line of Linux's /proc/cpuinfo) less the
    bf16 ones that an ``ONEDNN_MAX_CPU_ISA`` cap keeps oneDNN from using; None where they
    cannot be read (another OS, another architecture)."""
    try:
        with open(path) as info:
            for line in info:
                if line.startswith("flags"):
                    flags = set(line.partition(":")[2].split())
                    break
            else:
                return None
    except OSError:
        return None
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", os.environ.get("DNNL_MAX_CPU_ISA", ""))
    cap = cap.strip().upper()
    return frozenset(flag for flag in flags if cap not in _ISAS_WITHOUT.get(flag, ()))


def native_bf16_flags(flags: frozenset[str] | None) -> list[str]:
    """Which of :data:`NATIVE_BF16_FLAGS` ``flags`` holds (none for unknown flags)."""
    return [name for name in NATIVE_BF16_FLAGS if flags and name in flags]


def auto_precision(device: torch.device, flags: frozenset[str] | None = None,
                   cuda_bf16: bool | None = None, measure: bool = False) -> tuple[str, str]:
    """(precision, why) that ``train.precision=auto`` picks on ``device``: bf16 on a GPU that
    runs bf16 natively (not emulated) and on a CPU with native bf16 (``flags``: the CPU's,
    default :func:`cpu_flags`; unknown flags count as none), else fp32. ``cuda_bf16``
    overrides the GPU query (for tests). ``measure``: on a CPU with native bf16, keep fp32
    when :func:`bf16_slowdown` finds bf16 no faster (AVX512-BF16 without AMX ran a product
    of the MLP's shape 1.6x slower than fp32); one process decides alone, so a run of
    several processes leaves it off and all of them choose by the flags."""
    if device.type == "cuda":
        if cuda_bf16 is None:
            cuda_bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
        return ("bf16", "the GPU has bf16") if cuda_bf16 else ("fp32", "the GPU has no bf16")
    if device.type != "cpu":
        return "fp32", f"no bf16 check for {device.type}"
    flags = cpu_flags() if flags is None else flags
    native = native_bf16_flags(flags)
    if native and measure:
        slowdown = bf16_slowdown()
        if slowdown >= 1.0:
            return "fp32", (f"the CPU has native bf16 ({', '.join(native)}), but bf16 ran "
                            f"{slowdown:.1f}x the time of fp32 in a quick check")
    if native:
        return "bf16", "the CPU has native bf16: " + ", ".join(native)
    if flags is None:
        return "fp32", "the CPU's flags are unreadable here"
    capped = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
    return "fp32", ("the CPU has no native bf16: no AVX512-BF16/AMX" +
                    (f" under ONEDNN_MAX_CPU_ISA={capped}" if capped else ""))


def resolve_precision(precision: str, device: torch.device,
                      flags: frozenset[str] | None = None) -> str:
    """``precision`` itself, or for ``auto`` what :func:`auto_precision` picks."""
    return auto_precision(device, flags)[0] if precision == "auto" else precision


def bf16_slowdown(m: int = 256, k: int = 784, n: int = 512, repeats: int = 3,
                  budget_seconds: float = 0.25) -> float:
    """How many times longer one (m, k) @ (k, n) float32 product takes under bf16 autocast
    than in float32 on the CPU (the best of up to ``repeats`` timings each, after a warm-up;
    fewer when the bf16 ones would pass ``budget_seconds``). The default shape is the
    tutorial's D's first layer at batch 256."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(m, k, generator=generator)
    b = torch.randn(k, n, generator=generator)

    def best(bf16: bool) -> float:
        times: list[float] = []
        started = time.perf_counter()
        for i in range(repeats + 1):  # the first call is a warm-up (oneDNN's primitives)
            start = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                torch.mm(a, b)
            if i:
                times.append(time.perf_counter() - start)
            if time.perf_counter() - started > budget_seconds / 2 and i:
                break
        return min(times)

    return best(True) / max(best(False), 1e-9)


def bf16_warning(precision: str, device: torch.device, flags: frozenset[str] | None = None,
                 probe: Callable[[], float] | None = None) -> str | None:
    """One warning line for an explicit bf16 run on a CPU whose flags are known and lack
    native bf16, with the slowdown ``probe`` measures (default :func:`bf16_slowdown`); None
    otherwise (``flags``: default :func:`cpu_flags`)."""
    if precision != "bf16" or device.type != "cpu":
        return None
    flags = cpu_flags() if flags is None else flags
    if flags is None or native_bf16_flags(flags):
        return None
    factor = (probe or bf16_slowdown)()
    measured = (f"bf16 ran {factor:.1f}x slower than fp32" if factor >= 1 else
                f"bf16 took {factor:.2f}x fp32's time")
    return (f"warning: this CPU has no native bf16 (no AVX512-BF16/AMX): {measured} in a "
            f"quick check; use --precision auto or fp32")


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
