"""Where a seed-mlp training step's time goes, and how far gankit can still go against the
tutorial's loop on this machine.

    python bench/step_floor.py                 # 2 threads (the default on 2 CPUs), 5 rounds
    python bench/step_floor.py --profile       # and the step's operators by time (PyTorch's
                                               #   profiler, 100 steps)
    ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 python bench/step_floor.py

In alternating rounds, in one process, on the same threads (ms per step of batch 64):

- ``tutorial``: the tutorial's literal §4 step (``bench/tutorial_reference.py``'s loop, its
  DataLoader included, as ``bench/throughput.py`` times it);
- ``gankit step``: gankit's hand-written MLP step (:mod:`gankit.training.fast_mlp`) for
  each library its products can take (oneDNN, and MKL through ``F.linear``);
- ``its products``: the same step's 20 large matrix products alone, replayed with the
  operands one step recorded (same shapes, layouts and library), nothing else;
- ``Adam``: the two fused Adam updates (D's and G's) alone.

``products + Adam`` is a floor: no step that keeps the tutorial's float32 mathematics and
these kernels can be faster. The report prints the ratio gankit's step reaches now, the
ratio it would reach at that floor, and, for each of issue 17's ratios (2.5× in process,
2.7× as a user runs it, start-up included), how many ms a step could spend on everything
else. It also prints the machine's peak for one
large product (1024³) and what the step's products reach, so the products' own efficiency
can be judged. This is a benchmark, not a test: the rounds alternate because the machine is
shared and noisy; the medians are what to compare.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

BATCH = 64
TARGETS = (2.5, 2.7)  # issue 17's ratios: in process (capped to AVX2), and with start-up


def per_step_ms(fn, steps: int) -> float:
    """Wall ms per call of ``fn`` over ``steps`` calls."""
    started = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - started) * 1000 / steps


class Gankit:
    """gankit's seed-mlp G, D, fused Adam and hand-written step, fed the mnist5k digits in
    batches of 64 with fresh noise each step, as in training (a single repeated batch lets D
    separate it perfectly, and the vanishing gradients then slow every kernel down)."""

    def __init__(self):
        import torch

        from gankit.config import resolve
        from gankit.core.losses import get_loss
        from gankit.core.models import build_models
        from gankit.data import to_model_range
        from gankit.data.embedded import load_mnist5k
        from gankit.training.fast_mlp import FastMLPStep, layers_of
        from gankit.training.generation import make_optimisers

        cfg = resolve("seed-mlp")
        torch.manual_seed(0)
        self.G, self.D = build_models(cfg.model, (1, 28, 28))
        self.opt_G, self.opt_D = make_optimisers(cfg, self.G, self.D)
        self.step = FastMLPStep(layers_of(self.G), layers_of(self.D), self.opt_G, self.opt_D,
                                get_loss(cfg.loss.name))
        images = to_model_range(load_mnist5k().samples, cfg.data.value_range)
        self.batches = images[:len(images) // BATCH * BATCH].split(BATCH)
        self.noise = torch.randn(len(self.batches), BATCH, cfg.model.latent_dim)
        self.index = 0

    def run(self) -> None:
        i = self.index = (self.index + 1) % len(self.batches)
        self.step(self.batches[i], self.noise[i])

    def record_products(self) -> list:
        """The (a, b) operands of every large product of one step, in order."""
        import gankit.training.fast_mlp as fast_mlp

        recorded, original = [], fast_mlp._product

        def recording(a, b):
            recorded.append((a.clone() if a.is_contiguous() else a.t().clone().t(),
                             b.clone() if b.is_contiguous() else b.t().clone().t()))
            return original(a, b)

        fast_mlp._product = recording
        try:
            self.run()
        finally:
            fast_mlp._product = original
        return recorded

    def adam(self) -> None:
        from gankit.core.lazy_dynamo import optimizer_step

        optimizer_step(self.opt_D)
        optimizer_step(self.opt_G)


def replay(products: list) -> None:
    from gankit.training.fast_mlp import _product

    for a, b in products:
        _product(a, b)


def flops(products: list) -> float:
    """Floating-point operations of the recorded products: 2·M·N·K each."""
    return sum(2.0 * a.shape[0] * a.shape[1] * b.shape[0] for a, b in products)


def peak_gflops() -> float:
    """GFLOP/s of a 1024³ float32 product (torch.mm), the best of 5."""
    import torch

    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    torch.mm(a, b)
    return max(2 * 1024 ** 3 / per_step_ms(lambda: torch.mm(a, b), 10) / 1e6 for _ in range(5))


def profile_step(ours: Gankit, steps: int, top: int = 15) -> None:
    """The ``top`` operators of ``steps`` hand-written steps by their own CPU time per step."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            ours.run()
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in events) / steps / 1000
    calls = sum(e.count for e in events) / steps
    print(f"operators of the step (profiled): {calls:.0f} calls, {total:.2f} ms a step:")
    for e in events[:top]:
        print(f"  {e.key:42s} {e.self_cpu_time_total / steps / 1000:6.3f} ms/step, "
              f"{e.count / steps:4.0f} calls")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (median)")
    parser.add_argument("--steps", type=int, default=100, help="steps (or calls) per timing")
    parser.add_argument("--threads", type=int, default=0,
                        help="intra-op threads for everything (0: PyTorch's default here)")
    parser.add_argument("--profile", action="store_true",
                        help="also print the step's operators by time (after the rounds)")
    args = parser.parse_args()
    if args.rounds < 1 or args.steps < 1 or args.threads < 0:
        raise SystemExit("--rounds and --steps must be at least 1, --threads at least 0")

    import torch
    import tutorial_reference as ref

    from gankit.core.models.linear import onednn_available, use_onednn
    from data_throughput import machine_line

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    caps = ", ".join(f"{k}={os.environ[k]}" for k in ("ONEDNN_MAX_CPU_ISA",
                                                       "MKL_ENABLE_INSTRUCTIONS")
                     if k in os.environ) or "none"
    print(f"{machine_line(threads)}; library caps: {caps}; batch {BATCH}; "
          f"{args.rounds} rounds of {args.steps} steps")

    torch.manual_seed(0)
    dataloader = ref.make_dataloader(BATCH, seed=0)
    nets = ref.build_nets()
    ours = Gankit()
    libraries = ["oneDNN", "MKL"] if onednn_available() else ["MKL"]
    recorded = {}
    for library in libraries:
        with use_onednn(library == "oneDNN"):
            recorded[library] = ours.record_products()
    n_products = len(recorded[libraries[0]])

    def tutorial() -> float:
        started = time.perf_counter()
        ref.run_steps(nets, dataloader, args.steps)
        return (time.perf_counter() - started) * 1000 / args.steps

    def under(library, fn):
        def timed() -> float:
            with use_onednn(library == "oneDNN"):
                return per_step_ms(fn, args.steps)
        return timed

    timings = {"tutorial": tutorial, "Adam (D and G)": lambda: per_step_ms(ours.adam, args.steps)}
    for library in libraries:
        timings[f"gankit step, {library}"] = under(library, ours.run)
        timings[f"its {n_products} products, {library}"] = under(
            library, lambda lib=library: replay(recorded[lib]))
    ms = alternating_medians(timings, args.rounds)
    report(ms, recorded, libraries)
    if args.profile:
        with use_onednn(libraries[0] == "oneDNN"):
            profile_step(ours, args.steps)


def alternating_medians(timings: dict, rounds: int) -> dict[str, float]:
    """Each timing's median over ``rounds`` rounds, the order reversed every other round
    (after one warm-up call each); prints each with its range."""
    for fn in timings.values():
        fn()
    results = {name: [] for name in timings}
    for r in range(rounds):
        for name in list(timings) if r % 2 == 0 else list(reversed(timings)):
            results[name].append(timings[name]())
    ms = {name: statistics.median(values) for name, values in results.items()}
    for name, values in results.items():
        print(f"{name:28s} {ms[name]:7.2f} ms/step   ({min(values):.2f}-{max(values):.2f})")
    return ms


def report(ms: dict[str, float], recorded: dict, libraries: list[str]) -> None:
    """For each library: the products' GFLOP/s, the step split into products, Adam and the
    rest, the ratio to the tutorial now and at the floor, and each target's budget."""
    tutorial_ms, adam_ms = ms["tutorial"], ms["Adam (D and G)"]
    print(f"one 1024³ float32 product here: {peak_gflops():.0f} GFLOP/s")
    for library in libraries:
        step_ms = ms[f"gankit step, {library}"]
        products_ms = ms[f"its {len(recorded[library])} products, {library}"]
        floor = products_ms + adam_ms
        print(f"{library}: the products run at {flops(recorded[library]) / products_ms / 1e6:.0f} "
              f"GFLOP/s; the step {step_ms:.2f} ms = products {products_ms:.2f} + Adam "
              f"{adam_ms:.2f} + everything else {step_ms - floor:.2f}")
        print(f"{library}: ratio to the tutorial now {tutorial_ms / step_ms:.2f}x, at the floor "
              f"(products + Adam only) {tutorial_ms / floor:.2f}x")
        for target in TARGETS:
            budget = tutorial_ms / target
            print(f"{library}: {target}x needs a step of {budget:.2f} ms, leaving "
                  f"{budget - floor:.2f} ms for everything else (now {step_ms - floor:.2f})")


if __name__ == "__main__":
    main()
