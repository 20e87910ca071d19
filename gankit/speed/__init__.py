"""The speed machinery: everything that makes a run faster without changing its mathematics,
behind one call from the training driver.

**Where it sits.** Between ``gankit.config`` and ``gankit.training`` in the layers: it may
import ``core``, ``data`` and ``config``, and needs nothing from ``training``. Outside this
package only the driver (:mod:`gankit.training.driver`) imports it (``tests/test_layout.py``
holds that, with the few named exceptions there): the driver calls :func:`tune` once per
session, hands ``gankit train``'s start-up (:func:`skip_compiler_import`) and a fixed
thread count (:func:`fixed_threads`, for the extractors) to callers that ask it, and
nothing else in gankit knows that the machinery exists. Training kinds build only their
general step; a kind that can be tuned says so by offering its pieces
(:class:`~gankit.speed.paths.Offer`), which this package reads by their attributes.

**What it owns**, one module each:

- :mod:`~gankit.speed.hook`: :func:`tune`, the order of everything below;
- :mod:`~gankit.speed.threads`: the thread count, its one owner (nothing else in gankit
  calls ``torch.set_num_threads``): ``train.threads``, the automatic count and its load
  window; :mod:`~gankit.speed.governor`: the count following the machine's load during a run;
- :mod:`~gankit.speed.precision`: what ``train.precision=auto`` picks here, and the warning
  for bf16 on a CPU without it (the bf16 probe);
- :mod:`~gankit.speed.products`: which library gankit's ``Linear`` layers multiply with
  (the oneDNN product), set explicitly on a run's networks, never a process-wide switch;
- :mod:`~gankit.speed.fast_mlp`: the hand-written MLP step, a step function built from the
  run's G, D, optimisers and loss, which the driver gives the kind's step as its update;
- :mod:`~gankit.speed.calibrate` and :mod:`~gankit.speed.paths`: which of the equivalent
  paths is fastest here, measured once per machine and cached;
- :mod:`~gankit.speed.lazy_imports`: an eager run never imports torch's compiler;
- :mod:`~gankit.speed.switches`: the environment switches.

**Off.** ``GANKIT_SPEED=0`` turns the machinery off: no calibration, no hand-written step,
no oneDNN products, no automatic thread count or following, no lazy import; a run is plain
PyTorch with its kind's general step (``--threads N`` and ``--precision`` still apply:
they are the user's settings, not tricks). Every path computes the same mathematics, so on
and off agree to float32 tolerance (oneDNN and MKL round differently), not bit for bit.
"""

from gankit.speed.hook import Built, Session, Tuned, skip_compiler_import, tune
from gankit.speed.paths import Offer
from gankit.speed.switches import speed_on
from gankit.speed.threads import available_cpus, fixed_threads

__all__ = ["Built", "Offer", "Session", "Tuned", "available_cpus", "fixed_threads",
           "skip_compiler_import", "speed_on", "tune"]
