"""Several golden references per recipe: a part is judged against the reference it matches best and
the result names it; the variants are part of the recipe's hash and of the kept version."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspection.errors import ConfigError
from inspection.pipeline import inspect
from inspection.recipe.definition import Recipe, prepare
from inspection.recipe.params import DetectParams
from inspection.recipe.versions import RecipeVersions
from inspection.result import ResultCode


def _variant(reference: np.ndarray) -> np.ndarray:
    """A second supplier's part: a different, bright label block inside the ROI."""
    v = reference.copy()
    v[90:130, 100:170] = 235
    cv2.putText(v, "B2", (108, 122), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 20, 2)
    return v


def _part(golden: np.ndarray, *, seed: int, defect: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = np.float32([[1, 0, 2.5], [0, 1, -1.5]])
    img = cv2.warpAffine(golden, m, golden.shape[::-1], borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    img += rng.normal(0, 2.0, img.shape)
    if defect:
        img[170:182, 60:72] = 255 - img[170:182, 60:72]
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture
def recipes(reference: np.ndarray) -> tuple[Recipe, Recipe]:
    single = Recipe("connector", reference, detect=DetectParams(material="bright"), roi=(24, 24, 208, 208))
    multi = dataclasses.replace(single, variants=(_variant(reference),), variant_names=("supplier-b",))
    return single, multi


def test_a_part_is_judged_against_the_reference_it_matches_best(reference: np.ndarray, recipes) -> None:
    single, multi = recipes
    p_single, p_multi = prepare(single), prepare(multi)
    b_part = _part(_variant(reference), seed=1)
    assert inspect(p_single, b_part).code is ResultCode.NG_DEFECT  # one golden: the other label is a defect
    ok = inspect(p_multi, b_part)
    assert ok.code is ResultCode.OK and ok.reference == "supplier-b" and "supplier-b" in ok.message
    assert ok.recipe_id == p_multi.recipe_id and ok.to_dict()["reference"] == "supplier-b"
    a_ok = inspect(p_multi, _part(reference, seed=2))
    assert a_ok.code is ResultCode.OK and a_ok.reference == "golden"
    bad = inspect(p_multi, _part(_variant(reference), seed=3, defect=True))
    assert bad.code is ResultCode.NG_DEFECT and bad.reference == "supplier-b"  # a variant is no free pass
    assert "reference" not in inspect(p_single, _part(reference, seed=2)).to_dict()


def test_variants_are_versioned_and_hashed(tmp_path: Path, reference: np.ndarray, recipes) -> None:
    single, multi = recipes
    assert single.content_hash() != multi.content_hash()
    assert dataclasses.replace(multi, variants=(), variant_names=()).content_hash() == single.content_hash()
    renamed = dataclasses.replace(multi, variant_names=("supplier-c",))
    assert renamed.content_hash() != multi.content_hash()
    versions = RecipeVersions(tmp_path)
    digest = versions.keep(multi)
    back = RecipeVersions(tmp_path).load(digest[:12])
    assert back.variant_names == ("supplier-b",) and np.array_equal(back.variants[0], multi.variants[0])
    assert back.content_hash() == digest


def test_a_variant_of_another_size_is_refused(reference: np.ndarray, recipes) -> None:
    single, _ = recipes
    with pytest.raises(ConfigError):
        dataclasses.replace(single, variants=(reference[:100, :100],))
    with pytest.raises(ConfigError):
        dataclasses.replace(single, variants=(reference,), variant_names=("golden",))
