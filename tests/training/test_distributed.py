"""Data-parallel training (issue 8): 2 CPU processes with gloo on 127.0.0.1 under torchrun.

The DDP runs must compute what one process computes on the whole global batch: each rank
takes its strided share of the epoch's permutation and its rows of the global z, so after k
steps the weights agree within 1e-5 (float summation order is all that differs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gankit.cli import main
from gankit.data.batches import EpochBatches
from gankit.training.distributed import Context, ShardedEpochBatches, strip_nproc

QUIET = ["--no-progress", "--set", "train.tensorboard=false"]


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT"):
        env.pop(key, None)
    return env


def torchrun(*args, nproc: int = 2) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node=2 -m gankit ARGS`` on the CPU (gloo)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={nproc}", "-m", "gankit", *map(str, args)]
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def single(*args) -> None:
    assert main([str(a) for a in args]) == 0


def _state(run_dir: Path, step: int) -> dict:
    return torch.load(run_dir / "checkpoints" / f"step_{step:07d}.pt", weights_only=True)


def _differences(a: dict, b: dict):
    """|a - b| of each tensor of G, D, G_ema and both optimisers' states, in float64."""
    for net in ("G", "D", "G_ema"):
        if a.get(net) is None:
            continue
        assert a[net].keys() == b[net].keys()
        for key in a[net]:
            yield (a[net][key].double() - b[net][key].double()).abs()
    for opt in ("opt_G", "opt_D"):
        for index, values in a[opt]["state"].items():
            for key, value in values.items():
                yield (value.double() - b[opt]["state"][index][key].double()).abs()


def max_difference(a: dict, b: dict) -> float:
    """Largest absolute difference of G, D, G_ema and both optimisers' tensors."""
    return max(difference.max().item() for difference in _differences(a, b))


def share_differing(a: dict, b: dict, tolerance: float) -> float:
    """Share of all the elements of G, D, G_ema and both optimisers' tensors that differ by
    more than ``tolerance``."""
    differing = total = 0
    for difference in _differences(a, b):
        differing += int((difference > tolerance).sum())
        total += difference.numel()
    return differing / total


def _log(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


# --- pieces, in one process ------------------------------------------------------------------

@pytest.mark.parametrize("n,batch,drop_last", [(50, 8, False), (50, 8, True), (49, 8, False),
                                               (17, 16, False)])
def test_shards_of_a_batch_are_the_single_process_batch(n, batch, drop_last):
    images = torch.arange(n, dtype=torch.float32).view(n, 1)  # points: yielded as they are
    whole = EpochBatches(images, None, batch, drop_last, seed=3, value_range="tanh")
    shards = [ShardedEpochBatches(images, None, batch, drop_last, 3, "tanh", rank=rank,
                                  world_size=2) for rank in range(2)]
    assert len(shards[0]) == len(shards[1]) <= len(whole)
    for epoch in (0, 1):
        pairs = zip(whole.epoch(epoch), *(s.epoch(epoch) for s in shards))
        for (full, _), (a, _), (b, _) in pairs:
            assert a.shape == b.shape  # equal shares: averaged gradients are the global ones
            merged = torch.stack([a, b], 1).reshape(-1, 1)  # rank r holds rows r, r+2, ...
            assert torch.equal(merged, full[:merged.shape[0]])
            assert full.shape[0] - merged.shape[0] < 2  # an odd last batch loses one row


def test_noise_rows_are_the_rank_share_of_the_global_z():
    torch.manual_seed(5)
    whole = torch.randn(8, 3)
    for rank in range(2):
        torch.manual_seed(5)
        part = Context(rank=rank, world_size=2).noise(4, 3, "cpu")
        assert torch.equal(part, whole[rank::2])


def test_batch_sizes_split_or_multiply():
    ctx = Context(rank=0, world_size=2)
    assert ctx.batch_sizes(64) == (64, 32)
    assert ctx.batch_sizes(64, per_device_batch=48) == (96, 48)
    from gankit.errors import UserError

    with pytest.raises(UserError, match="does not split evenly"):
        ctx.batch_sizes(63)
    assert Context().batch_sizes(63) == (63, 63)


def test_strip_nproc():
    assert strip_nproc(["train", "--nproc", "2", "--steps", "3"]) == ["train", "--steps", "3"]
    assert strip_nproc(["train", "--nproc=4", "--out", "x"]) == ["train", "--out", "x"]


# --- 2 processes against 1 -------------------------------------------------------------------

@pytest.mark.slow
def test_ddp_mlp_and_its_scores_equal_single_process(tmp_path):
    """seed-tutorial MLPs (no BatchNorm), global batch 32, 4 steps: the weights agree, the
    logged losses are those of the global batch, and --eval-every under 2 processes (each
    makes half the samples, the features are gathered) gives one process's FID and mode
    counts."""
    args = ["train", "--preset", "seed-tutorial", "--steps", 4, "--batch-size", 32,
            "--eval-every", 2, *QUIET]
    single(*args, "--out", tmp_path / "one")
    torchrun(*args, "--out", tmp_path / "two")
    assert max_difference(_state(tmp_path / "one", 4), _state(tmp_path / "two", 4)) < 1e-5
    # the logged losses are those of the global batch (mean over the ranks)
    losses = lambda run: [r for r in _log(run) if "loss_d" in r]
    one, two = losses(tmp_path / "one")[-1], losses(tmp_path / "two")[-1]
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "kimg"):
        assert one[key] == pytest.approx(two[key], abs=1e-5)
    scores = lambda run: [r for r in _log(run) if "fid" in r]
    one, two = scores(tmp_path / "one"), scores(tmp_path / "two")
    assert [r["step"] for r in one] == [r["step"] for r in two] == [2, 4]
    for a, b in zip(one, two):
        assert a["fid"] == pytest.approx(b["fid"], rel=1e-3)
        assert a["modes"] == b["modes"] and a["probe_modes"] == b["probe_modes"]


@pytest.mark.slow
def test_ddp_dcgan_with_sync_batchnorm_equals_single_process(tmp_path):
    """DCGAN G has BatchNorm: with --sync-batchnorm its statistics are the global batch's."""
    args = ["train", "--preset", "dcgan", "--steps", 3, "--batch-size", 16, *QUIET]
    single(*args, "--out", tmp_path / "one")
    torchrun(*args, "--sync-batchnorm", "--out", tmp_path / "two")
    one, two = _state(tmp_path / "one", 3), _state(tmp_path / "two", 3)
    # BatchNorm's running statistics are the global batch's (without the sync they are each
    # rank's half batch, and this fails)
    for key in ("project.2.running_mean", "project.2.running_var"):
        assert (one["G"][key] - two["G"][key]).abs().max() < 1e-5, key
    # The weights before a BatchNorm get gradients near 0 (BN removes their mean), where
    # Adam's first steps move by about lr x sign(gradient): a summation-order difference can
    # flip a sign and move an element by ~lr (2e-4). That hits a few elements in a million
    # with the libraries capped to AVX2 (none on AVX-512); without the sync most differ.
    assert share_differing(one, two, 1e-5) < 1e-3
    assert "project.2.running_mean" in two["G"]  # plain BatchNorm names: loads anywhere


@pytest.mark.slow
def test_torchrun_writes_one_run_and_resumes(tmp_path):
    out = tmp_path / "run"
    common = ["--set", "train.checkpoint_every=3", "--set", "train.log_every=2",
              "--set", "train.sample_every=3", *QUIET]
    first = torchrun("train", "--preset", "dcgan", "--batch-size", 16, "--steps", 6,
                     "--out", out, *common)
    assert first.stdout.count("run directory:") == 1  # rank 0 alone prints
    assert first.stdout.count("trained 6 steps") == 1
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        f"step_{s:07d}.{ext}" for s in (0, 3, 6) for ext in ("json", "pt")]
    assert [r["step"] for r in _log(out)] == [2, 4, 6]
    assert sorted(p.name for p in (out / "samples").iterdir()) == [
        "final.png", "step_0000003.png", "step_0000006.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
    assert _state(out, 6)["images_seen"] == 6 * 16  # global images

    again = torchrun("train", "--resume", out, "--steps", 8, *common)
    assert "resuming" in again.stdout and again.stdout.count("trained 8 steps") == 1
    assert [r["step"] for r in _log(out)] == [2, 4, 6, 8]
    assert _state(out, 8)["step"] == 8


@pytest.mark.slow
def test_resume_across_one_and_two_processes_is_exact(tmp_path):
    """1 process -> `gankit train --nproc 2` -> 1 process equals one uninterrupted run."""
    args = ["--preset", "seed-tutorial", "--batch-size", 32, *QUIET]
    single("train", *args, "--steps", 6, "--out", tmp_path / "straight")
    mixed = tmp_path / "mixed"
    single("train", *args, "--steps", 2, "--out", mixed)
    done = subprocess.run([sys.executable, "-m", "gankit", "train", "--resume", str(mixed),
                           "--steps", "4", "--nproc", "2", *QUIET], env=_env(),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert _state(mixed, 4)["step"] == 4
    single("train", "--resume", mixed, "--steps", 6, *QUIET)
    assert max_difference(_state(tmp_path / "straight", 6), _state(mixed, 6)) < 1e-5
    assert [r["step"] for r in _log(mixed)] == [2, 4, 6]  # each run logs its last step
    last, straight = _log(mixed)[-1], _log(tmp_path / "straight")[-1]
    for key in ("loss_d", "loss_g", "kimg"):
        assert last[key] == pytest.approx(straight[key], abs=1e-5)


def test_nproc_refuses_an_existing_run_in_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    single("train", "--preset", "seed-tutorial", "--steps", 1, "--out", out, *QUIET)
    capsys.readouterr()
    code = main(["train", "--preset", "seed-tutorial", "--steps", "1", "--out", str(out),
                 "--nproc", "2", *QUIET])
    assert code == 2
    assert "already holds a run" in capsys.readouterr().err
    code = main(["train", "--preset", "seed-tutorial", "--steps", "1", "--batch-size", "15",
                 "--out", str(tmp_path / "other"), "--nproc", "2", *QUIET])
    assert code == 2 and "does not split evenly" in capsys.readouterr().err


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_a_signal_to_one_rank_stops_every_rank_at_the_same_step(tmp_path):
    """SIGTERM reaching rank 1 alone: the ranks agree, rank 0 checkpoints, all exit 0."""
    import signal
    import time

    out = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", "-m", "gankit", "train", "--preset", "seed-tutorial",
               "--steps", "1000000", "--out", str(out), *QUIET]
    launcher = subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 240
        while not (out / "checkpoints" / "step_0000000.pt").exists():  # training has begun
            if launcher.poll() is not None or time.monotonic() > deadline:
                launcher.kill()
                pytest.fail("torchrun did not start training:\n" + launcher.communicate()[0])
            time.sleep(0.2)
        workers = [pid for pid in _children(launcher.pid)
                   if "RANK=1" in Path(f"/proc/{pid}/environ").read_text().split("\0")]
        assert len(workers) == 1, _children(launcher.pid)
        time.sleep(1.0)
        os.kill(workers[0], signal.SIGTERM)
        output, _ = launcher.communicate(timeout=240)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 0, output[-3000:]
    saved = sorted(p.name for p in (out / "checkpoints").glob("*.pt"))
    assert len(saved) == 2 and saved[0] == "step_0000000.pt"  # step 0 and the stop
    assert "trained" in output and 0 < _state(out, int(saved[1][5:12]))["step"] < 1000000


@pytest.mark.slow
def test_two_node_recipe_on_loopback(tmp_path):
    """The multi-node recipe of examples/slurm_gankit.sbatch (--nnodes 2, --node_rank,
    static rendezvous at the first node), both "nodes" on 127.0.0.1."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = ["train", "--preset", "seed-tutorial", "--steps", "3", "--batch-size", "32", *QUIET]
    nodes = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=1",
         f"--node_rank={rank}", "--master_addr=127.0.0.1", f"--master_port={port}",
         "-m", "gankit", *args, "--out",
         str(tmp_path / "two")], env=_env(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True) for rank in (0, 1)]
    outputs = [node.communicate(timeout=300)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    single(*args, "--out", tmp_path / "one")
    assert max_difference(_state(tmp_path / "one", 3), _state(tmp_path / "two", 3)) < 1e-5


# gankit's main() with a handler that marks the interpreter's normal teardown
TEARDOWN_PROBE = """
import atexit, sys
atexit.register(lambda: print("interpreter teardown ran"))
from gankit.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("in_job", [True, False])
def test_a_torchrun_process_skips_the_interpreter_teardown(tmp_path, in_job):
    """Under torchrun the CLI ends the process itself (no teardown, where PyTorch's C++ side
    once aborted a finished rank), with the exit code and everything printed kept."""
    env = _env()
    if in_job:
        env.update(RANK="1", WORLD_SIZE="2", LOCAL_RANK="1")
    for args, code in ((["list", "presets"], 0), (["list", "no-such-thing"], 2),
                       (["sample", str(tmp_path / "no-run")], 2)):
        done = subprocess.run([sys.executable, "-c", TEARDOWN_PROBE, *args], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == code, done.stderr
        assert ("interpreter teardown ran" in done.stdout) is not in_job
        if code == 0:
            assert "seed-tutorial" in done.stdout  # the buffered listing was flushed
        else:
            assert done.stderr.strip().startswith(("gankit: error:", "usage:")), done.stderr


NAN_ON_RANK_1 = '''
import os, sys
import torch
import gankit.training.strategies

real_g_step, calls = gankit.training.strategies.g_step, [0]


def g_step(*args, **kwargs):  # rank 1's 5th G step reports a non-finite loss
    stats = real_g_step(*args, **kwargs)
    calls[0] += 1
    if os.environ["RANK"] == "1" and calls[0] == 5:
        stats["loss_g"] = torch.tensor(float("nan"))
    return stats


gankit.training.strategies.g_step = g_step
from gankit.cli import main
sys.exit(main(sys.argv[1:]))
'''


@pytest.mark.slow
def test_divergence_on_one_rank_rolls_back_every_rank(tmp_path):
    script = tmp_path / "nan_on_rank_1.py"
    script.write_text(NAN_ON_RANK_1)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", str(script), "train", "--preset", "seed-tutorial",
               "--batch-size", "32", "--steps", "8", "--out", str(tmp_path / "run"),
               "--set", "train.checkpoint_every=2", *QUIET]
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("rolling back to the last checkpoint") == 1  # rank 0 says it
    assert "at step 5" in done.stdout and "trained 8 steps" in done.stdout
    final = _state(tmp_path / "run", 8)
    assert final["opt_G"]["param_groups"][0]["lr"] == pytest.approx(1e-4)  # halved


@pytest.mark.slow
def test_torchrun_resumes_exactly_on_a_streamed_prepared_set(tmp_path):
    """A prepared set over the memory budget under 2 processes: each streams its rows of
    every batch from the map; 3 steps, a resume mid-epoch, 3 more equal 6 steps in one
    process on the same set (within float summation order)."""
    import numpy as np

    from gankit.data.prepared import PreparedWriter

    rng = np.random.default_rng(0)
    with PreparedWriter(tmp_path / "set", 64, (1, 28, 28)) as writer:
        writer.images[:] = rng.integers(0, 256, (64, 1, 28, 28), dtype=np.uint8)
        writer.finish(np.arange(64) % 2, ("a", "b"))
    args = ["--preset", "seed-tutorial", "--batch-size", 16, "--data", tmp_path / "set",
            "--set", "data.memory_budget_gb=0.000001", *QUIET]
    single("train", *args, "--steps", 6, "--out", tmp_path / "straight")
    first = torchrun("train", *args, "--steps", 3, "--out", tmp_path / "two")
    assert "over the memory budget" in first.stdout  # streamed, not loaded
    torchrun("train", "--resume", tmp_path / "two", "--steps", 6, *QUIET)
    assert max_difference(_state(tmp_path / "straight", 6), _state(tmp_path / "two", 6)) < 1e-5
