"""Each option is declared once, in the schema: the train parser, the Python API's keywords
and the docs' reference are built from the declarations."""

from __future__ import annotations

import argparse

import pytest

from gankit.api import keyword_overrides
from gankit.cli import config_flags
from gankit.cli.parser import build_parser
from gankit.cli.train import flag_overrides
from gankit.config import resolve
from gankit.config.options import Option, api_keywords, options, train_flags
from gankit.errors import UserError

# a value each flag accepts, different from its default, for the round trip below
SAMPLES = {"data.name": "mnist5k", "data.root": "elsewhere", "data.image_size": "32",
           "data.channels": "3", "data.mirror": None, "model.pack": "2",
           "train.batch_size": "48", "train.epochs": "3", "train.steps": "7",
           "train.minutes": "1.5", "train.seed": "11", "train.device": "cpu",
           "train.keep_checkpoints": "5", "train.threads": "1", "train.precision": "bf16",
           "train.compile": None, "train.cuda_graphs": None, "train.deterministic": None,
           "train.eval_every": "100", "train.target": "fid=20",
           "train.diffaugment": "translation", "train.per_device_batch": "16",
           "train.sync_batchnorm": None}


def _train_subparser() -> argparse.ArgumentParser:
    return build_parser()._subparsers._group_actions[0].choices["train"]


def test_every_config_key_is_declared_with_help_and_flags_name_real_keys():
    declared = options()
    assert len(declared) > 60 and all(option.help.strip() for option in declared)
    assert {o.key for o in train_flags()} == set(SAMPLES)
    assert len({o.flag for o in train_flags()}) == len(train_flags())


def test_the_train_parser_has_exactly_the_declared_flags_with_their_help():
    actions = {a.dest: a for a in _train_subparser()._actions}
    for option in train_flags():
        action = actions[option.key]
        assert action.option_strings == [option.flag]
        assert option.help in action.help and option.key in action.help


@pytest.mark.parametrize("option", train_flags(), ids=lambda o: o.flag)
def test_each_flag_sets_its_config_key(option):
    value = SAMPLES[option.key]
    argv = ["train", option.flag] + ([] if value is None else [value])
    overrides = flag_overrides(build_parser().parse_args(argv))
    assert list(overrides) == [option.key]
    needs = {"model.pack": {"model.conditional": False},  # what validation asks beside it
             "train.target": {"train.eval_every": 50}}.get(option.key, {})
    cfg = resolve("default", {}, {**overrides, **needs})
    section, name = option.key.split(".")
    got = getattr(getattr(cfg, section), name)
    assert got == (True if value is None else type(option.default)(value))
    assert got != option.default or option.key == "data.name"


def test_a_flag_refuses_a_value_below_its_declared_bound():
    with pytest.raises(UserError, match="--batch-size"):
        build_parser().parse_args(["train", "--batch-size", "0"])
    with pytest.raises(UserError, match="--minutes"):
        build_parser().parse_args(["train", "--minutes", "-1"])


def test_a_new_declaration_becomes_a_flag_and_an_api_keyword(monkeypatch):
    """Declaring an option is all it takes: the parser and the API pick it up."""
    extra = Option(key="train.log_every", type=int, default=50, help="steps between lines",
                   flag="--log-every", metavar="N", low=1, api="log_every")
    monkeypatch.setattr(config_flags, "train_flags", lambda: train_flags() + [extra])
    args = build_parser().parse_args(["train", "--log-every", "7"])
    assert flag_overrides(args)["train.log_every"] == 7
    assert "log_every" not in api_keywords()  # the real schema does not declare it


def test_the_api_short_keywords_come_from_the_declarations():
    assert keyword_overrides({"batch_size": 8, "keep_checkpoints": 2, "data": "mnist5k",
                              "lr": 1e-3, "optim__beta1": 0.3}) == {
        "train.batch_size": 8, "train.keep_checkpoints": 2, "data.name": "mnist5k",
        "optim.lr_g": 1e-3, "optim.lr_d": 1e-3, "optim.beta1": 0.3}
    assert set(api_keywords().values()) == {o.key for o in train_flags()}
