"""One frozen configuration tree: presets, dotted overrides, validation, JSON round trip.

:mod:`~gankit.config.schema` holds the dataclasses, :mod:`~gankit.config.presets` the named
recipes, :mod:`~gankit.config.overrides` overrides, files and :func:`resolve`,
:mod:`~gankit.config.validate` the checks, :mod:`~gankit.config.targets` the
``train.target`` syntax and the direction of each score.
"""

from gankit.config.schema import (SECTIONS, Config, DataConfig, LossConfig, ModelConfig,
                                  OptimConfig, TrainConfig, TranslationConfig)
from gankit.config.presets import PRESETS, preset
from gankit.config.targets import DIRECTIONS, parse_target
from gankit.config.validate import check_pack, validate
from gankit.config.overrides import (apply_overrides, coerce, flatten, from_dict,
                                     read_config_file, resolve, valid_keys)

__all__ = ["SECTIONS", "Config", "DataConfig", "LossConfig", "ModelConfig", "OptimConfig",
           "TrainConfig", "TranslationConfig", "PRESETS", "preset", "DIRECTIONS", "parse_target", "check_pack",
           "validate", "apply_overrides", "coerce", "flatten", "from_dict", "read_config_file",
           "resolve", "valid_keys"]
