"""The calibration (gankit.speed.calibrate, gankit.speed.paths): measured once per machine
and networks, cached, switchable off, recorded, and never changing the run beyond the path
it picks.

The suite runs with GANKIT_CALIBRATE=0 (tests/conftest.py); these tests turn it on, point
the cache at their own folder and shrink the measurement to a couple of steps. The tests of
whole runs need the speed machinery; with GANKIT_SPEED=0 they skip, and one checks what a
run records then instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gankit.apps.train import run_training
from gankit.config import resolve
from gankit.core.models.linear import onednn_available
from gankit.errors import UserError
from gankit.speed import calibrate, fast_mlp, paths, speed_on
from gankit.speed.calibrate import Choice, Trial

# seed-mlp, small: products of 32 rows and 48 features go through oneDNN (sides > TINY)
TINY = {"train.steps": 3, "train.epochs": 0, "train.log_every": 1, "train.tensorboard": False,
        "model.g_hidden": "48", "model.d_hidden": "48", "train.grid_size": 4,
        "train.batch_size": 32, "train.checkpoint_every": 0}

needs_speed = pytest.mark.skipif(not speed_on(), reason="GANKIT_SPEED=0: the speed "
                                 "machinery is off, a run calibrates nothing")
needs_onednn = pytest.mark.skipif(not onednn_available(),
                                  reason="one path only without oneDNN: nothing to calibrate")


@pytest.fixture
def calibrating(tmp_path, monkeypatch):
    """Calibration on, its cache in tmp_path, a two-step measurement; counts the
    measurements (``counts["measure"]``) and every reading of its clock."""
    monkeypatch.setenv("GANKIT_CALIBRATE", "1")
    monkeypatch.setenv("GANKIT_CACHE_DIR", str(tmp_path / "cache"))
    for name in calibrate.ISA_CAPS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("GANKIT_ONEDNN", raising=False)
    monkeypatch.setattr(calibrate, "WARMUP", 1)
    monkeypatch.setattr(calibrate, "ROUND_STEPS", 1)
    monkeypatch.setattr(calibrate, "STEPS", 2)
    counts = {"measure": 0, "clock": 0, "candidates": []}
    real_measure, real_clock = calibrate.measure, calibrate._clock

    def counting_measure(candidates, trial, budget_seconds=None):
        counts["measure"] += 1
        counts["candidates"].append(list(candidates))
        return real_measure(candidates, trial, budget_seconds)

    def counting_clock():
        counts["clock"] += 1
        return real_clock()

    monkeypatch.setattr(calibrate, "measure", counting_measure)
    monkeypatch.setattr(calibrate, "_clock", counting_clock)
    return counts


def _run(tmp_path, name, **overrides):
    """A short seed-mlp run: (printed lines, config.json as a dict)."""
    cfg = resolve("seed-mlp", overrides={**TINY, **overrides})
    lines: list[str] = []
    run_dir = run_training(cfg, tmp_path / name, progress=False, echo=lines.append)
    return lines, json.loads((run_dir / "config.json").read_text())


def _calibration_lines(lines):
    return [line for line in lines if line.startswith("calibration:")]


def _steer(monkeypatch, winner: str):
    """measure() runs for real (trials on copies) but reports ``winner`` fastest."""
    real_measure = calibrate.measure

    def steered(candidates, trial, budget_seconds=None):
        measured = real_measure(candidates, trial, budget_seconds)
        assert measured is not None
        return {c: (0.001 if c.label == winner else 0.002) for c in measured}

    monkeypatch.setattr(calibrate, "measure", steered)


# --- measured once, then cached ---------------------------------------------------------------

@needs_speed
@needs_onednn
def test_choice_is_measured_once_cached_and_reused(tmp_path, calibrating):
    lines, config = _run(tmp_path, "first")
    assert calibrating["measure"] == 1 and calibrating["clock"] > 0
    labels = {c.label for c in calibrating["candidates"][0]}
    assert labels == {"fast-mlp+onednn/1t", "fast-mlp+mkl/1t", "general+onednn/1t",
                      "general+mkl/1t"}
    (header,) = _calibration_lines(lines)
    assert "measured here" in header and "ms/step" in header
    record = config["provenance"]["calibration"]
    assert record["status"] == "measured" and set(record["ms_per_step"]) == labels
    assert record["label"] in labels and record["when"]
    assert header.startswith(f"calibration: {Choice(**record['choice']).describe()} (")
    cache = json.loads((tmp_path / "cache" / "calibration.json").read_text())
    (entry,) = cache["entries"].values()
    assert entry["choice"] == record["choice"] and set(entry) >= {"choice", "timings", "when"}
    assert entry["key"]["torch"] == torch.__version__ and entry["key"]["cpu"]

    calibrating["clock"] = 0
    lines, config = _run(tmp_path, "second")
    assert calibrating["measure"] == 1 and calibrating["clock"] == 0  # nothing timed
    (header,) = _calibration_lines(lines)
    assert "cached in" in header
    again = config["provenance"]["calibration"]
    assert again["status"] == "cached" and again["choice"] == record["choice"]


@needs_speed
@needs_onednn
def test_corrupt_cache_is_ignored_with_one_line_and_rebuilt(tmp_path, calibrating):
    path = tmp_path / "cache" / "calibration.json"
    path.parent.mkdir()
    path.write_text("{not json")
    lines, _ = _run(tmp_path, "run")
    said = [line for line in lines if "rebuilding" in line]
    assert len(said) == 1 and str(path) in said[0] and "is corrupt" in said[0]
    assert calibrating["measure"] == 1
    assert len(json.loads(path.read_text())["entries"]) == 1
    lines, _ = _run(tmp_path, "again")  # the rebuilt file serves the next run
    assert calibrating["measure"] == 1 and not [x for x in lines if "rebuilding" in x]


@needs_speed
@needs_onednn
@pytest.mark.parametrize("switch", ["config", "env"])
def test_switched_off_keeps_the_fixed_choice_and_measures_nothing(tmp_path, calibrating,
                                                                  monkeypatch, switch):
    overrides = {"train.calibrate": False} if switch == "config" else {}
    if switch == "env":
        monkeypatch.setenv("GANKIT_CALIBRATE", "0")
    lines, config = _run(tmp_path, "run", **overrides)
    assert calibrating["measure"] == 0 and calibrating["clock"] == 0
    assert not (tmp_path / "cache").exists()
    (header,) = _calibration_lines(lines)
    why = "train.calibrate=false" if switch == "config" else "GANKIT_CALIBRATE=0"
    assert header == f"calibration: fast-mlp step, oneDNN products, 1 thread (fixed: {why})"
    record = config["provenance"]["calibration"]
    assert record["status"] == "off" and record["why"] == why
    assert record["choice"] == {"step": "fast-mlp", "onednn": True, "threads": 1}


def test_calibrate_is_validated_like_the_other_switches():
    assert resolve("seed-mlp", overrides={"train.calibrate": "false"}).train.calibrate is False
    with pytest.raises(UserError, match="calibrate"):
        resolve("seed-mlp", overrides={"train.calibrate": "sometimes"})


@needs_speed
@needs_onednn
@pytest.mark.parametrize("change", ["torch", "cpu", "isa"])
def test_a_new_key_measures_again(tmp_path, calibrating, monkeypatch, change):
    _run(tmp_path, "first")
    assert calibrating["measure"] == 1
    if change == "torch":
        monkeypatch.setattr(calibrate.torch, "__version__", "9.9.9")
    elif change == "cpu":
        monkeypatch.setattr(calibrate, "cpu_model", lambda: "Another CPU")
    else:  # oneDNN reads its cap at start-up; this run only files its choice under it
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    _run(tmp_path, "second")
    assert calibrating["measure"] == 2
    cache = json.loads((tmp_path / "cache" / "calibration.json").read_text())
    assert len(cache["entries"]) == 2  # both keys kept


@needs_speed
@needs_onednn
def test_explicit_fast_mlp_false_is_never_overruled(tmp_path, calibrating, monkeypatch):
    _steer(monkeypatch, "fast-mlp+onednn/1t")  # it would win, were it a candidate
    lines, config = _run(tmp_path, "run", **{"train.fast_mlp": False})
    (candidates,) = calibrating["candidates"]
    assert candidates and all(c.step == "general" for c in candidates)
    record = config["provenance"]["calibration"]
    assert record["choice"]["step"] == "general"
    assert all(not label.startswith("fast-mlp") for label in record["ms_per_step"])
    assert "general step" in _calibration_lines(lines)[0]


# --- the run is the one its path gives without calibration -----------------------------------

FIXED = {  # the winner's label -> how a run without calibration takes the same path
    "fast-mlp+onednn/1t": ({}, True),
    "general+onednn/1t": ({"train.fast_mlp": False}, True),
    "general+mkl/1t": ({"train.fast_mlp": False}, False),
}


@needs_speed
@needs_onednn
@pytest.mark.parametrize("winner", sorted(FIXED))
def test_calibrated_run_is_bit_identical_to_its_path_fixed(tmp_path, calibrating, monkeypatch,
                                                           winner):
    _steer(monkeypatch, winner)
    lines, config = _run(tmp_path, "calibrated")
    assert config["provenance"]["calibration"]["label"] == winner
    overrides, onednn = FIXED[winner]
    monkeypatch.setenv("GANKIT_ONEDNN", "1" if onednn else "0")  # the user's library
    _run(tmp_path, "fixed", **{"train.calibrate": False, **overrides})
    ours = torch.load(tmp_path / "calibrated" / "checkpoints" / "step_0000003.pt",
                      weights_only=True)
    theirs = torch.load(tmp_path / "fixed" / "checkpoints" / "step_0000003.pt",
                        weights_only=True)
    for net in ("G", "D"):
        for key, value in theirs[net].items():
            assert torch.equal(ours[net][key], value), (net, key)
    for opt in ("opt_G", "opt_D"):
        for index, state in theirs[opt]["state"].items():
            for key, value in state.items():
                assert torch.equal(ours[opt]["state"][index][key], value), (opt, key)


# --- the pieces -----------------------------------------------------------------------------

def test_options_leave_what_the_user_fixed_alone(monkeypatch):
    monkeypatch.delenv("GANKIT_ONEDNN", raising=False)
    cpu = torch.device("cpu")
    cfg = resolve("seed-mlp")
    default, candidates = calibrate.options(cfg, cpu, 1, fast=True, onednn=True, threads=4)
    assert default == Choice("fast-mlp", True, 4) and candidates[0] == default
    assert {c.threads for c in candidates} == {4, 2}
    assert {c.onednn for c in candidates} == {True, False}
    fixed_threads = resolve("seed-mlp", overrides={"train.threads": 4})
    both = dict(fast=True, onednn=True, threads=4)
    assert {c.threads for c in calibrate.options(fixed_threads, cpu, 1, **both)[1]} == {4}
    for cfg_, device, world in ((resolve("seed-mlp", overrides={"train.deterministic": True}),
                                 cpu, 1), (cfg, cpu, 2), (cfg, torch.device("cuda"), 1)):
        assert calibrate.options(cfg_, device, world, **both)[1] == [
            calibrate.options(cfg_, device, world, **both)[0]]
    # a GANKIT_ONEDNN setting is the user's library: never the other one
    assert {c.onednn for c in calibrate.options(cfg, cpu, 1, fast=True, onednn=True, threads=1,
                                                library_fixed=True)[1]} == {True}
    # F.linear products (GANKIT_ONEDNN=0, or no oneDNN here): the general step only
    assert {(c.step, c.onednn) for c in calibrate.options(cfg, cpu, 1, fast=False, onednn=False,
                                                          threads=1)[1]} == {("general", False)}


def test_measure_restores_the_random_stream_and_threads(monkeypatch):
    monkeypatch.setattr(calibrate, "WARMUP", 1)
    monkeypatch.setattr(calibrate, "ROUND_STEPS", 1)
    monkeypatch.setattr(calibrate, "STEPS", 2)
    threads, rng = torch.get_num_threads(), torch.get_rng_state()
    candidates = [Choice("general", None, 1), Choice("general", None, 2)]
    seen = []

    def trial(choice):
        return Trial(lambda: seen.append((choice, torch.get_num_threads(), torch.randn(1))))

    timings = calibrate.measure(candidates, trial)
    assert set(timings) == set(candidates)
    assert {(c.threads, n) for c, n, _ in seen} == {(1, 1), (2, 2)}  # each on its threads
    assert torch.get_num_threads() == threads and torch.equal(torch.get_rng_state(), rng)


def test_networks_too_slow_to_time_keep_the_fixed_choice(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CALIBRATE", "1")
    monkeypatch.setenv("GANKIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(calibrate, "BUDGET_SECONDS", 0.01)
    clock = iter(range(0, 10 ** 6))  # one "second" per reading
    monkeypatch.setattr(calibrate, "_clock", lambda: float(next(clock)))
    default, other = Choice("fast-mlp", True, 1), Choice("general", True, 1)
    decision = calibrate.decide(resolve("seed-mlp"), default, [default, other], {"k": 1},
                                lambda choice: Trial(lambda: None), print)
    assert decision.status == "too slow" and decision.choice == default
    again = calibrate.decide(resolve("seed-mlp"), default, [default, other], {"k": 1},
                             lambda choice: pytest.fail("measured again"), print)
    assert again.status == "too slow" and "cached" in again.why


def test_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "eval"))
    assert calibrate.cache_path() == tmp_path / "mine" / "calibration.json"
    monkeypatch.delenv("GANKIT_CACHE_DIR")
    assert calibrate.cache_path() == tmp_path / "eval" / "calibration.json"  # gankit eval's
    monkeypatch.delenv("GANKIT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert calibrate.cache_path() == tmp_path / "xdg" / "gankit" / "calibration.json"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert calibrate.cache_path() == tmp_path / "home" / ".cache" / "gankit" / "calibration.json"


def test_cpu_model_is_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n")
    assert calibrate.cpu_model(str(info)) == "AMD EPYC 7B13"
    assert calibrate.cpu_model(str(tmp_path / "missing"))  # platform's answer, never empty


# --- what the driver's hook does with the choice ----------------------------------------------

def _tuned(overrides=None, echo=None):
    """The driver's hook on a small seed-mlp session (no run directory, no training)."""
    from gankit.training.distributed import Context
    from gankit.training.driver import Session, _tuned
    from gankit.training.noise_to_image import setup as noise_to_image_setup
    from gankit.training.signals import GracefulStop

    cfg = resolve("seed-mlp", overrides={**TINY, "train.ema_kimg": 1, **(overrides or {})})
    return _tuned(Session(cfg, Path("unused"), noise_to_image_setup, Context(), GracefulStop(),
                          echo=echo or (lambda line: None)))


def _linear_layers(setup):
    from gankit.core.models.linear import Linear

    return [m for name in ("G", "D", "G_ema") for m in setup.state[name].modules()
            if isinstance(m, Linear)]


@needs_speed
@needs_onednn
@pytest.mark.parametrize("winner", ["fast-mlp+onednn/1t", "fast-mlp+mkl/1t",
                                    "general+onednn/1t", "general+mkl/1t"])
def test_the_choice_is_set_on_the_runs_networks_and_step(calibrating, monkeypatch, winner):
    """The products are an explicit setting of each gankit Linear of G, D and G_ema and of
    the hand-written step; the step is the kind's general one, or it with the hand-written
    update."""
    _steer(monkeypatch, winner)
    tuned = _tuned()
    choice = Choice(**tuned.provenance["calibration"]["choice"])
    assert choice.label == winner
    layers = _linear_layers(tuned.setup)
    assert len(layers) == 2 + 2 + 2 and all(layer.onednn is choice.onednn for layer in layers)
    assert tuned.step.name == ("fast-mlp" if choice.step == "fast-mlp" else "noise-to-image")
    if choice.step == "fast-mlp":
        assert isinstance(tuned.step.step_fn, fast_mlp.FastMLPStep)
        assert tuned.step.step_fn.onednn is choice.onednn
    else:
        assert tuned.step is tuned.setup.strategy  # the kind's own step, not rebuilt


@needs_speed
@needs_onednn
def test_a_measurement_builds_each_step_once_on_one_set_of_copies(calibrating, monkeypatch):
    """The kind builds its general step once for the run; a measurement rebuilds it once on
    one set of copies and builds the hand-written step once there, for all 4 candidates;
    the run's own hand-written step is built once. A cached choice copies nothing."""
    from gankit.training import noise_to_image

    built = {"general": 0, "fast": 0, "copies": 0}

    def counting(name, real):
        def call(*args, **kwargs):
            built[name] += 1
            return real(*args, **kwargs)
        return call

    monkeypatch.setattr(noise_to_image, "_general_step",
                        counting("general", noise_to_image._general_step))
    monkeypatch.setattr(fast_mlp.FastMLPStep, "__init__",
                        counting("fast", fast_mlp.FastMLPStep.__init__))
    monkeypatch.setattr(paths.Trials, "_build", counting("copies", paths.Trials._build))
    _tuned()
    assert calibrating["measure"] == 1 and len(calibrating["candidates"][0]) == 4
    assert built == {"general": 2, "fast": 2, "copies": 1}
    built.update(general=0, fast=0, copies=0)
    _tuned()  # cached
    assert calibrating["measure"] == 1 and built == {"general": 1, "fast": 1, "copies": 0}


@needs_speed
@needs_onednn
def test_gankit_onednn_0_keeps_plain_products_and_the_general_step(calibrating, monkeypatch):
    """GANKIT_ONEDNN=0 is the user's: F.linear products everywhere, hence no hand-written
    step, and the calibration never tries oneDNN."""
    monkeypatch.setenv("GANKIT_ONEDNN", "0")
    tuned = _tuned()
    record = tuned.provenance["calibration"]
    assert record["choice"]["step"] == "general" and record["choice"]["onednn"] is False
    assert not any(layer.onednn for layer in _linear_layers(tuned.setup))
    assert calibrating["candidates"] in ([], [[Choice("general", False, 1)]])
