"""The ``gankit`` flags mean one thing each and behave alike on every sub-command (issue 31):
``--device`` defaults to auto, renamed flags keep a warning alias, ``--no-progress`` and
``--root`` wherever they apply, help on every argument, and mistakes answered in one line
that names the sub-command's own help."""

from __future__ import annotations

import argparse
import io
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.cli import main
from gankit.cli.argtypes import DeprecatedAlias
from gankit.cli.parser import build_parser


def _parsers(parser: argparse.ArgumentParser, path: str = "gankit"):
    """(path, parser) of ``gankit`` and of every sub-command and sub-sub-command."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def _actions(option: str):
    """(path, action) of every visible flag spelled ``option``."""
    return [(path, action) for path, parser in _parsers(build_parser())
            for action in parser._actions
            if option in action.option_strings and not isinstance(action, DeprecatedAlias)]


def _one_line(code: int, err: str, text: str) -> None:
    assert code == 2 and err.count("\n") == 1 and err.startswith("gankit: error: "), err
    assert text in err and "Traceback" not in err, err


# --- help on everything ------------------------------------------------------------------------

def test_every_flag_positional_and_sub_command_has_help():
    missing = []
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, DeprecatedAlias):  # hidden; the new flag's help names it
                assert action.help == argparse.SUPPRESS
                continue
            name = "/".join(action.option_strings) or action.dest
            if action.help in (None, argparse.SUPPRESS) or not action.help.strip():
                missing.append(f"{path} {name}")
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{path} {choice.dest}" for choice in action._choices_actions
                            if not (choice.help or "").strip()]
    assert missing == []


# --- --device ----------------------------------------------------------------------------------

NETWORK_COMMANDS = {
    "sample": ["sample", "{run}"], "eval": ["eval", "{run}"],
    "interpolate": ["interpolate", "{run}"], "report": ["report", "{run}"],
    "inpaint": ["inpaint", "{run}", "--image", "x.png", "--box", "0,0,1,1"],
    "translate": ["translate", "{run}", "--input", "x.png", "--out", "y.png"],
    "sweep": ["sweep", "--param", "optim.lr_g=loguniform:1e-5:1e-3"],
}


def _argv(name: str, run) -> list[str]:
    return [str(run) if a == "{run}" else a for a in NETWORK_COMMANDS[name]]


@pytest.mark.parametrize("name", sorted(NETWORK_COMMANDS))
def test_device_defaults_to_auto(name):
    args = build_parser().parse_args(_argv(name, "RUN"))
    # sweep, like train, leaves train.device to the config, whose default is auto
    assert args.device == (None if name == "sweep" else "auto")
    assert "auto (default" in next(a.help for _, a in _actions("--device"))


def test_device_auto_resolves_with_the_training_function(cli, trained_run, tmp_path,
                                                         monkeypatch):
    import gankit.training.driver as run_module

    asked, real = [], run_module.pick_device
    monkeypatch.setattr(run_module, "pick_device", lambda name: asked.append(name) or real(name))
    code, out, err = cli("sample", trained_run, "-n", "2", "--format", "npz", "--out",
                         tmp_path / "s.npz", "--device", "auto")
    assert code == 0 and err == "" and "wrote 2 images" in out
    assert asked == ["auto"]


@pytest.mark.parametrize("device, message", [
    ("banana", "bad device 'banana'"),
    pytest.param("cuda", "sees no CUDA GPU", marks=pytest.mark.skipif(
        torch.cuda.is_available(), reason="this machine has CUDA")),
])
@pytest.mark.parametrize("name", sorted(NETWORK_COMMANDS))
def test_a_bad_device_is_one_line_and_exit_2(cli, trained_run, name, device, message):
    code, _, err = cli(*_argv(name, trained_run), "--device", device)
    _one_line(code, err, message)


# --- renamed flags: one meaning per name, the old spelling warns -------------------------------

RENAMED = [  # (sub-command arguments, old, new, dest, value given, value parsed)
    (["interpolate", "RUN"], "--steps", "--frames", "frames", "6", 6),
    (["inpaint", "RUN", "--image", "x.png", "--box", "0,0,1,1"], "--steps", "--search-steps",
     "search_steps", "7", 7),
    (["sweep"], "--steps", "--trial-steps", "trial_steps", "300", 300),
    (["sweep"], "--budget-minutes", "--minutes", "minutes", "2.5", 2.5),
]


@pytest.mark.parametrize("base, old, new, dest, text, value", RENAMED)
def test_old_spelling_sets_the_new_flag_and_is_named_in_its_help(base, old, new, dest, text,
                                                                 value):
    parser = build_parser()
    assert getattr(parser.parse_args([*base, new, text]), dest) == value
    assert getattr(parser.parse_args([*base, old, text]), dest) == value
    helps = {a.option_strings[0]: a.help for path, a in _actions(new)
             if path == f"gankit {base[0]}"}
    assert helps[new].endswith(f"(was {old}, deprecated)")


def test_steps_is_a_training_budget_only_and_direction_a_translation_direction():
    assert [path for path, _ in _actions("--steps")] == ["gankit train"]
    directions = _actions("--direction")
    assert {path for path, _ in directions} == {"gankit eval", "gankit export",
                                                "gankit translate"}
    assert all(tuple(a.choices) == ("AtoB", "BtoA") for _, a in directions)
    assert {path for path, _ in _actions("--minutes")} == {"gankit train", "gankit sweep"}


def test_interpolate_steps_still_works_and_warns_once(cli, trained_run, tmp_path):
    code, out, err = cli("interpolate", trained_run, "--steps", "4", "--rows", "2",
                         "--out", tmp_path / "i.png")
    assert code == 0 and "2 x 4 interpolation grid" in out
    assert err == "gankit: warning: interpolate --steps is deprecated; use --frames\n"
    assert Image.open(tmp_path / "i.png").size == (4 * 30 + 2, 2 * 30 + 2)


def test_inpaint_steps_still_works_and_warns_once(cli, trained_run, tmp_path, monkeypatch):
    import gankit.apps.inpaint as inpaint

    seen, real = [], inpaint.inpaint_batch
    monkeypatch.setattr(inpaint, "inpaint_batch",
                        lambda *a, **k: seen.append(k["steps"]) or real(*a, **k))
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "d.png")
    code, out, err = cli("inpaint", trained_run, "--image", tmp_path / "d.png", "--box",
                         "0,0,28,10", "--restarts", "1", "--steps", "3", "--out",
                         tmp_path / "o.png")
    assert code == 0 and "pixels filled" in out and seen == [3]
    assert err == "gankit: warning: inpaint --steps is deprecated; use --search-steps\n"


@pytest.fixture
def fake_sweep(monkeypatch):
    """gankit.apps.sweep.sweep replaced: the keywords the CLI gave it, no study run."""
    import gankit.apps.sweep as sweep_module

    seen = {}

    def fake(*args, **kwargs):
        seen.update(kwargs)
        return {"table": "", "best": {"number": 0, "value": 1.0}, "best_config": "b.yaml",
                "trials": []}

    monkeypatch.setattr(sweep_module, "sweep", fake)
    return seen


def test_sweep_old_spellings_still_work_and_warn_once_each(cli, fake_sweep):
    code, _, err = cli("sweep", "--param", "optim.lr_g=uniform:0.1:0.2", "--steps", "40",
                       "--budget-minutes", "3", "--steps", "50")
    assert code == 0
    assert fake_sweep["steps"] == 50 and fake_sweep["budget_minutes"] == 3.0
    assert err.splitlines() == [
        "gankit: warning: sweep --steps is deprecated; use --trial-steps",
        "gankit: warning: sweep --budget-minutes is deprecated; use --minutes"]


def test_sweep_root_device_and_progress_reach_every_trial(cli, fake_sweep):
    code, _, err = cli("sweep", "--param", "optim.lr_g=uniform:0.1:0.2", "--trial-steps", "9",
                       "--minutes", "1", "--root", "/datasets", "--device", "cpu",
                       "--no-progress", "--set", "train.batch_size=8")
    assert code == 0 and err == ""
    assert fake_sweep["steps"] == 9 and fake_sweep["budget_minutes"] == 1.0
    assert fake_sweep["overrides"] == {"train.batch_size": "8", "data.root": "/datasets",
                                       "train.device": "cpu"}
    assert fake_sweep["progress"] is False
    assert cli("sweep", "--param", "optim.lr_g=uniform:0.1:0.2")[0] == 0
    assert fake_sweep["overrides"] == {} and fake_sweep["progress"] is True  # the defaults


# --- --no-progress and --root where they apply -------------------------------------------------

def test_no_progress_and_root_on_every_command_with_long_work_or_data():
    assert {path for path, _ in _actions("--no-progress")} == {
        "gankit train", "gankit eval", "gankit extractor train", "gankit inpaint",
        "gankit sweep", "gankit translate", "gankit data prepare"}
    roots = {path: a.default for path, a in _actions("--root")}
    # None: the config's data.root (default data) or, for report, the run's own
    assert roots == {"gankit train": None, "gankit eval": "data", "gankit report": None,
                     "gankit extractor train": "data", "gankit data prepare": "data",
                     "gankit sweep": None}


def test_train_root_is_data_root(cli):
    assert "root=data " in cli("train", "--dry-run")[1]
    code, out, _ = cli("train", "--root", "/datasets", "--dry-run")
    assert code == 0 and "root=/datasets " in out


def test_report_root_reaches_the_memorisation_check(cli, trained_run, tmp_path, monkeypatch):
    import gankit.apps.report as report

    seen = []
    monkeypatch.setattr(report, "_neighbours_section",
                        lambda run_dir, cfg, *rest: seen.append(cfg.data.root) or "")
    assert cli("report", trained_run, "--out", tmp_path / "r.html")[0] == 0
    assert cli("report", trained_run, "--out", tmp_path / "r.html", "--root", "/x")[0] == 0
    assert seen == ["data", "/x"]
    assert '"root": "data"' in (tmp_path / "r.html").read_text()  # the run's config, as saved


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal, enabled, shown", [(True, True, True), (False, True, False),
                                                      (True, False, False)])
def test_bars_show_only_on_a_terminal_and_without_no_progress(monkeypatch, terminal, enabled,
                                                              shown):
    from gankit.data.decoding import progress_bar
    from gankit.training.callbacks import ProgressBar

    stderr = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    with progress_bar(3, "work", enabled=enabled) as bar:
        bar.update(3)
        assert bar.disable is not shown  # (closing a bar disables it)
    assert ("work" in stderr.getvalue() and "3/3" in stderr.getvalue()) is shown
    if enabled:  # the training bar (gankit train --no-progress does not build one)
        callback = ProgressBar(5)
        callback.on_start(SimpleNamespace(state=SimpleNamespace(counters=SimpleNamespace(
            step=0)), say=print))
        assert callback.bar.disable is not shown
        callback.close()


def test_inpaint_and_translate_show_their_bars_on_a_terminal(monkeypatch, tmp_path):
    from gankit.apps.inpaint import inpaint_batch
    from gankit.apps.translate import translate_files

    G = torch.nn.Sequential(torch.nn.Linear(4, 64), torch.nn.Tanh(),
                            torch.nn.Unflatten(1, (1, 8, 8))).eval()
    (tmp_path / "in").mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(tmp_path / "in" / f"{i}.png")
    run = SimpleNamespace(kind="translation", input_shape=lambda direction: (1, 8, 8),
                          translate=lambda images, direction, ema, batch_size: 255 - images)
    for progress in (True, False):
        stderr = _Terminal()
        monkeypatch.setattr(sys, "stderr", stderr)
        inpaint_batch(G, torch.zeros(2, 1, 8, 8), torch.ones(2, 1, 8, 8), latent_dim=4,
                      restarts=1, steps=5, progress=progress)
        written = translate_files(run, tmp_path / "in", tmp_path / "out", progress=progress,
                                  batch_size=2)
        assert len(written) == 3
        assert ("search" in stderr.getvalue() and "5/5" in stderr.getvalue()) is progress
        assert ("translating" in stderr.getvalue() and "3/3" in stderr.getvalue()) is progress
    assert np.asarray(Image.open(tmp_path / "out" / "2.png")).max() == 255 - 80


def test_translate_hands_no_progress_and_the_device_to_the_app(cli, tmp_path, monkeypatch):
    import gankit.apps.sampling as sampling
    import gankit.apps.translate as translate

    seen = {}
    run = SimpleNamespace(kind="translation", step=3, config=SimpleNamespace(
        translation=SimpleNamespace(direction="AtoB")))
    monkeypatch.setattr(sampling, "load", lambda path, device: seen.update(device=device) or run)
    monkeypatch.setattr(translate, "translate_files",
                        lambda *a, **k: seen.update(progress=k["progress"]) or [tmp_path / "o"])
    assert cli("translate", tmp_path, "--input", "x", "--out", "o", "--no-progress")[0] == 0
    assert seen == {"device": "cuda" if torch.cuda.is_available() else "cpu",
                    "progress": False}


# --- unknown flags name the sub-command's help -------------------------------------------------

@pytest.mark.parametrize("argv, extras, prog", [
    (["sample", "RUN", "--bogus"], "--bogus", "gankit sample"),
    (["data", "prepare", "photos", "--out", "p", "--bogus"], "--bogus", "gankit data prepare"),
    (["extractor", "train", "--out", "w.pt", "--bogus", "x"], "--bogus x",
     "gankit extractor train"),
    (["--bogus", "list", "presets"], "--bogus", "gankit list"),
])
def test_an_unknown_flag_points_to_the_sub_commands_help(cli, argv, extras, prog):
    code, out, err = cli(*argv)
    assert out == ""
    _one_line(code, err, "")
    assert err == f"gankit: error: unrecognized arguments: {extras} (see `{prog} --help`)\n"


# --- extractor list|train ----------------------------------------------------------------------

def test_extractor_list_shows_the_pinned_files(cli):
    from gankit.evaluation.metrics.emoji_cnn import EMOJI_CNN_SHA256
    from gankit.evaluation.metrics.extractors import DIGITS_CNN_SHA256, MNIST_CNN_SHA256

    code, out, err = cli("extractor", "list")
    assert code == 0 and err == ""
    for name, sha256, data in (("mnist-cnn", MNIST_CNN_SHA256, "mnist5k"),
                               ("digits-cnn", DIGITS_CNN_SHA256, "digits2mnist"),
                               ("emoji-cnn", EMOJI_CNN_SHA256, "emoji-google")):
        block = out.split(f"{name}\n", 1)[1]
        assert f"sha256      {sha256}" in block and data in block
        assert "(the file here matches)" in block.splitlines()[0]
    assert "gankit extractor train --data mnist5k --out gankit/evaluation/metrics/" in out


def test_extractor_train_keeps_its_flags_and_reads_root(cli, tmp_path, monkeypatch):
    import gankit.data as data
    from gankit.evaluation.metrics import extractors

    seen = {}
    monkeypatch.setattr(data, "load_dataset", lambda cfg: seen.update(root=cfg.root) or
                        SimpleNamespace(samples=torch.zeros(4, 1, 28, 28),
                                        labels=torch.zeros(4, dtype=torch.long)))

    def fake_train(images, labels, out, epochs, seed, echo):
        seen.update(epochs=epochs, seed=seed)
        for epoch in range(epochs):
            echo(f"epoch {epoch + 1}/{epochs}: loss 1.0")
        return {"path": str(out), "accuracy": 0.5, "sha256": "ab"}

    monkeypatch.setattr(extractors, "train_mnist_cnn", fake_train)
    code, out, err = cli("extractor", "train", "--data", "mnist5k", "--root", tmp_path,
                         "--epochs", "2", "--seed", "4", "--out", tmp_path / "w.pt",
                         "--no-progress")
    assert code == 0 and err == ""
    assert seen == {"root": str(tmp_path), "epochs": 2, "seed": 4}
    assert out.splitlines() == ["epoch 1/2: loss 1.0", "epoch 2/2: loss 1.0",
                                f"wrote {tmp_path / 'w.pt'}: held-out accuracy 0.5000, "
                                f"sha256 ab"]


@pytest.mark.parametrize("argv, message", [
    (["extractor"], "required: ACTION (see `gankit extractor --help`)"),
    (["extractor", "train"], "required: --out (see `gankit extractor train --help`)"),
    (["extractor", "train", "--out", "w.pt", "--extractor", "inception"], "invalid choice"),
    (["extractor", "list", "extra"], "unrecognized arguments: extra"),
])
def test_extractor_mistakes_are_one_line(cli, argv, message):
    code, _, err = cli(*argv)
    _one_line(code, err, message)
