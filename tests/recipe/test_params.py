"""Configuration values are validated when built: NaN, out of range, unknown keys are ConfigErrors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inspection.errors import ConfigError, RecipeError
from inspection.recipe.definition import Recipe
from inspection.recipe.params import AlignParams, DetectParams, params_from_dict
from inspection.vision.scorer import Scorer, default_scorer


@pytest.mark.parametrize(("cls", "kwargs"), [
    (DetectParams, {"threshold": math.nan}),
    (DetectParams, {"threshold": 0.0}),
    (DetectParams, {"tolerance_px": -1}),
    (DetectParams, {"min_area_px": "12"}),
    (DetectParams, {"material": "shiny"}),
    (DetectParams, {"classes": "cars"}),
    (AlignParams, {"max_shift": math.inf}),
    (AlignParams, {"motion": "projective"}),
    (AlignParams, {"min_score": 1.5}),
])
def test_bad_values_are_refused(cls: type, kwargs: dict) -> None:
    with pytest.raises(ConfigError) as err:
        cls(**kwargs)
    assert next(iter(kwargs)) in str(err.value)


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ConfigError) as err:
        params_from_dict(DetectParams, {"treshold": 0.3})
    assert "treshold" in str(err.value)
    assert params_from_dict(DetectParams, {"threshold": 0.3}).threshold == 0.3


def test_recipe_validation() -> None:
    ref = np.zeros((64, 64), np.uint8)
    with pytest.raises(ConfigError):
        Recipe("r", ref, roi=(0, 0, 65, 10))
    with pytest.raises(ConfigError):
        Recipe("r", ref, ignore=np.zeros((10, 10), np.uint8))
    with pytest.raises(ConfigError):
        Recipe("r", ref, min_coverage=math.nan)
    with pytest.raises(ConfigError):
        Recipe("r", ref, number=1000)
    with pytest.raises(RecipeError):
        Recipe("r", np.zeros((8, 8), np.uint8))


def test_recipe_hash_follows_content() -> None:
    ref = np.zeros((64, 64), np.uint8)
    a = Recipe("r", ref).content_hash()
    assert a == Recipe("r", ref.copy()).content_hash()
    ref2 = ref.copy()
    ref2[3, 3] = 1
    assert a != Recipe("r", ref2).content_hash()
    assert a != Recipe("r", ref, detect=DetectParams(threshold=0.3)).content_hash()


def test_scorer_round_trip_and_validation() -> None:
    s = default_scorer(8, 0.25)
    assert Scorer.from_dict(s.to_dict()) == s
    bad = s.to_dict()
    bad["weights"] = [math.nan] * len(bad["weights"])  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        Scorer.from_dict(bad)
    bad2 = s.to_dict()
    bad2["features"] = ["x"]
    with pytest.raises(ConfigError):
        Scorer.from_dict(bad2)
