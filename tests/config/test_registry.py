"""The one registry type: lookups, listings, duplicate names, components' option checks."""

from __future__ import annotations

import pytest

from gankit.config import apply_overrides, preset, validate
from gankit.errors import UserError
from gankit.registry import Entry, Registry


def _shapes() -> Registry:
    shapes: Registry = Registry("shape")

    def only_small(cfg) -> None:
        if cfg["size"] > 3:
            raise ValueError(f"shape square supports size <= 3, not {cfg['size']}")

    shapes.add("square", lambda: "[]", "four equal sides", options={"size": "side length"},
               check=only_small)

    @shapes.register("circle", "round")
    def circle():
        return "()"

    return shapes


def test_lookup_by_name_gives_the_entry_and_the_registered_object():
    shapes = _shapes()
    entry = shapes.get("square")
    assert isinstance(entry, Entry)
    assert entry.name == "square" and entry.description == "four equal sides"
    assert entry.options == {"size": "side length"}
    assert shapes["circle"]() == "()"  # the decorator registers and returns the function
    assert "circle" in shapes and "triangle" not in shapes


def test_unknown_name_is_a_plain_value_error_listing_the_choices():
    shapes = _shapes()
    with pytest.raises(ValueError, match=r"^unknown shape 'triangle'; choose one of: circle, "
                                         r"square$") as info:
        shapes.get("triangle")
    assert not isinstance(info.value, UserError)
    with pytest.raises(ValueError, match="unknown shape 'triangle'"):
        shapes["triangle"]


def test_listing_keeps_registration_order():
    shapes = _shapes()
    assert list(shapes) == shapes.names() == ["square", "circle"]
    assert len(shapes) == 2
    assert shapes.describe() == [("square", "four equal sides"), ("circle", "round")]
    assert [name for name, _ in shapes.items()] == ["square", "circle"]
    assert [entry.name for entry in shapes.entries()] == ["square", "circle"]


def test_duplicate_registration_is_refused():
    shapes = _shapes()
    with pytest.raises(ValueError, match="shape 'square' is already registered"):
        shapes.add("square", object(), "again")
    with pytest.raises(ValueError, match="already registered"):
        shapes.register("circle", "again")(lambda: None)
    assert shapes.get("square").description == "four equal sides"  # the first one stays


def test_a_components_check_rejects_a_bad_option():
    shapes = _shapes()
    shapes.check("square", {"size": 3})
    with pytest.raises(ValueError, match="size <= 3, not 4"):
        shapes.check("square", {"size": 4})
    shapes.check("circle", {"size": 99})  # no check: anything goes


def test_the_components_are_registries():
    from gankit.config import PRESETS
    from gankit.core.losses import LOSSES
    from gankit.core.models import MODELS
    from gankit.data import DATASETS
    from gankit.evaluation.metrics import EXTRACTORS, METRICS

    for registry in (PRESETS, MODELS, LOSSES, DATASETS, METRICS, EXTRACTORS):
        assert isinstance(registry, Registry) and len(registry)
        assert all(description for _, description in registry.describe())


@pytest.mark.parametrize("overrides,message", [
    ({"loss.name": "hinge", "loss.label_smoothing": 0.1}, "needs a loss with targets"),
    ({"model.aux_classifier": True}, "aux_classifier needs a conv model"),
])
def test_validation_reports_a_components_check_as_a_user_error(overrides, message):
    cfg = apply_overrides(preset("seed-mlp"), overrides)
    with pytest.raises(UserError, match=message):
        validate(cfg)


def test_model_check_runs_in_validation_and_when_building():
    from gankit.core.models import MODELS, build_models

    cfg = apply_overrides(preset("sngan-hinge"), {"model.d_norm": "batch"})
    assert MODELS.get("resnet").options["d_norm"]
    with pytest.raises(UserError, match="resnet supports d_norm none or spectral"):
        validate(cfg)
    with pytest.raises(ValueError, match="resnet supports d_norm none or spectral"):
        build_models(cfg.model, (1, 28, 28))


def test_smoothable_losses_are_the_ones_whose_entry_reads_label_smoothing():
    from gankit.core.losses import LOSSES, SMOOTHABLE

    assert SMOOTHABLE == ("bce", "ns", "minimax", "lsgan")
    assert all("label_smoothing" not in LOSSES.get(n).options for n in ("hinge", "wasserstein"))
