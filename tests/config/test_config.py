"""Config tree: presets, the tutorial's exact recipes, overrides, files, validation."""

from __future__ import annotations

import dataclasses
import json

import pytest

from gankit.config import (PRESETS, Config, apply_overrides, from_dict, preset, read_config_file,
                           resolve, valid_keys, validate)
from gankit.errors import UserError
from gankit.core.models import build_models, count_parameters

MNIST_SHAPE = (1, 28, 28)


# --- presets --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_resolves_and_validates(name):
    cfg = resolve(name)
    assert isinstance(cfg, Config)
    assert cfg.preset == name
    assert cfg.description  # `gankit list presets` shows it
    validate(cfg)  # does not raise


def test_unknown_preset_is_a_user_error_listing_the_choices():
    with pytest.raises(UserError, match="unknown preset 'nope'.*seed-mlp"):
        preset("nope")


def test_seed_mlp_is_the_tutorial_section_4_recipe():
    cfg = resolve("seed-mlp")
    G, D = build_models(cfg.model, MNIST_SHAPE)
    assert count_parameters(G) == 1_486_352
    assert count_parameters(D) == 533_505
    assert cfg.model.name == "mlp"
    assert cfg.model.g_hidden == (256, 512, 1024) and cfg.model.d_hidden == (512, 256)
    assert cfg.model.d_activation == "leaky_relu" and cfg.model.output == "tanh"
    assert cfg.loss.name == "bce"
    assert cfg.optim.lr_g == cfg.optim.lr_d == 2e-4
    assert (cfg.optim.beta1, cfg.optim.beta2) == (0.9, 0.999)  # torch's Adam defaults
    assert cfg.train.batch_size == 64 and cfg.train.epochs == 100
    assert cfg.data.value_range == "tanh" and cfg.data.name == "mnist5k"
    assert cfg.train.drop_last is False  # the tutorial's DataLoader keeps the last batch


def test_seed_keras_is_the_tutorial_section_5_recipe():
    cfg = resolve("seed-keras")
    assert cfg.model.name == "mlp"
    assert cfg.model.g_hidden == (128,) and cfg.model.d_hidden == (128,)
    assert cfg.model.d_activation == "relu"
    assert cfg.model.output == "sigmoid" and cfg.data.value_range == "unit"
    assert cfg.model.init == "glorot"
    assert cfg.optim.lr_g == cfg.optim.lr_d == 1e-3  # Keras' Adam default
    assert cfg.optim.eps == 1e-7
    assert cfg.train.d_updates == "separate" and cfg.train.g_fresh_noise is True
    G, D = build_models(cfg.model, MNIST_SHAPE)
    assert count_parameters(G) == (100 * 128 + 128) + (128 * 784 + 784)
    assert count_parameters(D) == (784 * 128 + 128) + (128 + 1)


def test_seed_tutorial_is_the_tutorial_section_6_recipe():
    cfg = resolve("seed-tutorial")
    assert cfg.model.name == "mlp" and cfg.model.latent_dim == 100
    assert cfg.model.g_hidden == (128,) and cfg.model.d_hidden == (128,)
    assert cfg.model.d_activation == "relu" and cfg.model.output == "tanh"
    assert cfg.loss.name == "bce"
    assert cfg.optim.lr_g == cfg.optim.lr_d == 2e-4
    assert cfg.train.batch_size == 128
    assert cfg.train.epochs == 200
    assert cfg.train.print_every_epochs == 10
    assert cfg.train.grid_size == 16
    G, D = build_models(cfg.model, MNIST_SHAPE)
    assert count_parameters(G) == (100 * 128 + 128) + (128 * 784 + 784)
    assert count_parameters(D) == (784 * 128 + 128) + (128 + 1)


def test_emoji64_is_a_64_px_colour_conditional_recipe():
    cfg = resolve("emoji64")
    assert (cfg.data.name, cfg.data.image_size, cfg.data.channels) == ("emoji-google", 64, 3)
    assert cfg.model.name == "dcgan" and cfg.model.conditional
    assert cfg.train.diffaugment == "color,translation,cutout" and cfg.train.ema_kimg > 0
    assert cfg.loss.r1_gamma > 0 and cfg.loss.r1_every == 16
    assert cfg.train.minutes == 30 and cfg.train.steps == 0 and cfg.train.epochs == 0
    assert cfg.train.precision == "auto" and cfg.loss.r1_gamma == 0.5  # bf16 only where native
    G, D = build_models(cfg.model, (3, 64, 64), 9)  # 9 emoji categories
    assert G.upsample[-2].out_channels == 3 and G.project[0].out_features == 256 * 4 * 4
    assert count_parameters(G) == 1_137_091 and count_parameters(D) == 731_105


def test_the_plain_dcgan_baseline_resolves_at_64_px_in_colour():
    """bench/emoji.py's baseline: the dcgan preset on an emoji set at 64 px, RGB."""
    cfg = resolve("dcgan", overrides={"data.name": "emoji-google", "data.image_size": 64,
                                      "data.channels": 3})
    assert not cfg.model.conditional and cfg.train.ema_kimg == 0 and not cfg.train.diffaugment
    G, D = build_models(cfg.model, (3, 64, 64), 0)
    assert count_parameters(G) == 3_576_707 and count_parameters(D) == 2_764_737


def test_presets_are_independent_objects():
    a, b = preset("seed-mlp"), preset("seed-mlp")
    assert a == b
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.train.batch_size = 1  # type: ignore[misc]


# --- overrides ----------------------------------------------------------------------------

def test_apply_overrides_coerces_strings_to_field_types():
    base = preset("default")
    cfg = apply_overrides(base, {
        "train.batch_size": "32", "optim.lr_g": "1e-4", "train.drop_last": "false",
        "model.g_hidden": "64,32", "train.minutes": "1.5", "train.steps": "1_000",
        "train.tensorboard": "no", "data.name": "cifar10", "train.ema_kimg": 3,
    })
    assert cfg.train.batch_size == 32 and type(cfg.train.batch_size) is int
    assert cfg.optim.lr_g == 1e-4 and type(cfg.optim.lr_g) is float
    assert cfg.train.drop_last is False
    assert cfg.model.g_hidden == (64, 32)
    assert cfg.train.minutes == 1.5
    assert cfg.train.steps == 1000
    assert cfg.train.tensorboard is False
    assert cfg.data.name == "cifar10"
    assert cfg.train.ema_kimg == 3.0 and type(cfg.train.ema_kimg) is float
    # the original is untouched (frozen tree, new object returned)
    assert base.train.batch_size == 32 and base.optim.lr_g == 2e-4
    # keys not named keep their value
    assert cfg.optim.lr_d == base.optim.lr_d


@pytest.mark.parametrize("key", ["train.nope", "nosection.batch_size", "train", "optim.",
                                 "batch_size", "model.name.extra"])
def test_apply_overrides_rejects_unknown_keys(key):
    with pytest.raises(UserError, match="unknown config key"):
        apply_overrides(preset("default"), {key: "1"})


@pytest.mark.parametrize("key,value", [
    ("train.batch_size", "abc"), ("train.batch_size", "2.5"), ("train.batch_size", 2.5),
    ("train.batch_size", True), ("optim.lr_g", "fast"), ("optim.lr_g", "nan"),
    ("optim.lr_g", "inf"), ("train.drop_last", "maybe"), ("model.name", 3),
    ("model.g_hidden", "64,x"),
])
def test_apply_overrides_rejects_bad_types(key, value):
    with pytest.raises(UserError, match=f"bad value .* for {key.replace('.', '[.]')}"):
        apply_overrides(preset("default"), {key: value})


def test_valid_keys_lists_every_field_once():
    keys = valid_keys()
    assert len(keys) == len(set(keys))
    assert {"train.batch_size", "optim.lr_g", "model.g_hidden", "data.value_range",
            "loss.name"} <= set(keys)
    # every listed key is accepted by apply_overrides
    cfg = preset("default")
    for key in keys:
        section, name = key.split(".")
        apply_overrides(cfg, {key: getattr(getattr(cfg, section), name)})


# --- JSON round trip and config files -----------------------------------------------------

@pytest.mark.parametrize("name", sorted(PRESETS))
def test_json_round_trip_is_exact(name):
    cfg = resolve(name, overrides={"model.g_hidden": "7,9", "optim.lr_d": "3e-5"})
    again = from_dict(json.loads(cfg.to_json()))
    assert again == cfg
    assert from_dict(cfg.to_dict()) == cfg
    assert again.model.g_hidden == (7, 9) and isinstance(again.model.g_hidden, tuple)


def test_yaml_config_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("preset: seed-mlp\ntrain:\n  batch_size: 32\n  epochs: 3\n"
                    "optim:\n  lr_g: 1.0e-4\nmodel:\n  g_hidden: [64, 128]\n")
    flat = read_config_file(path)
    assert flat == {"preset": "seed-mlp", "train.batch_size": 32, "train.epochs": 3,
                    "optim.lr_g": 1e-4, "model.g_hidden": [64, 128]}
    cfg = resolve("default", file_overrides=flat)
    assert cfg.preset == "seed-mlp"
    assert cfg.train.batch_size == 32 and cfg.train.epochs == 3
    assert cfg.optim.lr_g == 1e-4 and cfg.optim.lr_d == 2e-4
    assert cfg.model.g_hidden == (64, 128)
    assert cfg.model.d_hidden == (512, 256)  # the rest is the preset's


def test_toml_config_file_and_precedence(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('preset = "seed-tutorial"\n[train]\nbatch_size = 16\nsteps = 7\n'
                    '[optim]\nbeta1 = 0.5\n')
    flat = read_config_file(path)
    assert flat == {"preset": "seed-tutorial", "train.batch_size": 16, "train.steps": 7,
                    "optim.beta1": 0.5}
    # explicit overrides beat the file, which beats the preset
    cfg = resolve("default", file_overrides=flat, overrides={"train.batch_size": "8"})
    assert cfg.preset == "seed-tutorial"
    assert cfg.train.batch_size == 8
    assert cfg.train.steps == 7
    assert cfg.optim.beta1 == 0.5
    assert cfg.train.epochs == 200


def test_json_config_file(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"train": {"seed": 5}, "data": {"value_range": "tanh"}}))
    assert read_config_file(path) == {"train.seed": 5, "data.value_range": "tanh"}


@pytest.mark.parametrize("name,text,message", [
    ("bad.yaml", "train: [unclosed\n", "cannot parse config file"),
    ("bad.toml", "[train\nbatch_size = 1\n", "cannot parse config file"),
    ("list.yaml", "- 1\n- 2\n", "must hold a mapping"),
    ("run.ini", "[train]\n", "must end in .yaml"),
])
def test_bad_config_files_are_user_errors(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        read_config_file(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(UserError, match="config file not found"):
        read_config_file(tmp_path / "absent.yaml")


def test_config_file_with_unknown_key_is_rejected(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  batchsize: 32\n")
    with pytest.raises(UserError, match="unknown config key 'train.batchsize'"):
        resolve("default", file_overrides=read_config_file(path))


# --- validation ---------------------------------------------------------------------------

@pytest.mark.parametrize("overrides,message", [
    ({"optim.lr_g": 0}, "learning rates must be > 0"),
    ({"optim.lr_d": -1e-4}, "learning rates must be > 0"),
    ({"optim.beta1": 1.0}, "betas must lie in"),
    ({"optim.beta1": 1.5}, "betas must lie in"),
    ({"optim.beta2": -0.1}, "betas must lie in"),
    ({"optim.beta2": 1.0}, "betas must lie in"),
    ({"model.d_dropout": 1.0}, "model.d_dropout must lie in"),
    ({"model.d_dropout": -0.1}, "model.d_dropout must lie in"),
    ({"model.d_dropout": 0.3, "model.name": "dcgan"}, "d_dropout is an option of the mlp model"),
    ({"train.batch_size": 0}, "batch size must be > 0"),
    ({"train.batch_size": -3}, "batch size must be > 0"),
    ({"data.image_size": -1}, "image_size must be >= 0"),
    ({"train.steps": -1}, "train.steps must be >= 0"),
    ({"train.epochs": -2}, "train.epochs must be >= 0"),
    ({"train.minutes": -1.0}, "train.minutes must be >= 0"),
    ({"train.epochs": 0, "train.steps": 0, "train.minutes": 0}, "give a budget"),
    ({"model.latent_dim": 0}, "latent_dim must be > 0"),
    ({"model.g_hidden": "64,0"}, "widths must be > 0"),
    ({"model.name": "nope"}, "unknown model 'nope'"),
    ({"loss.name": "nope"}, "unknown loss 'nope'"),
    ({"data.channels": 2}, "channels must be 1 or 3"),
    ({"model.output": "sigmoid"}, "value_range=unit"),
    ({"train.device": "tpu"}, "device must be"),
])
def test_validate_rejects(overrides, message):
    cfg = apply_overrides(preset("seed-mlp"), overrides)
    with pytest.raises(UserError, match=message):
        validate(cfg)
    with pytest.raises(UserError, match=message):
        resolve("seed-mlp", overrides=overrides)


def test_validate_accepts_boundary_values():
    cfg = apply_overrides(preset("seed-mlp"), {"optim.beta1": 0.0, "optim.beta2": 0.0,
                                               "train.epochs": 0, "train.steps": 1,
                                               "data.image_size": 0})
    validate(cfg)
    cfg = apply_overrides(preset("seed-mlp"), {"train.epochs": 0, "train.minutes": 0.01})
    validate(cfg)


def test_the_emoji_benchmark_passes_each_side_its_own_settings(load_bench):
    """bench/emoji.py: --preset-set reaches only the recipe, --baseline-set only the baseline
    (how the README's earlier-R1 figures are rerun)."""
    import argparse

    bench = load_bench("emoji")
    args = argparse.Namespace(data="emoji-twitter", root="R", seed=3, preset="emoji64",
                              baseline="dcgan", preset_set=["loss.r1_gamma=0.05"],
                              baseline_set=["model.g_channels=32"])
    runs = bench.recipes(args)
    recipe, baseline = runs["emoji64"], runs["dcgan"]
    assert recipe[:2] == ["--preset", "emoji64"] and "loss.r1_gamma=0.05" in recipe
    assert "loss.r1_gamma=0.05" not in baseline and "model.g_channels=32" in baseline
    assert "model.g_channels=32" not in recipe
    assert baseline[baseline.index("--image-size") + 1] == "64"
    assert recipe[recipe.index("--data") + 1] == "emoji-twitter"
