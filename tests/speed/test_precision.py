"""``train.precision=auto`` and the warning for bf16 on a CPU without native bf16
(gankit.speed.precision, the speed machinery's precision probing).

The decisions are pure functions of (device type, CPU flags), so each case runs here on any
machine with the flags faked; one tiny seed-mlp run checks that ``auto`` reaches the loop.
"""

from __future__ import annotations

import pytest
import torch

import gankit
from gankit.cli import main
from gankit.config import resolve
from gankit.errors import UserError
from gankit.speed import precision as speed_precision
from gankit.training.checkpoint import latest_checkpoint

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
AVX2 = frozenset({"sse4_2", "avx", "avx2", "fma"})
AVX512 = AVX2 | {"avx512f", "avx512bw", "avx512_vnni"}
ZEN4 = AVX512 | {"avx512_bf16"}
SAPPHIRE_RAPIDS = ZEN4 | {"amx_tile", "amx_bf16", "amx_int8"}


# --- auto -------------------------------------------------------------------------------------

@pytest.mark.parametrize("flags, expected", [
    (AVX2, "fp32"), (AVX512, "fp32"), (ZEN4, "bf16"), (SAPPHIRE_RAPIDS, "bf16"),
    (frozenset({"amx_bf16"}), "bf16")])
def test_auto_on_the_cpu_follows_the_bf16_flags(flags, expected):
    assert speed_precision.resolve_precision("auto", CPU, flags) == expected
    choice, why = speed_precision.auto_precision(CPU, flags)
    assert choice == expected and ("native bf16" in why)


def test_auto_reads_the_flag_reader(monkeypatch):
    for flags, expected in ((AVX2, "fp32"), (SAPPHIRE_RAPIDS, "bf16"), (None, "fp32")):
        monkeypatch.setattr(speed_precision, "cpu_flags", lambda flags=flags: flags)
        assert speed_precision.resolve_precision("auto", CPU) == expected
    assert "unreadable" in speed_precision.auto_precision(CPU)[1]  # another OS: fp32


def test_auto_on_a_gpu_asks_for_native_bf16():
    # the CPU's flags do not matter on a GPU
    assert speed_precision.auto_precision(CUDA, AVX2, cuda_bf16=True)[0] == "bf16"
    assert speed_precision.auto_precision(CUDA, SAPPHIRE_RAPIDS, cuda_bf16=False)[0] == "fp32"


def test_explicit_precisions_pass_through(monkeypatch):
    monkeypatch.setattr(speed_precision, "cpu_flags", lambda: AVX2)
    for precision in ("fp32", "bf16", "fp16"):
        assert speed_precision.resolve_precision(precision, CPU) == precision


def test_flag_reader_parses_cpuinfo_and_honours_a_onednn_cap(tmp_path, monkeypatch):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Xeon\nflags\t\t: fpu avx2 avx512f "
                    "avx512_bf16 amx_bf16\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    assert speed_precision.cpu_flags(str(info)) == {"fpu", "avx2", "avx512f", "avx512_bf16", "amx_bf16"}
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")
    assert speed_precision.native_bf16_flags(speed_precision.cpu_flags(str(info))) == ["avx512_bf16"]
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx2")  # oneDNN reads it case-insensitively
    assert speed_precision.native_bf16_flags(speed_precision.cpu_flags(str(info))) == []
    assert speed_precision.cpu_flags(str(tmp_path / "missing")) is None
    (tmp_path / "arm").write_text("processor\t: 0\nFeatures\t: fp asimd bf16\n")
    assert speed_precision.cpu_flags(str(tmp_path / "arm")) is None


# --- the warning for explicit bf16 --------------------------------------------------------------

def test_explicit_bf16_without_native_bf16_warns_in_one_line(monkeypatch):
    monkeypatch.setattr(speed_precision, "cpu_flags", lambda: AVX2)
    warning = speed_precision.bf16_warning("bf16", CPU, probe=lambda: 14.24)
    assert warning is not None and "\n" not in warning
    assert "no native bf16" in warning and "14.2x slower" in warning
    assert "--precision auto or fp32" in warning


def test_no_warning_with_native_bf16_or_other_precisions(monkeypatch):
    def probe():
        raise AssertionError("the probe runs only when it warns")

    monkeypatch.setattr(speed_precision, "cpu_flags", lambda: SAPPHIRE_RAPIDS)
    assert speed_precision.bf16_warning("bf16", CPU, probe=probe) is None
    assert speed_precision.bf16_warning("bf16", CPU, ZEN4, probe=probe) is None
    for precision in ("fp32", "fp16"):
        assert speed_precision.bf16_warning(precision, CPU, AVX2, probe=probe) is None
    assert speed_precision.bf16_warning("bf16", CUDA, AVX2, probe=probe) is None
    assert speed_precision.bf16_warning("bf16", CPU, None, probe=probe) is None  # flags unknown


def test_the_probe_is_quick_and_positive():
    import time

    started = time.perf_counter()
    factor = speed_precision.bf16_slowdown(64, 128, 64)
    assert 0 < factor < float("inf") and time.perf_counter() - started < 1.0


def test_the_probe_is_bf16_time_over_fp32_time(monkeypatch):
    """With a product that takes 30 ms under bf16 autocast and 10 ms without, the probe
    says about 3: it times the product both ways, bf16 over fp32 (a probe that timed one
    side twice, skipped autocast, or inverted the ratio would say about 1 or 1/3)."""
    import time

    real_mm = torch.mm

    def timed_mm(a, b):
        time.sleep(0.03 if torch.is_autocast_enabled("cpu") else 0.01)
        return real_mm(a, b)

    monkeypatch.setattr(speed_precision.torch, "mm", timed_mm)
    assert speed_precision.bf16_slowdown(8, 8, 8) == pytest.approx(3.0, rel=0.2)


def _tiny(tmp_path, capsys, precision, name):
    gankit.train("seed-mlp", out=tmp_path / name, steps=2, epochs=0, batch_size=16,
                 model__g_hidden="32", model__d_hidden="32", train__grid_size=4,
                 train__tensorboard=False, train__log_every=1, train__precision=precision)
    return capsys.readouterr().out.splitlines(), tmp_path / name


def test_a_run_with_explicit_bf16_warns_once_without_native_bf16(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(speed_precision, "cpu_flags", lambda: AVX2)
    monkeypatch.setattr(speed_precision, "bf16_slowdown", lambda: 14.2)
    lines, _ = _tiny(tmp_path, capsys, "bf16", "slow")
    assert [line for line in lines if "no native bf16" in line] == [
        "warning: this CPU has no native bf16 (no AVX512-BF16/AMX): bf16 ran 14.2x slower "
        "than fp32 in a quick check; use --precision auto or fp32"]
    monkeypatch.setattr(speed_precision, "cpu_flags", lambda: SAPPHIRE_RAPIDS)
    lines, _ = _tiny(tmp_path, capsys, "bf16", "fast")
    assert not [line for line in lines if "native bf16" in line]


# --- the config and the run -------------------------------------------------------------------

def test_validation_accepts_auto_and_rejects_bad_values_in_one_line():
    assert resolve("seed-mlp", overrides={"train.precision": "auto"}).train.precision == "auto"
    assert resolve("seed-mlp").train.precision == "fp32"  # the seed presets stay fp32
    with pytest.raises(UserError) as caught:
        resolve("seed-mlp", overrides={"train.precision": "fp8"})
    message = str(caught.value)
    assert "\n" not in message and "auto" in message and "'fp8'" in message


def test_cli_takes_precision_auto(capsys):
    assert main(["train", "--preset", "seed-mlp", "--precision", "auto", "--dry-run"]) == 0
    assert "precision=auto" in capsys.readouterr().out
    assert main(["train", "--preset", "seed-mlp", "--precision", "fp8", "--dry-run"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "'auto'" in error[0]


def test_a_tiny_auto_run_records_its_choice(tmp_path, capsys):
    expected, why = speed_precision.auto_precision(CPU, measure=True)  # as the run decides here
    lines, run_dir = _tiny(tmp_path, capsys, "auto", "auto")
    assert f"precision: auto -> {expected} ({why})" in lines
    checkpoint = latest_checkpoint(run_dir, "cpu")
    assert checkpoint["precision"] == expected
    assert '"precision": "auto"' in (run_dir / "config.json").read_text()  # chosen per machine


@pytest.mark.parametrize("slowdown, expected", [(0.4, "bf16"), (1.6, "fp32")])
def test_auto_measures_before_trusting_native_bf16(monkeypatch, slowdown, expected):
    """With ``measure``, native bf16 flags are not enough: bf16 must also be faster in the
    quick check (AVX512-BF16 without AMX was slower)."""
    monkeypatch.setattr(speed_precision, "bf16_slowdown", lambda *a, **k: slowdown)
    choice, why = speed_precision.auto_precision(CPU, SAPPHIRE_RAPIDS, measure=True)
    assert choice == expected
    assert ("quick check" in why) == (expected == "fp32")
    assert speed_precision.auto_precision(CPU, SAPPHIRE_RAPIDS)[0] == "bf16"  # flags alone
