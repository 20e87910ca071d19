"""Precision probing: what ``train.precision=auto`` picks on this machine, and the warning for
an explicit bf16 on a CPU without native bf16.

``auto`` is bf16 only where it runs natively: a GPU with bf16, or a CPU whose /proc/cpuinfo
flags name ``avx512_bf16`` or ``amx_bf16`` (less what an ``ONEDNN_MAX_CPU_ISA`` cap
excludes), and, in a one-process run, where a quick check finds bf16 faster than fp32;
fp32 elsewhere. :func:`for_run` resolves it before the kind builds its step (the saved
config keeps ``auto``, so a run resumed elsewhere chooses again). Applying the precision
(autocast, GradScaler) is the kind's general step's business
(:mod:`gankit.training.accel`).
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Callable

import torch

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


def for_run(cfg, device: torch.device, world_size: int, is_main: bool, echo):
    """``cfg`` with ``train.precision=auto`` resolved for this machine. Prints auto's choice,
    and a warning with the measured slowdown for explicit bf16 on a CPU without native bf16
    (the main process only: it alone prints)."""
    t = cfg.train
    precision = t.precision
    if precision == "auto":
        precision, why = auto_precision(device, measure=world_size == 1)
        echo(f"precision: auto -> {precision} ({why})")
    elif is_main:
        warning = bf16_warning(precision, device)
        if warning:
            echo(warning)
    return dataclasses.replace(cfg, train=dataclasses.replace(t, precision=precision))
