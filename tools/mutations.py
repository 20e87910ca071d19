"""Mutation checks: each test that guards a feature must fail when the code under it is
broken on purpose. A mutation replaces one exact piece of code (found exactly once, so a
mutation cannot silently miss) in a copy of the tree, runs its tests there with pytest, and
restores the file; it is caught when every one of its tests fails (a parametrized test
fails when any of its cases does).

    python tools/mutations.py              # every mutation, one after the other
    python tools/mutations.py --unit       # the fast unit-level subset (make test runs it)
    python tools/mutations.py --list       # the mutations and the tests they must fail
    python tools/mutations.py -k precision # only those whose name contains "precision"

``make test`` runs the unit-level subset (``tests/test_mutations.py``: about a minute on 2
cores) and fails when any survives; the full set, learning-level mutations included, is
``python bench/mutations.py``, which writes its results page. Exits 1 if any survived.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutation:
    """Replace ``old`` (found exactly once in ``path``) with ``new``; ``tests`` must fail.
    ``unit``: its tests take a second or two, so ``make test`` runs it (the others train a
    network for a few hundred steps: learning-level, run by ``bench/mutations.py``)."""

    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    unit: bool = False


@dataclass(frozen=True)
class Result:
    """What one mutation did: how many of its tests failed on the mutated code."""

    mutation: Mutation
    failed: int
    seconds: float

    @property
    def caught(self) -> bool:
        return self.failed == len(self.mutation.tests)


MUTATIONS = (
    Mutation("precision ignored (with_precision returns the fp32 net)",
             "gankit/training/accel.py",
             'return net if precision == "fp32" else Autocast(net, device, precision)',
             "return net",
             ("tests/training/test_speed.py::test_precision_trains_in_that_precision_with_finite_losses",), unit=True),
    Mutation("DiffAugment dropped (maybe_augment returns D)",
             "gankit/core/augment.py",
             "return Augmented(D, policy) if policy.strip() else D",
             "return D",
             ("tests/core/test_augment.py::test_augmented_d_transforms_its_input_and_passes_labels",
              "tests/core/test_augment.py::test_loop_trains_with_diffaugment"), unit=True),
    Mutation("mbstd D sees real and fake in one pass (mixes_batch always False)",
             "gankit/core/steps.py",
             "        _MIXES_BATCH[module] = known\n",
             "        known = False\n        _MIXES_BATCH[module] = known\n",
             ("tests/training/test_zoo.py::test_mbstd_d_runs_real_and_fake_separately",), unit=True),
    Mutation("--compile silently does nothing",
             "gankit/training/accel.py",
             "        module.compile(mode=mode)\n",
             "        pass\n",
             ("tests/training/test_speed.py::"
              "test_compile_runs_g_and_d_through_what_the_compiler_made",), unit=True),
    Mutation("the graceful-stop handler is not given back",
             "gankit/training/signals.py",
             "            signal.signal(signum, handler)\n",
             "            pass\n",
             ("tests/training/test_reliability.py::"
              "test_first_signal_finishes_the_step_checkpoints_and_says_how_to_resume",), unit=True),
    Mutation("--target reached at the first evaluation",
             "gankit/evaluation/metrics/__init__.py",
             '    return scores[name] <= value if DIRECTIONS[name] == "min" else scores[name] >= value',
             "    return True",
             ("tests/evaluation/test_eval.py::test_target_stops_training_early",)),
    Mutation("eval --seed not given to KID",
             "gankit/evaluation/metrics/__init__.py",
             "mean, std = kid(rf, ff, seed=seed)",
             "mean, std = kid(rf, ff)",
             ("tests/evaluation/test_metrics.py::test_the_seed_drives_kid_subsets_and_is_splits",), unit=True),
    Mutation("a sweep with no finished trial exits 0",
             "gankit/cli/commands.py",
             'print(f"gankit: error: no trial finished: {why}", file=sys.stderr)\n    return 1',
             'print("no trial has finished yet")\n    return 0',
             ("tests/apps/test_sweep.py::"
              "test_a_sweep_where_every_trial_failed_exits_non_zero_with_the_reason",), unit=True),
    Mutation("the digits-cnn recipe changed (another learning rate)",
             "gankit/evaluation/metrics/extractors.py",
             "opt = torch.optim.Adam(net.parameters(), lr=2e-3)",
             "opt = torch.optim.Adam(net.parameters(), lr=2.1e-3)",
             ("tests/evaluation/test_digits_extractor.py::"
              "test_committed_command_rebuilds_the_pinned_file",)),
    Mutation("G never steps (the general step only computes its gradients)",
             "gankit/core/steps.py",
             "        _backward_and_step(loss_g, opt_G, scaler)\n",
             "        loss_g.backward()\n",
             ("tests/evaluation/test_eval.py::test_the_default_preset_learns",
              "tests/evaluation/test_eval.py::test_seed_mlp_stable_learns",
              "tests/evaluation/test_toy.py::test_toy_pacgan_learns_the_ring",
              "tests/training/test_learning.py::"
              "test_the_colour_recipe_learns_a_small_colour_set")),
    Mutation("prepare's workers decode but do not write into the memory map",
             "gankit/data/decoding.py",
             "            out[index] = array\n            array = None\n",
             "            array = None\n",
             ("tests/data/test_prepared.py::"
              "test_workers_write_decoded_rows_into_the_memory_map_themselves",
              "tests/apps/test_prepare.py::test_parallel_decoding_gives_the_same_bytes"), unit=True),
    # issue 32: tests that could not fail on what they name
    Mutation("the bf16 probe inverts its ratio (fp32 time over bf16 time)",
             "gankit/speed/precision.py",
             "    return best(True) / max(best(False), 1e-9)",
             "    return best(False) / max(best(True), 1e-9)",
             ("tests/speed/test_precision.py::test_the_probe_is_bf16_time_over_fp32_time",),
             unit=True),
    Mutation("--compile compiles nothing that runs (the slow test, with the real compiler)",
             "gankit/training/accel.py",
             "        module.compile(mode=mode)\n",
             "        pass\n",
             ("tests/training/test_speed.py::test_compile_trains_with_finite_losses",)),
    Mutation("a sweep keeps its worst trial (the study's direction flipped)",
             "gankit/apps/sweep.py",
             'direction="minimize" if plan.metric in ("fid", "mode_kl") else "maximize",',
             'direction="maximize" if plan.metric in ("fid", "mode_kl") else "minimize",',
             ("tests/apps/test_sweep.py::"
              "test_trials_recorded_rerun_continues_and_best_config_trains",
              "tests/apps/test_sweep.py::"
              "test_the_best_trial_is_the_lowest_fid_and_the_most_modes"), unit=True),
    Mutation("the mnist-cnn/digits-cnn trainer does nothing (its optimiser never steps)",
             "gankit/evaluation/metrics/extractors.py",
             "                opt.step()\n",
             "                pass\n",
             ("tests/evaluation/test_extractor.py::test_training_learns_to_read_held_out_digits",
              "tests/evaluation/test_digits_extractor.py::test_cli_trains_digits_cnn"), unit=True),
    Mutation("the emoji-cnn trainer does nothing (its optimiser never steps)",
             "gankit/evaluation/metrics/emoji_cnn.py",
             "            opt.step()\n",
             "            pass\n",
             ("tests/evaluation/test_emoji_extractor.py::"
              "test_training_learns_the_categories_of_held_out_emoji",), unit=True),
    Mutation("D never steps (the regularised D step only computes its gradients)",
             "gankit/core/steps.py",
             "    _backward_and_step(total, opt_D, scaler)\n",
             "    total.backward()\n",
             ("tests/training/test_zoo.py::test_every_model_and_loss_trains_two_steps",), unit=True),
    Mutation("a loss with its sign flipped (the critic's real term rewards low scores)",
             "gankit/core/losses.py",
             "    return -real.mean()\n",
             "    return real.mean()\n",
             ("tests/training/test_zoo.py::test_every_model_and_loss_trains_two_steps",), unit=True),
    Mutation("a conditional G ignores its labels (a zero one-hot)",
             "gankit/core/models/conditioning.py",
             "    return torch.cat([z, F.one_hot(labels, num_classes).to(z.dtype)], dim=1)",
             "    return torch.cat([z, torch.zeros(len(z), num_classes).to(z)], dim=1)",
             ("tests/evaluation/test_eval.py::test_the_default_preset_draws_the_requested_class",)),
    Mutation("the generator's samples are noise (uniform noise whenever G is not training)",
             "gankit/core/models/dcgan.py",
             "        return self.upsample(self.project(with_class(z, labels, self.num_classes)))",
             "        out = self.upsample(self.project(with_class(z, labels, self.num_classes)))\n"
             "        return out if self.training else torch.rand_like(out) * 2 - 1",
             ("tests/evaluation/test_eval.py::test_the_default_preset_learns",)),
    Mutation("the translation G never steps (pix2pix only computes its gradients)",
             "gankit/training/translation_steps.py",
             "            _step(self.opt_G, self.gan_weight * adversarial + self.l1_weight * l1)",
             "            (self.gan_weight * adversarial + self.l1_weight * l1).backward()",
             ("tests/training/test_learning.py::"
              "test_pix2pix_beats_bilinear_upscaling_in_a_few_hundred_steps",)),
    Mutation("eval scores real images in place of the generated ones",
             "gankit/evaluation/evaluate.py",
             "        fake_features, fake_probs = net(fake)\n",
             "        fake_features, fake_probs = net(real[:len(fake)])\n",
             ("tests/evaluation/test_eval.py::test_eval_run_writes_every_score_with_provenance",)),
    Mutation("precision and recall compare the real set with itself",
             "gankit/evaluation/metrics/__init__.py",
             "    precision, recall = precision_recall(rf, ff, k=3)",
             "    precision, recall = precision_recall(rf, rf, k=3)",
             ("tests/evaluation/test_eval.py::test_eval_run_writes_every_score_with_provenance",)),
    Mutation("translation eval scores its inputs, not the translations",
             "gankit/evaluation/translation.py",
             "    scores = translation_scores(outputs, domain, labels, target,",
             "    scores = translation_scores(source, domain, labels, target,",
             ("tests/training/test_translation.py::"
              "test_eval_reports_label_preservation_fid_and_pixels",)),
    Mutation("the memory budget counts the memory free now, not the machine's",
             "gankit/data/streaming.py",
             'os.sysconf("SC_PHYS_PAGES")',
             'os.sysconf("SC_AVPHYS_PAGES")',
             ("tests/data/test_streaming.py::test_budget_defaults_to_a_quarter_of_the_memory",), unit=True),
    Mutation("a failed checkpoint write leaves its temporary file behind",
             "gankit/training/checkpoint.py",
             "        Path(tmp).unlink(missing_ok=True)\n        raise\n",
             "        raise\n",
             ("tests/training/test_checkpoint.py::"
              "test_a_write_that_fails_on_the_disk_leaves_nothing_behind",), unit=True),
    Mutation("export writes the raw G, not the EMA generator (a graph of the same size)",
             "gankit/apps/export.py",
             "    G = plain_generator(run.generator if ema else run.G)",
             "    G = plain_generator(run.G)",
             ("tests/apps/test_export.py::test_export_cli",
              "tests/apps/test_export.py::test_ema_generator_is_the_default"), unit=True),
)


def unit_mutations() -> tuple[Mutation, ...]:
    """The fast subset that ``make test`` runs."""
    return tuple(m for m in MUTATIONS if m.unit)


def copy_tree(into: Path, *, committed: bool = True) -> None:
    """The committed tree, as a fresh clone would have it; with ``committed=False`` the
    working tree (every tracked file and the untracked ones git does not ignore), so that
    uncommitted changes are checked too (in CI the two are the same)."""
    if committed:
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
        return
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=ROOT, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)


def run_tests(tree: Path, tests: tuple[str, ...]) -> tuple[set[str], float, str]:
    """(those of ``tests`` that failed, seconds, pytest's summary line), run in ``tree`` by
    one pytest process. A parametrized test counts as failed when any of its cases did."""
    started = time.monotonic()
    stop_early = ["--maxfail=1"] if len(tests) == 1 else []  # one failure says it all
    # without the plugins these runs do not use (hypothesis' alone costs a second to load)
    plugins = ["-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:hypothesispytest"]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rfE", *plugins,
                           *stop_early, *tests], cwd=tree,
                          capture_output=True, text=True, env={**os.environ,
                                                               "PYTHONPATH": str(tree)})
    lines = [line for line in done.stdout.strip().splitlines() if line.strip()]
    summary = lines[-1] if lines else done.stderr.strip()[-200:]
    reported = [line.split()[1] for line in lines if line.startswith(("FAILED ", "ERROR "))]
    failed = {test for test in tests
              if any(node == test or node.startswith(test + "[") for node in reported)}
    if done.returncode not in (0, 1):  # pytest itself failed (e.g. no such test)
        raise SystemExit(f"pytest could not run {tests}: {summary}")
    return failed, time.monotonic() - started, summary


def mutate(tree: Path, mutation: Mutation) -> Result:
    """How many of the mutation's tests fail on the mutated code, all run by one pytest
    process: a parametrized one fails when any of its cases does (e.g. the precision test's
    fp32 case rightly passes when only bf16 and fp16 are broken)."""
    path = tree / mutation.path
    original = path.read_text()
    found = original.count(mutation.old)
    if found != 1:
        raise SystemExit(f"{mutation.name}: the code to mutate occurs {found} times in "
                         f"{mutation.path}, not once: update tools/mutations.py")
    path.write_text(original.replace(mutation.old, mutation.new))
    started = time.monotonic()
    try:
        failing = len(run_tests(tree, mutation.tests)[0])
    finally:
        path.write_text(original)
    return Result(mutation, failing, time.monotonic() - started)


def check(mutations: tuple[Mutation, ...], tree: Path, echo=None) -> list[Result]:
    """Every mutation's result in ``tree`` (a copy: each file is restored after its
    mutation); ``echo`` gets one table row per mutation as it finishes."""
    results = []
    for mutation in mutations:
        result = mutate(tree, mutation)
        results.append(result)
        if echo:
            echo(row(result))
    return results


def row(result: Result) -> str:
    m = result.mutation
    verdict = "" if result.caught else " (SURVIVED)"
    return (f"| {m.name} | `{m.path}` | {result.failed} of {len(m.tests)}{verdict} | "
            f"{'unit' if m.unit else 'learning'} | {result.seconds:.0f} |")


HEADER = ("| mutation | file | tests that failed | level | seconds |\n"
          "|---|---|---|---|---|")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="only mutations whose name contains this")
    parser.add_argument("--unit", action="store_true", help="only the unit-level subset")
    parser.add_argument("--list", action="store_true", help="list the mutations and stop")
    parser.add_argument("--working-tree", action="store_true",
                        help="mutate a copy of the working tree, not of the last commit")
    args = parser.parse_args()
    chosen = tuple(m for m in (unit_mutations() if args.unit else MUTATIONS)
                   if args.k.lower() in m.name.lower())
    if args.list:
        for m in chosen:
            print(f"{m.name} ({'unit' if m.unit else 'learning'})\n  {m.path}\n  "
                  + "\n  ".join(m.tests))
        return 0
    with tempfile.TemporaryDirectory(prefix="gankit-mutations-") as tmp:
        tree = Path(tmp)
        copy_tree(tree, committed=not args.working_tree)
        tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        failed, seconds, summary = run_tests(tree, tests)
        print(f"unmutated: {summary} ({seconds:.0f} s)")
        if failed:
            return 1
        print(HEADER)
        results = check(chosen, tree, echo=lambda line: print(line, flush=True))
    caught = sum(r.caught for r in results)
    print(f"{caught} of {len(results)} mutations caught")
    return 0 if caught == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
