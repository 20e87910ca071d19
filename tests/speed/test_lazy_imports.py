"""An eager `gankit train` skips importing torch._dynamo, with the same optimiser updates
(gankit.speed.lazy_imports, the speed machinery's lazy imports)."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import torch

from gankit.speed import speed_on
from gankit.speed.lazy_imports import lazy_steps, optimizer_step


@pytest.mark.parametrize("fused", [True, False])
def test_optimizer_step_is_the_same_update_as_step(fused):
    """Three Adam updates through optimizer_step, through a lazy step (lazy_steps, then
    opt.step()) and through PyTorch's opt.step() agree bit for bit."""
    def train(step, lazy=False):
        torch.manual_seed(0)
        net = torch.nn.Linear(8, 4)
        opt = torch.optim.Adam(net.parameters(), lr=1e-2, betas=(0.5, 0.999), fused=fused)
        if lazy:
            lazy_steps([opt])
        for i in range(3):
            opt.zero_grad()
            net(torch.randn(16, 8, generator=torch.Generator().manual_seed(i))).square().mean() \
                .backward()
            step(opt)
        return [p.detach().clone() for p in net.parameters()], opt.state_dict()

    (ours, our_state), (theirs, their_state) = train(optimizer_step), train(lambda o: o.step())
    lazily, lazy_state = train(lambda o: o.step(), lazy=True)
    for mine, state in ((ours, our_state), (lazily, lazy_state)):
        assert all(torch.equal(a, b) for a, b in zip(mine, theirs))
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert all(torch.equal(state["state"][i][key], their_state["state"][i][key])
                       for i in state["state"])


def test_lazy_steps_are_the_optimisers_own_and_not_copied():
    """An optimiser given a lazy step keeps it through load_state_dict; copies are plain
    optimisers (PyTorch copies only their state), and a step with a closure is PyTorch's."""
    net = torch.nn.Linear(2, 1)
    opt = torch.optim.Adam(net.parameters())
    lazy_steps([opt])
    assert "step" in vars(opt)
    opt.load_state_dict(opt.state_dict())
    assert "step" in vars(opt)
    assert "step" not in vars(copy.deepcopy(opt))
    closure_calls = []

    def closure():
        closure_calls.append(1)
        opt.zero_grad()
        loss = net(torch.ones(1, 2)).sum()
        loss.backward()
        return loss

    assert opt.step(closure) is not None and closure_calls == [1]


def test_optimizer_step_keeps_registered_hooks():
    """With a step hook registered the optimiser's full step runs, hooks included."""
    net = torch.nn.Linear(2, 1)
    opt = torch.optim.Adam(net.parameters())
    calls = []
    opt.register_step_post_hook(lambda *args: calls.append(1))
    net(torch.ones(1, 2)).sum().backward()
    optimizer_step(opt)
    assert calls == [1]


@pytest.mark.skipif(not speed_on(), reason="GANKIT_SPEED=0: no lazy imports, plain PyTorch")
def test_a_one_step_cli_run_does_not_import_the_compiler(tmp_path):
    """`gankit train --preset seed-mlp --steps 1` (and one of the default preset, the general
    step) ends without torch._dynamo in sys.modules: its import is about 1-2 s of start-up.
    Nor matplotlib (about 0.75 s on an AVX2 machine): the loss plot is drawn with Pillow."""
    code = ("import runpy, sys\n"
            "sys.argv = ['gankit', 'train', '--preset', sys.argv[1], '--steps', '1', '--out', "
            "sys.argv[2], '--no-progress', '--set', 'train.calibrate=false']\n"
            "try:\n    runpy.run_module('gankit', run_name='__main__')\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "print('DYNAMO', 'torch._dynamo' in sys.modules)\n"
            "print('MATPLOTLIB', 'matplotlib' in sys.modules)\n")
    for preset in ("seed-mlp", "default"):
        done = subprocess.run([sys.executable, "-c", code, preset, str(tmp_path / preset)],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "DYNAMO False" in done.stdout, preset
        assert "MATPLOTLIB False" in done.stdout, preset
        assert (tmp_path / preset / "loss.png").is_file()
