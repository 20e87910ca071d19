"""The speed settings: the oneDNN Linear, threads (gankit.speed.threads), --precision and
--compile (gankit.training.accel).

Each flag is run for a couple of steps through the real loop and must give finite losses;
the fp32 default is held to the tutorial's maths in ``test_exactness.py``.
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from gankit.speed import threads as speed_threads
from gankit.training import accel
from gankit.config import resolve
from gankit.errors import UserError
from gankit.apps.train import run_training
from gankit.core.losses import get_loss
from gankit.core.models import build_models
from gankit.core.models.linear import Linear, linear, onednn_available
from gankit.core.steps import d_step, g_step

TINY = {"train.steps": 2, "train.epochs": 0, "train.log_every": 1, "train.tensorboard": False,
        "model.g_hidden": "32", "model.d_hidden": "32", "train.grid_size": 4,
        "train.batch_size": 16}


def _train(tmp_path, **overrides):
    cfg = resolve("seed-mlp", overrides={**TINY, **overrides})
    lines = []
    run_dir = run_training(cfg, tmp_path / "run", progress=False, echo=lines.append)
    records = [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines()]
    losses = [r for r in records if "loss_d" in r]
    assert len(losses) == 2
    for record in losses:
        for key in ("loss_d", "loss_g", "d_real", "d_fake"):
            assert torch.isfinite(torch.tensor(record[key])), record
    return lines, losses


# --- the oneDNN Linear ------------------------------------------------------------------------

def test_onednn_linear_is_f_linear():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 24, generator=g, requires_grad=True)
    w = torch.randn(20, 24, generator=g, requires_grad=True)
    b = torch.randn(20, generator=g, requires_grad=True)
    ours, theirs = linear(x, w, b, onednn=True), F.linear(x, w, b)
    # x86 PyTorch wheels ship oneDNN; where a build lacks it, F.linear runs (same checks).
    assert ("OneDNN" in type(ours.grad_fn).__name__) == onednn_available()
    assert "OneDNN" not in type(linear(x, w, b).grad_fn).__name__  # not asked: F.linear
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    # a mean's gradient is an expanded (stride 0) tensor: copied before oneDNN reads it
    for a, c in zip(torch.autograd.grad(ours.mean(), (x, w, b)),
                    torch.autograd.grad(theirs.mean(), (x, w, b))):
        torch.testing.assert_close(a, c, atol=1e-6, rtol=1e-5)
    # double backward (gradient penalties differentiate through the input gradient)
    gx, = torch.autograd.grad(linear(x, w, b, onednn=True).pow(2).sum(), x, create_graph=True)
    gx2, = torch.autograd.grad(F.linear(x, w, b).pow(2).sum(), x, create_graph=True)
    torch.testing.assert_close(torch.autograd.grad(gx.norm(), w)[0],
                               torch.autograd.grad(gx2.norm(), w)[0], atol=1e-5, rtol=1e-5)


def test_linear_falls_back_outside_fp32_cpu():
    # a side of TINY or less (D's output layer): MKL is quicker to set up than oneDNN
    tiny = linear(torch.randn(64, 32, requires_grad=True), torch.randn(1, 32), onednn=True)
    assert "OneDNN" not in type(tiny.grad_fn).__name__
    layer = Linear(4, 3, onednn=True)
    assert layer(torch.randn(2, 4)).grad_fn is not None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert layer(torch.randn(2, 4)).dtype == torch.bfloat16  # autocast's F.linear
    assert layer.double()(torch.randn(2, 4, dtype=torch.float64)).dtype == torch.float64
    assert list(layer.state_dict()) == ["weight", "bias"]  # nn.Linear's names


# --- threads ----------------------------------------------------------------------------------

def test_auto_threads_within_available_cpus():
    n = speed_threads.auto_threads()
    assert 1 <= n <= speed_threads.available_cpus()
    before = torch.get_num_threads()
    try:
        assert speed_threads.set_threads(1) == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_busy_cpus_reads_the_cpu_time_of_the_last_moment(monkeypatch):
    # (wall s, all ticks, idle ticks, own CPU s) before and after the window: 300 of 400
    # ticks idle -> 1/4 of 4 CPUs busy = 1.0, of which this process used 0.1 s in 0.2 s
    readings = iter([(10.0, 1000, 600, 5.0), (10.2, 1400, 900, 5.1)])
    monkeypatch.setattr(speed_threads, "_opened", None)  # no window left open by an earlier run
    monkeypatch.setattr(speed_threads, "load_reading", lambda: next(readings))
    monkeypatch.setattr(speed_threads.os, "cpu_count", lambda: 4)
    assert speed_threads.busy_cpus(window=0) == pytest.approx(0.5)


def test_an_opened_load_window_is_measured_from_and_used_once(monkeypatch):
    """open_load_window() starts the window: setup work replaces the sleep, and this
    process's own CPU time over it is not counted as other work."""
    import time

    slept = []
    monkeypatch.setattr(speed_threads.time, "sleep", slept.append)
    monkeypatch.setattr(speed_threads.os, "cpu_count", lambda: 2)
    ticks = iter([(0, 0), (200, 0)])  # both CPUs busy the whole window ...
    monkeypatch.setattr(speed_threads, "cpu_times", lambda: next(ticks))
    cpu = iter([0.0, 0.3])  # ... this process used 0.3 s of it ...
    monkeypatch.setattr(speed_threads.time, "process_time", lambda: next(cpu))
    monkeypatch.setattr(speed_threads, "_opened", None)
    speed_threads.open_load_window()
    started = time.monotonic()
    while time.monotonic() - started < 0.3:  # ... of 0.3 s of "setup": one core's worth
        pass
    assert speed_threads.busy_cpus(window=0.2) == pytest.approx(1.0, abs=0.1)
    assert slept == []  # the window was already longer than 0.2 s
    assert speed_threads._opened is None  # used once: the next measurement opens its own
    # an old window is not used: the next measurement sleeps for its own
    monkeypatch.setattr(speed_threads, "load_reading", lambda: (time.monotonic(), 0, 0, 0.0))
    speed_threads._opened = (time.monotonic() - 60, 0, 0, 0.0)
    speed_threads.busy_cpus(window=0.2)
    assert len(slept) == 1 and 0.19 < slept[0] <= 0.2


def test_busy_cpus_falls_back_to_the_load_average(monkeypatch):
    def unreadable():
        raise OSError("no /proc")
    monkeypatch.setattr(speed_threads, "cpu_times", unreadable)
    monkeypatch.setattr(speed_threads, "_opened", None)
    monkeypatch.setattr(speed_threads.os, "getloadavg", lambda: (1.5, 1.0, 1.0))
    assert speed_threads.busy_cpus(window=0) == 1.5


@pytest.mark.parametrize("busy, threads", [(0.0, 2), (0.4, 2), (0.6, 1), (1.9, 1), (5.0, 1)])
def test_auto_threads_leaves_busy_cores_alone(monkeypatch, busy, threads):
    monkeypatch.setattr(speed_threads, "available_cpus", lambda: 2)
    monkeypatch.setattr(speed_threads.torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr(speed_threads, "busy_cpus", lambda: busy)
    assert speed_threads.auto_threads() == threads


def test_auto_threads_does_not_measure_when_one_thread_is_all_it_may_use(monkeypatch):
    monkeypatch.setattr(speed_threads.torch, "get_num_threads", lambda: 1)  # e.g. OMP_NUM_THREADS=1
    monkeypatch.setattr(speed_threads, "busy_cpus", lambda: pytest.fail("measured for nothing"))
    assert speed_threads.auto_threads() == 1


def test_bad_speed_settings_are_one_line_errors():
    with pytest.raises(UserError, match="precision"):
        resolve("seed-mlp", overrides={"train.precision": "fp8"})
    with pytest.raises(UserError, match="threads"):
        resolve("seed-mlp", overrides={"train.threads": -1})


# --- precision --------------------------------------------------------------------------------

@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16),
                                              ("fp16", torch.float16), ("fp32", torch.float32)])
def test_precision_trains_in_that_precision_with_finite_losses(tmp_path, precision, dtype):
    """The layers of a run really compute in the chosen precision (a run that ignored the
    setting would log float32 outputs only), and its losses stay finite."""
    seen = set()

    def record(module, inputs, output):
        if isinstance(module, torch.nn.Linear) and isinstance(output, torch.Tensor):
            seen.add(output.dtype)

    handle = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        _train(tmp_path, **{"train.precision": precision})
    finally:
        handle.remove()
    assert dtype in seen
    if dtype != torch.float32:
        assert seen != {torch.float32}


def test_fp16_steps_use_a_grad_scaler():
    torch.manual_seed(0)
    cfg = resolve("seed-mlp", overrides=TINY)
    G, D = build_models(cfg.model, (1, 28, 28))
    opt_G = torch.optim.Adam(G.parameters(), lr=1e-3)
    opt_D = torch.optim.Adam(D.parameters(), lr=1e-3)
    G_run, D_run = (accel.with_precision(n, torch.device("cpu"), "fp16") for n in (G, D))
    scaler_D, scaler_G = accel.grad_scalers(torch.device("cpu"), "fp16")
    assert isinstance(scaler_D, torch.amp.GradScaler) and scaler_D is not scaler_G
    before = D.model[0].weight.detach().clone()
    real = torch.rand(8, 1, 28, 28) * 2 - 1
    for separate in (False, True):  # D may step twice per iteration (Keras recipe)
        stats = d_step(D_run, opt_D, get_loss("bce"), real, G_run(torch.randn(8, 100)),
                       separate=separate, scaler=scaler_D)
        stats.update(g_step(D_run, opt_G, get_loss("bce"), G_run(torch.randn(8, 100)),
                            scaler=scaler_G))
        assert all(torch.isfinite(v) for v in stats.values())
    assert not torch.equal(before, D.model[0].weight)
    assert all(p.requires_grad for p in D.parameters())  # g_step gave D's flags back


# --- compile ----------------------------------------------------------------------------------

def test_compile_fallback_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(accel, "compile_unavailable", lambda device=None: "no C++ compiler")
    lines, _ = _train(tmp_path, **{"train.compile": True})
    assert [x for x in lines if "--compile" in x] == [
        "--compile: torch.compile is unavailable here (no C++ compiler); training eagerly"]


@pytest.mark.slow
def test_compile_trains_with_finite_losses(tmp_path):
    # Slow by nature (compiles G and D's forward and backward graphs: ~10-30 s on 2 CPU
    # cores), kept to 2 steps of tiny nets. Compiled graphs are counted by dynamo: a run
    # whose compile silently did nothing would count none. Where the compiler is missing
    # this cannot be checked (the run trains eagerly: test_compile_fallback_is_one_line),
    # and the next test checks with a stand-in compiler that the run compiles.
    reason = accel.compile_unavailable()
    if reason is not None:
        pytest.skip(f"torch.compile is unavailable here ({reason})")
    from torch._dynamo.utils import counters

    counters.clear()
    lines, _ = _train(tmp_path, **{"train.compile": True})
    assert not any("--compile" in x for x in lines)
    assert counters["stats"]["unique_graphs"] >= 2  # G and D


def test_compile_runs_g_and_d_through_what_the_compiler_made(tmp_path, monkeypatch):
    """With --compile every pass of G and D goes through what torch.compile returned. A
    stand-in compiler (that records the calls it wraps) makes this hold on any machine, the
    compiler's own or not: a compile that did nothing leaves no calls."""
    through = []

    def stand_in(fn, *args, **kwargs):
        def compiled(*a, **k):
            through.append(type(fn.__self__).__name__)  # fn: the module's bound _call_impl
            return fn(*a, **k)
        return compiled

    monkeypatch.setattr(accel, "compile_unavailable", lambda device=None: None)
    monkeypatch.setattr(torch, "compile", stand_in)
    lines, _ = _train(tmp_path, **{"train.compile": True})
    assert not any("--compile" in x for x in lines)
    # 2 steps: G's pass, D on real and fake, D on the fake again for G's step
    assert through.count("MLPGenerator") >= 2 and through.count("MLPDiscriminator") >= 4


def test_cuda_graphs_on_cpu_says_so_and_compiles(tmp_path, monkeypatch):
    # The flag's CUDA path is torch.compile's reduce-overhead mode; off CUDA the run says
    # so in one line and compiles in the default mode.
    modes = []
    monkeypatch.setattr(accel, "compile_unavailable", lambda device=None: None)
    monkeypatch.setattr(torch.nn.Module, "compile",
                        lambda self, mode="default": modes.append(mode))
    lines, _ = _train(tmp_path, **{"train.cuda_graphs": True})
    assert [x for x in lines if "--cuda-graphs" in x] == [
        "--cuda-graphs: CUDA graphs need a CUDA device (cpu here); compiling without them"]
    assert modes == ["default", "default"]  # G and D


def test_compile_mode_uses_cuda_graphs_only_on_cuda():
    assert accel.compile_mode(torch.device("cuda"), cuda_graphs=True) == "reduce-overhead"
    assert accel.compile_mode(torch.device("cuda"), cuda_graphs=False) == "default"
    assert accel.compile_mode(torch.device("cpu"), cuda_graphs=True) == "default"


# --- CUDA switches (set here without a GPU: they are process-wide flags) -----------------------

@pytest.fixture
def cuda_flags():
    saved = (torch.backends.cudnn.benchmark, torch.get_float32_matmul_precision(),
             torch.backends.cudnn.allow_tf32)
    yield
    torch.backends.cudnn.benchmark = saved[0]
    torch.set_float32_matmul_precision(saved[1])
    torch.backends.cudnn.allow_tf32 = saved[2]


def test_configure_cuda_sets_benchmark_and_tf32(cuda_flags):
    assert accel.configure_cuda(torch.device("cpu"), False, True) == []
    assert torch.get_float32_matmul_precision() == "highest"  # untouched off CUDA
    cuda = torch.device("cuda")
    assert accel.configure_cuda(cuda, False, True) == ["cudnn.benchmark=on", "tf32=on"]
    assert torch.backends.cudnn.benchmark and torch.backends.cuda.matmul.allow_tf32
    assert torch.backends.cudnn.allow_tf32
    # --deterministic keeps cuDNN's algorithm fixed; train.tf32=false is IEEE float32
    assert accel.configure_cuda(cuda, True, False) == ["cudnn.benchmark=off", "tf32=off"]
    assert not torch.backends.cudnn.benchmark
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32


def test_channels_last_moves_conv_nets_only_on_cuda():
    cfg = resolve("default")
    G, D = build_models(cfg.model, (1, 28, 28), 10)
    mlp_G, _ = build_models(resolve("seed-mlp").model, (1, 28, 28))
    z, y = torch.randn(4, 100), torch.arange(4)
    G.eval()
    before = G(z, y)
    assert not accel.channels_last(torch.device("cpu"), G, D)
    conv_weights = [m.weight for m in D.modules() if isinstance(m, torch.nn.Conv2d)]
    assert conv_weights and all(w.is_contiguous() for w in conv_weights)
    # the same call on a CUDA device object converts the (here CPU) tensors in place
    assert accel.channels_last(torch.device("cuda"), G, D)
    assert all(m.weight.is_contiguous(memory_format=torch.channels_last)
               for m in D.modules() if isinstance(m, torch.nn.Conv2d))
    torch.testing.assert_close(G(z, y), before, atol=1e-5, rtol=1e-5)  # same function
    assert not accel.channels_last(torch.device("cuda"), mlp_G)  # no convolutions: unchanged


@pytest.mark.parametrize("threads, deterministic, follow, expected", [
    (1, False, True, 1), (1, True, True, 1), (0, True, True, None), (0, False, True, 0),
    (2, False, False, 2), (0, False, False, None)])
def test_threads_for_run(monkeypatch, threads, deterministic, follow, expected):
    """A named count always; automatic: measured, except deterministic or machinery off."""
    calls = []
    monkeypatch.setattr(speed_threads, "set_threads", lambda n: calls.append(n) or max(n, 1))
    speed_threads.threads_for_run(threads, torch.device("cpu"), deterministic, follow)
    assert calls == ([] if expected is None else [expected])


def test_fixed_threads_restores_the_count():
    before = torch.get_num_threads()
    with speed_threads.fixed_threads(before + 1) as count:
        assert count == torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("kind", ["translation", "generation"])
def test_every_kind_of_run_applies_train_threads(monkeypatch, tmp_path, kind):
    """--set train.threads=1 is honoured by translation runs as by generation runs (a
    translation run once kept PyTorch's count, and two of them on two busy cores ran 40x
    slower): the driver's speed hook applies it for every kind, after the kind's setup."""
    import gankit

    seen, before = [], torch.get_num_threads()
    asked = before + 1  # another count than the process's
    real = speed_threads.threads_for_run
    monkeypatch.setattr(speed_threads, "threads_for_run",
                        lambda *args, **kwargs: seen.append(args) or real(*args, **kwargs))
    preset = "cyclegan" if kind == "translation" else "default"
    small = ({"translation__g_channels": 4, "translation__d_channels": 4,
              "translation__resnet_blocks": 1} if kind == "translation" else {})
    try:
        gankit.train(preset, out=tmp_path / "run", steps=1, epochs=0, batch_size=4,
                     train__threads=asked, train__tensorboard=False, train__sample_every=0,
                     **small)
        assert torch.get_num_threads() == asked  # the count the run trained on
    finally:
        torch.set_num_threads(before)
    assert [args[0] for args in seen] == [asked]


# --- the machinery off: GANKIT_SPEED=0 ---------------------------------------------------------

def test_with_the_machinery_off_a_run_is_plain_pytorch(tmp_path, monkeypatch):
    """GANKIT_SPEED=0: the kind's general step, F.linear products, PyTorch's thread count
    (not measured, not governed), optimisers as PyTorch made them, no calibration even where
    it would run; recorded as such in the header and config.json, and the run trains."""
    from gankit.core.models.linear import Linear
    from gankit.training.distributed import Context
    from gankit.training.driver import Session, _tuned
    from gankit.training.noise_to_image import setup as noise_to_image_setup
    from gankit.training.signals import GracefulStop

    monkeypatch.setenv("GANKIT_SPEED", "0")
    monkeypatch.setenv("GANKIT_CALIBRATE", "1")  # would calibrate, were the machinery on
    monkeypatch.setattr(speed_threads, "busy_cpus", lambda *a: pytest.fail("measured load"))
    cfg = resolve("seed-mlp", overrides={**TINY, "train.ema_kimg": 1})
    lines = []
    tuned = _tuned(Session(cfg, tmp_path, noise_to_image_setup, Context(), GracefulStop(),
                           echo=lines.append))
    setup, threads = tuned.setup, torch.get_num_threads()
    assert tuned.step is setup.strategy and tuned.step.name == "noise-to-image"
    assert tuned.callbacks == []  # no thread governor
    layers = [m for name in ("G", "D", "G_ema") for m in setup.state[name].modules()
              if isinstance(m, Linear)]
    assert layers and not any(layer.onednn for layer in layers)
    assert all("step" not in vars(setup.state[name]) for name in ("opt_G", "opt_D"))
    assert tuned.provenance["calibration"] == {
        "status": "off", "why": "GANKIT_SPEED=0", "label": f"general+mkl/{threads}t",
        "choice": {"step": "general", "onednn": False, "threads": threads}}
    assert [line for line in lines if line.startswith("calibration:")] == [
        f"calibration: general step, F.linear (MKL) products, {threads} thread"
        f"{'s' if threads != 1 else ''} (fixed: GANKIT_SPEED=0)"]
    lines, _ = _train(tmp_path)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["provenance"]["calibration"]["why"] == "GANKIT_SPEED=0"
