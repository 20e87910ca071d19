"""Where a seed-mlp training step's time goes, and how far gankit can still go against the
tutorial's loop on this machine.

    python bench/step_floor.py                 # 2 threads (the default on 2 CPUs), 5 rounds
    python bench/step_floor.py --profile       # and the step's operators by time (PyTorch's
                                               #   profiler, 100 steps)
    ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 python bench/step_floor.py

In alternating rounds, in one process, on the same threads (ms per step of batch 64):

- ``tutorial``: the tutorial's literal §4 step (``tools/tutorial_reference.py``'s loop, its
  DataLoader included, as ``bench/throughput.py`` times it);
- ``gankit step``: gankit's hand-written MLP step (:mod:`gankit.speed.fast_mlp`) for
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
shared and noisy; the medians are what to compare. The tables go to
``docs/results/step_floor-<kind>.md`` (``--no-write``: printed only).
"""

from __future__ import annotations

import statistics
import time

import common

BATCH = 64
TITLE = "Where a seed-mlp step's time goes, and the floor under it"
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
        from gankit.speed.fast_mlp import FastMLPStep, layers_of
        from gankit.training.noise_to_image import make_optimisers

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
        import gankit.speed.fast_mlp as fast_mlp

        recorded, original = [], fast_mlp._product

        def recording(a, b, onednn):
            recorded.append((a.clone() if a.is_contiguous() else a.t().clone().t(),
                             b.clone() if b.is_contiguous() else b.t().clone().t()))
            return original(a, b, onednn)

        fast_mlp._product = recording
        try:
            self.run()
        finally:
            fast_mlp._product = original
        return recorded

    def adam(self) -> None:
        from gankit.speed.lazy_imports import optimizer_step

        optimizer_step(self.opt_D)
        optimizer_step(self.opt_G)


def replay(products: list, onednn: bool) -> None:
    from gankit.speed.fast_mlp import _product

    for a, b in products:
        _product(a, b, onednn)


def flops(products: list) -> float:
    """Floating-point operations of the recorded products: 2·M·N·K each."""
    return sum(2.0 * a.shape[0] * a.shape[1] * b.shape[0] for a, b in products)


def peak_gflops() -> float:
    """GFLOP/s of a 1024³ float32 product (torch.mm), the best of 5."""
    import torch

    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    torch.mm(a, b)
    return max(2 * 1024 ** 3 / per_step_ms(lambda: torch.mm(a, b), 10) / 1e6 for _ in range(5))


def profile_step(ours: Gankit, steps: int, top: int = 15) -> tuple[dict, str]:
    """The ``top`` operators of ``steps`` hand-written steps by their own CPU time per step:
    (figures, Markdown)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            ours.run()
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in events) / steps / 1000
    calls = sum(e.count for e in events) / steps
    rows = [[f"`{e.key}`", f"{e.self_cpu_time_total / steps / 1000:.3f}",
             f"{e.count / steps:.0f}"] for e in events[:top]]
    markdown = (f"PyTorch's profiler over {steps} steps: {calls:.0f} operator calls a step, "
                f"{total:.2f} ms a step under the profiler.\n\n"
                + common.table(["operator", "ms per step (own time)", "calls per step"], rows))
    return {"calls_per_step": calls, "ms_per_step": total,
            "operators": {e.key: e.self_cpu_time_total / steps / 1000 for e in events[:top]}}, \
        markdown


def main() -> None:
    parser = common.parser(__doc__)
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

    from gankit.core.models.linear import onednn_available
    from tools import tutorial_reference as ref

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    print(f"{common.machine_line(threads)}; batch {BATCH}; {args.rounds} rounds of "
          f"{args.steps} steps")

    torch.manual_seed(0)
    dataloader = ref.make_dataloader(BATCH, seed=0)
    nets = ref.build_nets()
    ours = Gankit()
    libraries = ["oneDNN", "MKL"] if onednn_available() else ["MKL"]
    recorded = {}
    for library in libraries:
        ours.step.onednn = library == "oneDNN"  # the step's products, set explicitly
        recorded[library] = ours.record_products()
    n_products = len(recorded[libraries[0]])

    def tutorial() -> float:
        started = time.perf_counter()
        ref.run_steps(nets, dataloader, args.steps)
        return (time.perf_counter() - started) * 1000 / args.steps

    def under(library, fn):
        def timing() -> float:
            ours.step.onednn = library == "oneDNN"
            return per_step_ms(fn, args.steps)
        return timing

    timings = {"tutorial": tutorial, "Adam (D and G)": lambda: per_step_ms(ours.adam, args.steps)}
    for library in libraries:
        timings[f"gankit step, {library}"] = under(library, ours.run)
        timings[f"its {n_products} products, {library}"] = under(
            library, lambda lib=library: replay(recorded[lib], lib == "oneDNN"))
    ms, spread = alternating_medians(timings, args.rounds)
    figures, markdown = report(ms, recorded, libraries)
    figures.update({"threads": threads, "rounds": args.rounds, "steps": args.steps,
                    "ranges_ms": spread})
    markdown = (f"{threads} threads, {args.rounds} rounds of {args.steps} steps of batch "
                f"{BATCH} (medians; the tutorial's rounds spread over "
                f"{spread['tutorial'][0]:.2f}–{spread['tutorial'][1]:.2f} ms).\n\n{markdown}")
    print("\n" + markdown)
    key = f"{args.threads} threads" if args.threads else ""
    common.write_results("step_floor", TITLE, figures, markdown, args=args, section=key,
                         heading=key, threads=threads, headline=f"gankit's step "
                         f"{figures['libraries'][libraries[0]]['ratio_now']:.2f}× the "
                         f"tutorial's ({libraries[0]}), "
                         f"{figures['libraries'][libraries[0]]['ratio_floor']:.2f}× at the floor")
    if args.profile:
        ours.step.onednn = libraries[0] == "oneDNN"
        figures, markdown = profile_step(ours, args.steps)
        print("\n" + markdown)
        common.write_results("step_floor", TITLE, figures, markdown, args=args,
                             section="profile", heading=f"The step's operators "
                             f"(`--profile`, {libraries[0]} products)", threads=threads)


def alternating_medians(timings: dict, rounds: int
                        ) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """Each timing's median over ``rounds`` rounds, the order reversed every other round
    (after one warm-up call each), and its (min, max); prints each with its range."""
    for fn in timings.values():
        fn()
    results = {name: [] for name in timings}
    for r in range(rounds):
        for name in list(timings) if r % 2 == 0 else list(reversed(timings)):
            results[name].append(timings[name]())
    ms = {name: statistics.median(values) for name, values in results.items()}
    for name, values in results.items():
        print(f"{name:28s} {ms[name]:7.2f} ms/step   ({min(values):.2f}-{max(values):.2f})")
    return ms, {name: (min(values), max(values)) for name, values in results.items()}


def report(ms: dict[str, float], recorded: dict, libraries: list[str]) -> tuple[dict, str]:
    """For each library: the products' GFLOP/s, the step split into products, Adam and the
    rest, the ratio to the tutorial now and at the floor, and each target's budget:
    (figures, Markdown)."""
    tutorial_ms, adam_ms = ms["tutorial"], ms["Adam (D and G)"]
    peak = peak_gflops()
    split, budgets, figures = [], [], {"peak_gflops": peak, "libraries": {}}
    for library in libraries:
        step_ms = ms[f"gankit step, {library}"]
        n = len(recorded[library])
        products_ms = ms[f"its {n} products, {library}"]
        floor = products_ms + adam_ms
        gflops = flops(recorded[library]) / products_ms / 1e6
        figures["libraries"][library] = {
            "tutorial_ms": tutorial_ms, "step_ms": step_ms, "products_ms": products_ms,
            "products_gflops": gflops, "adam_ms": adam_ms, "else_ms": step_ms - floor,
            "ratio_now": tutorial_ms / step_ms, "ratio_floor": tutorial_ms / floor}
        split.append([f"{library} products", f"{tutorial_ms:.2f}", f"{step_ms:.2f}",
                      f"{products_ms:.2f} ({gflops:.0f})", f"{adam_ms:.2f}",
                      f"{step_ms - floor:.2f}", f"{tutorial_ms / step_ms:.2f}×",
                      f"{tutorial_ms / floor:.2f}×"])
        for target in TARGETS:
            budget = tutorial_ms / target
            budgets.append([library, f"{target}×", f"{budget:.2f}", f"{budget - floor:.2f}",
                            f"{step_ms - floor:.2f}"])
    n = len(recorded[libraries[0]])
    markdown = (common.table(["ms per step", "tutorial", "gankit's step",
                              f"its {n} products (GFLOP/s)", "Adam, D and G", "everything else",
                              "ratio now", "ratio at the floor"], split)
                + f"\n\nOne 1024³ float32 product here: {peak:.0f} GFLOP/s. What each of issue "
                "17's ratios leaves for everything but the products and Adam:\n\n"
                + common.table(["library", "target", "step budget (ms)",
                                "left for everything else (ms)", "everything else now (ms)"],
                               budgets))
    return figures, markdown


if __name__ == "__main__":
    main()
