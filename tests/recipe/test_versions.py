"""Recipe versions kept by content hash: a kept version rebuilds to the same hash, is found by the
12-digit prefix a stored result carries, and a tampered version is refused."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from inspection.errors import RecipeError
from inspection.recipe.definition import Recipe
from inspection.recipe.params import AlignParams, DetectParams
from inspection.recipe.versions import RecipeVersions
from inspection.vision.scorer import default_scorer
from inspection.vision.synth import make_reference


def _recipe() -> Recipe:
    ref = make_reference((96, 128), seed=5)
    ignore = np.zeros(ref.shape, np.uint8)
    ignore[:8, :8] = 255
    return Recipe("Versioned part", ref, align=AlignParams(motion="similarity", min_score=0.42),
                  detect=DetectParams(material="bright", threshold=0.31), roi=(4, 4, 120, 88), ignore=ignore,
                  spread_dark=np.full(ref.shape, 2.5, np.float32), scorer=default_scorer(8, 0.31),
                  number=7, mm_per_px=0.05)


def test_a_kept_version_rebuilds_to_the_same_hash(tmp_path: Path) -> None:
    versions = RecipeVersions(tmp_path / "v")
    recipe = _recipe()
    digest = versions.keep(recipe)
    assert digest == recipe.content_hash()
    assert versions.keep(recipe) == digest and versions.hashes() == [digest]
    fresh = RecipeVersions(tmp_path / "v")  # no cache: read from disk
    loaded = fresh.load(f"{recipe.name}@{digest[:12]}")
    assert loaded.content_hash() == digest
    assert np.array_equal(loaded.reference, recipe.reference) and loaded.roi == recipe.roi
    assert loaded.scorer == recipe.scorer and loaded.detect == recipe.detect


def test_tuned_thresholds_are_a_new_version_and_old_ones_stay(tmp_path: Path) -> None:
    versions = RecipeVersions(tmp_path)
    a = _recipe()
    b = dataclasses.replace(a, detect=dataclasses.replace(a.detect, threshold=0.5))
    ha, hb = versions.keep(a), versions.keep(b)
    assert ha != hb and set(versions.hashes()) == {ha, hb}
    assert RecipeVersions(tmp_path).load(hb[:12]).detect.threshold == 0.5
    assert RecipeVersions(tmp_path).load(ha[:12]).detect.threshold == 0.31


def test_unknown_and_tampered_versions_are_refused(tmp_path: Path) -> None:
    versions = RecipeVersions(tmp_path)
    digest = versions.keep(_recipe())
    with pytest.raises(RecipeError) as err:
        versions.load("0123456789ab")
    assert err.value.key == "recipe_version_unknown"
    meta = tmp_path / digest / "recipe.json"
    meta.write_text(meta.read_text().replace('"threshold": 0.31', '"threshold": 0.32'))
    with pytest.raises(RecipeError) as err:
        RecipeVersions(tmp_path).load(digest[:12])
    assert err.value.key == "recipe_version_mismatch"
