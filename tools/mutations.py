"""Mutation checks: each test that once passed on broken code must now fail when the code
under it is broken on purpose (issue 16's list, and the tests added for it).

    python tools/mutations.py              # every mutation, one after the other
    python tools/mutations.py --list       # the mutations and the tests they must fail
    python tools/mutations.py -k precision # only those whose name contains "precision"

The committed tree (``git archive HEAD``) is copied into a temporary folder once; each
mutation replaces one exact piece of code there (the script stops if the piece is not found
exactly once, so a mutation cannot silently miss), runs its tests with pytest in that copy,
and restores the file. A mutation is caught when every one of its tests fails (a
parametrized test fails when any of its cases does). Prints one table row per mutation;
exits 1 if any survived. Not a test (it runs the slow tests many times): a check to rerun
after changing a test or the code under it.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutation:
    """Replace ``old`` (found exactly once in ``path``) with ``new``; ``tests`` must fail."""

    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTATIONS = (
    Mutation("precision ignored (with_precision returns the fp32 net)",
             "gankit/training/accel.py",
             'return net if precision == "fp32" else Autocast(net, device, precision)',
             "return net",
             ("tests/training/test_speed.py::test_precision_trains_in_that_precision_with_finite_losses",)),
    Mutation("DiffAugment dropped (maybe_augment returns D)",
             "gankit/core/augment.py",
             "return Augmented(D, policy) if policy.strip() else D",
             "return D",
             ("tests/core/test_augment.py::test_augmented_d_transforms_its_input_and_passes_labels",
              "tests/core/test_augment.py::test_loop_trains_with_diffaugment")),
    Mutation("mbstd D sees real and fake in one pass (mixes_batch always False)",
             "gankit/core/steps.py",
             "        _MIXES_BATCH[module] = known\n",
             "        known = False\n        _MIXES_BATCH[module] = known\n",
             ("tests/training/test_zoo.py::test_mbstd_d_runs_real_and_fake_separately",)),
    Mutation("--compile silently does nothing",
             "gankit/training/accel.py",
             "        module.compile(mode=mode)\n",
             "        pass\n",
             ("tests/training/test_speed.py::test_compile_trains_with_finite_losses",)),
    Mutation("the graceful-stop handler is not given back",
             "gankit/training/signals.py",
             "            signal.signal(signum, handler)\n",
             "            pass\n",
             ("tests/training/test_reliability.py::"
              "test_first_signal_finishes_the_step_checkpoints_and_says_how_to_resume",)),
    Mutation("--target reached at the first evaluation",
             "gankit/evaluation/metrics/__init__.py",
             '    return scores[name] <= value if DIRECTIONS[name] == "min" else scores[name] >= value',
             "    return True",
             ("tests/evaluation/test_eval.py::test_target_stops_training_early",)),
    Mutation("eval --seed not given to KID",
             "gankit/evaluation/metrics/__init__.py",
             "mean, std = kid(rf, ff, seed=seed)",
             "mean, std = kid(rf, ff)",
             ("tests/evaluation/test_metrics.py::test_the_seed_drives_kid_subsets_and_is_splits",)),
    Mutation("a sweep with no finished trial exits 0",
             "gankit/cli/commands.py",
             'print(f"gankit: error: no trial finished: {why}", file=sys.stderr)\n    return 1',
             'print("no trial has finished yet")\n    return 0',
             ("tests/apps/test_sweep.py::"
              "test_a_sweep_where_every_trial_failed_exits_non_zero_with_the_reason",)),
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
              "tests/apps/test_prepare.py::test_parallel_decoding_gives_the_same_bytes")),
    # issue 32: tests that could not fail on what they name
    Mutation("a sweep keeps its worst trial (the study's direction flipped)",
             "gankit/apps/sweep.py",
             'direction="minimize" if plan.metric in ("fid", "mode_kl") else "maximize",',
             'direction="maximize" if plan.metric in ("fid", "mode_kl") else "minimize",',
             ("tests/apps/test_sweep.py::"
              "test_trials_recorded_rerun_continues_and_best_config_trains",
              "tests/apps/test_sweep.py::"
              "test_the_best_trial_is_the_lowest_fid_and_the_most_modes")),
    Mutation("the mnist-cnn/digits-cnn trainer does nothing (its optimiser never steps)",
             "gankit/evaluation/metrics/extractors.py",
             "                opt.step()\n",
             "                pass\n",
             ("tests/evaluation/test_extractor.py::test_training_learns_to_read_held_out_digits",
              "tests/evaluation/test_digits_extractor.py::test_cli_trains_digits_cnn")),
    Mutation("the emoji-cnn trainer does nothing (its optimiser never steps)",
             "gankit/evaluation/metrics/emoji_cnn.py",
             "            opt.step()\n",
             "            pass\n",
             ("tests/evaluation/test_emoji_extractor.py::"
              "test_training_learns_the_categories_of_held_out_emoji",)),
    Mutation("D never steps (the regularised D step only computes its gradients)",
             "gankit/core/steps.py",
             "    _backward_and_step(total, opt_D, scaler)\n",
             "    total.backward()\n",
             ("tests/training/test_zoo.py::test_every_model_and_loss_trains_two_steps",)),
    Mutation("a loss with its sign flipped (the critic's real term rewards low scores)",
             "gankit/core/losses.py",
             "    return -real.mean()\n",
             "    return real.mean()\n",
             ("tests/training/test_zoo.py::test_every_model_and_loss_trains_two_steps",)),
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
             ("tests/data/test_streaming.py::test_budget_defaults_to_a_quarter_of_the_memory",)),
    Mutation("a failed checkpoint write leaves its temporary file behind",
             "gankit/training/checkpoint.py",
             "        Path(tmp).unlink(missing_ok=True)\n        raise\n",
             "        raise\n",
             ("tests/training/test_checkpoint.py::"
              "test_a_write_that_fails_on_the_disk_leaves_nothing_behind",)),
    Mutation("export writes the raw G, not the EMA generator (a graph of the same size)",
             "gankit/apps/export.py",
             "    G = plain_generator(run.generator if ema else run.G)",
             "    G = plain_generator(run.G)",
             ("tests/apps/test_export.py::test_export_cli",
              "tests/apps/test_export.py::test_ema_generator_is_the_default")),
)


def copy_tree(into: Path) -> None:
    """The committed tree, as a fresh clone would have it."""
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)


def run_tests(tree: Path, tests: tuple[str, ...]) -> tuple[int, float, str]:
    """(how many of ``tests`` failed, seconds, pytest's summary line), run in ``tree``."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *tests], cwd=tree, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(tree)})
    lines = [line for line in done.stdout.strip().splitlines() if line.strip()]
    summary = lines[-1] if lines else done.stderr.strip()[-200:]
    failed = re.search(r"(\d+) (failed|error)", summary)
    if done.returncode and not failed:  # pytest itself failed (e.g. no such test)
        raise SystemExit(f"pytest could not run {tests}: {summary}")
    return int(failed.group(1)) if failed else 0, time.monotonic() - started, summary


def mutate(tree: Path, mutation: Mutation) -> tuple[int, float]:
    """(how many of the mutation's tests fail on the mutated code, seconds). Each test runs
    on its own: a parametrized one fails when any of its cases does (e.g. the precision
    test's fp32 case rightly passes when only bf16 and fp16 are broken)."""
    path = tree / mutation.path
    original = path.read_text()
    found = original.count(mutation.old)
    if found != 1:
        raise SystemExit(f"{mutation.name}: the code to mutate occurs {found} times in "
                         f"{mutation.path}, not once: update tools/mutations.py")
    path.write_text(original.replace(mutation.old, mutation.new))
    started = time.monotonic()
    try:
        failing = sum(run_tests(tree, (test,))[0] > 0 for test in mutation.tests)
    finally:
        path.write_text(original)
    return failing, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="only mutations whose name contains this")
    parser.add_argument("--list", action="store_true", help="list the mutations and stop")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if m.tests and args.k.lower() in m.name.lower()]
    if args.list:
        for m in chosen:
            print(f"{m.name}\n  {m.path}\n  " + "\n  ".join(m.tests))
        return 0
    survived = 0
    with tempfile.TemporaryDirectory(prefix="gankit-mutations-") as tmp:
        tree = Path(tmp)
        copy_tree(tree)
        tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        failed, seconds, summary = run_tests(tree, tests)
        print(f"unmutated: {summary} ({seconds:.0f} s)")
        if failed:
            return 1
        print("| mutation | file | tests that failed | seconds |\n|---|---|---|---|")
        for m in chosen:  # caught: every one of its tests fails
            failed, seconds = mutate(tree, m)
            survived += failed < len(m.tests)
            print(f"| {m.name} | `{m.path}` | {failed} of {len(m.tests)}"
                  f"{'' if failed == len(m.tests) else ' (SURVIVED)'} | {seconds:.0f} |",
                  flush=True)
    print(f"{len(chosen) - survived} of {len(chosen)} mutations caught")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
