"""Keep an eager run from importing torch._dynamo (about 1-2 s of start-up on 2 cores).

PyTorch imports ``torch._dynamo`` (the compiler's front end) the first time an optimiser is
built, zeroed, saved or stepped, even in a program that never compiles anything:

* four methods of ``torch.optim.Optimizer`` (``add_param_group``, which every constructor
  calls, ``zero_grad``, ``state_dict``, ``load_state_dict``) are wrapped by
  ``torch._compile._disable_dynamo``, whose first call imports torch._dynamo to build
  ``torch._dynamo.disable(method)``;
* every ``step`` is wrapped by ``_use_grad_for_differentiable``, which imports it to place
  graph breaks around the update.

Both wrappers matter only while ``torch.compile`` traces the caller. gankit never builds,
zeroes, saves or steps an optimiser inside a compiled function, so a run that compiles
nothing can skip them:

* :func:`skip_dynamo_import` fills the first wrapper's cache with the plain method. It
  changes PyTorch's ``Optimizer`` for the whole process, so only ``gankit train`` asks for
  it (through the driver, :func:`gankit.training.driver.eager_start`): other programs
  importing gankit keep PyTorch's behaviour;
* :func:`lazy_steps` gives the optimisers of one run (the driver's hook passes them) a
  ``step`` that is :func:`optimizer_step`: the optimiser's own step under
  ``torch.no_grad()`` (what the second wrapper does for a non-differentiable optimiser).
  The step functions (``d_step``, the hand-written MLP step) just call ``opt.step()``.

The same update runs either way (``tests/speed/test_lazy_imports.py`` checks it bit for bit).
Both look at private details of PyTorch (the wrapper's cache attribute, ``__wrapped__``).
The wrappers are recognised by their code objects, and once torch._dynamo is imported (a
``--compile`` run, or another part of the program) everything goes through PyTorch's own
path again, so a PyTorch whose wrappers differ is merely slower to start.
"""

from __future__ import annotations

import functools
import inspect
import sys
from typing import Iterable

import torch
import torch.optim.optimizer as optimizer_module

_METHODS = ("add_param_group", "zero_grad", "state_dict", "load_state_dict")


def dynamo_imported() -> bool:
    return "torch._dynamo" in sys.modules


def skip_dynamo_import() -> list[str]:
    """Let the Optimizer methods above run without importing torch._dynamo; returns the
    names it changed (none where torch._dynamo is already imported or the wrappers are not
    the ones this module knows)."""
    if dynamo_imported():
        return []
    try:
        from torch._compile import _disable_dynamo
    except ImportError:
        return []
    wrapper_code = _disable_dynamo(lambda: None).__code__
    changed = []
    for name in _METHODS:
        method = getattr(torch.optim.Optimizer, name, None)
        original = getattr(method, "__wrapped__", None)
        if getattr(method, "__code__", None) is not wrapper_code or original is None:
            continue
        if getattr(original, "__dynamo_disable", None) is None:
            original.__dynamo_disable = original
            changed.append(name)
    return changed


def _has_step_hooks(opt: torch.optim.Optimizer) -> bool:
    """Whether ``opt.step()`` would run hooks that the optimiser's own step skips."""
    own = getattr(opt, "_optimizer_step_pre_hooks", None), \
        getattr(opt, "_optimizer_step_post_hooks", None)
    shared = getattr(optimizer_module, "_global_optimizer_pre_hooks", None), \
        getattr(optimizer_module, "_global_optimizer_post_hooks", None)
    return any(hooks is None or len(hooks) for hooks in (*own, *shared))


def optimizer_step(opt: torch.optim.Optimizer) -> None:
    """The optimiser's step; before torch._dynamo is imported, without the wrappers that
    import it (the same update: the optimiser's own step, gradients off as its wrapper sets
    them). The class's step, so that it also serves as :func:`lazy_steps`' instance step."""
    step = type(opt).step
    if dynamo_imported() or opt.defaults.get("differentiable") or _has_step_hooks(opt):
        step(opt)
        return
    with torch.no_grad():
        inspect.unwrap(step)(opt)


def _lazy_step(opt: torch.optim.Optimizer, *args, **kwargs):
    if args or kwargs:  # a closure: PyTorch's own path
        return type(opt).step(opt, *args, **kwargs)
    optimizer_step(opt)
    return None


def lazy_steps(optimisers: Iterable[torch.optim.Optimizer]) -> None:
    """Give each optimiser an own ``step`` that is :func:`optimizer_step` (a call with a
    closure takes PyTorch's path). ``load_state_dict`` keeps it; a copy
    (``copy.deepcopy``, pickling) does not: PyTorch copies only an optimiser's state."""
    for opt in optimisers:
        opt.step = functools.partial(_lazy_step, opt)
