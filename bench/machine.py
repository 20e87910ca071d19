"""The machine a bench runs on: its CPU model and ISA (the CPU kind of a results page), the
commit of this checkout, and the share of the CPUs other processes kept busy during the run.

Used through :mod:`common`, which every bench imports.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUIET_SHARE = 0.05  # other processes' CPU share under which a run counts as quiet
ISA_CAPS = ("ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


def _lscpu() -> dict[str, str]:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return {key.strip(): value.strip() for key, _, value in
            (line.partition(":") for line in out.splitlines())}


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu() -> tuple[str, set[str]]:
    """(the CPU's model name, with its family and model on x86; its flags), from lscpu,
    else /proc/cpuinfo."""
    lscpu, info = _lscpu(), {}
    if not lscpu.get("Model name") or not lscpu.get("Flags"):
        info = _cpuinfo()
    name = lscpu.get("Model name") or info.get("model name") or platform.processor() \
        or "unknown CPU"
    family = lscpu.get("CPU family") or info.get("cpu family")
    model = lscpu.get("Model") or info.get("model")
    if family and model:
        name += f" (family {family}, model {model})"
    return name, set((lscpu.get("Flags") or info.get("flags") or "").split())


def isa(flags: set[str] | None = None) -> tuple[str, str]:
    """(the ISA row of a results page, the CPU kind of its name). "AVX-512" where the CPU
    has AVX-512F, else "AVX2"; "capped to AVX2" where ONEDNN_MAX_CPU_ISA or
    MKL_ENABLE_INSTRUCTIONS says so; other caps are named."""
    flags = cpu()[1] if flags is None else flags
    caps = {key: os.environ[key] for key in ISA_CAPS if os.environ.get(key)}
    extras = ", ".join(f"{name}: {'yes' if flag in flags else 'no'}" for flag, name in
                       (("avx512_bf16", "AVX512-BF16"), ("amx_tile", "AMX")))
    named = ", ".join(f"{k}={v}" for k, v in caps.items())
    if "avx512f" in flags:
        if any(v.upper().startswith("AVX2") for v in caps.values()):
            return f"AVX-512 capped to AVX2 ({named})", "avx512-capped-avx2"
        return f"AVX-512 ({extras}{'; ' + named if named else ''})", "avx512"
    if "avx2" in flags:
        return f"AVX2{' (' + named + ')' if named else ''}", "avx2"
    return f"no AVX2{' (' + named + ')' if named else ''}", "noavx2"


def commit() -> str:
    """``git rev-parse --short HEAD``, plus " (dirty)" when tracked files outside
    docs/results differ from it; "unknown" outside a checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, timeout=30)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no",
                                 "--", ".", ":(exclude)docs/results"], cwd=ROOT, text=True,
                                capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if head.returncode:
        return "unknown"
    return head.stdout.strip() + (" (dirty)" if status.stdout.strip() else "")


def machine(threads: int | str | None = None) -> dict[str, str]:
    """The facts a results page names: CPU, ISA, kind, threads (``threads``, default
    PyTorch's count in this process), torch and gankit versions, commit, CPUs, Python."""
    import torch

    import gankit as package

    name, flags = cpu()
    isa_row, kind = isa(flags)
    return {"cpu": name, "isa": isa_row, "kind": kind,
            "threads": str(torch.get_num_threads() if threads is None else threads),
            "cpus": str(os.cpu_count()), "torch": torch.__version__,
            "gankit": package.__version__, "commit": commit(),
            "python": platform.python_version()}


def machine_line(threads: int | str | None = None) -> str:
    """The machine in one line, for a bench's first output line."""
    m = machine(threads)
    return (f"{m['cpu']}; ISA {m['isa']}; {m['cpus']} CPUs; threads {m['threads']}; torch "
            f"{m['torch']}; gankit {m['gankit']} at {m['commit']}")


class CpuShare:
    """The share of all CPUs that *other* processes kept busy since this object was made:
    busy time from /proc/stat (user, nice, system, irq, softirq) less this process's and its
    waited-for children's CPU time (``os.times``), over wall time × CPUs."""

    def __init__(self) -> None:
        self.start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        try:
            fields = Path("/proc/stat").read_text().splitlines()[0].split()
        except (OSError, IndexError):
            return None
        user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fields[1:8])
        busy = (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")
        t = os.times()
        return time.monotonic(), busy, t.user + t.system + t.children_user + t.children_system

    def share(self) -> float | None:
        """The other processes' share of all CPUs (0..1), or None where unmeasurable."""
        end = self._sample()
        if self.start is None or end is None or end[0] - self.start[0] < 0.5:
            return None
        wall, busy, own = (b - a for a, b in zip(self.start, end))
        return max(0.0, busy - own) / (wall * (os.cpu_count() or 1))

    def describe(self) -> str:
        """The header's text: "0.8 % (quiet)", "23 % (busy)" or "not measured (...)"."""
        share = self.share()
        if share is None:
            return "not measured (no /proc/stat)"
        digits = 1 if share < 0.1 else 0
        return f"{100 * share:.{digits}f} % ({'quiet' if share < QUIET_SHARE else 'busy'})"


LOAD = CpuShare()  # started when a bench imports this module
