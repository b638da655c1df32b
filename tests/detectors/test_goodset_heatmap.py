"""A good-set recipe of tiles at the station: taught without alignment, every tile is inspected as
acquired (before, each was rejected as "cannot align" against the median of other textures), and
the result carries the anomaly map, which points at the defect."""

from __future__ import annotations

import numpy as np
import pytest
from goodset_support import goodset_recipe, texture_tile, use_block_features, with_defect

from inspection.errors import RecipeError
from inspection.pipeline import inspect
from inspection.recipe.definition import Recipe, prepare
from inspection.recipe.params import AlignParams
from inspection.result import ResultCode
from inspection.station.recipes import make_detector
from inspection.vision.heatmap import THRESHOLD_LEVEL


@pytest.fixture(scope="module")
def recipe() -> Recipe:
    return goodset_recipe(0)


def test_tiles_are_inspected_as_acquired_and_the_map_points_at_the_defect(recipe, monkeypatch):
    use_block_features(monkeypatch)
    assert recipe.align.motion == "none"
    det = make_detector(recipe)
    prepared = prepare(recipe)
    rng = np.random.default_rng(7)
    good = inspect(prepared, texture_tile(rng), detector=det)
    assert good.code is ResultCode.OK, good.message
    assert good.alignment is not None and good.alignment.ok and good.alignment.coverage == 1.0
    assert good.heat_map is not None and good.heat_map.kind == "anomaly"  # a pass carries its map too
    bad = inspect(prepared, with_defect(texture_tile(rng), (60, 30)), detector=det)
    assert bad.code is ResultCode.NG_DEFECT, bad.message
    hm = bad.heat_map
    assert hm is not None and hm.levels.shape == recipe.shape and hm.ref_shape == recipe.shape
    assert hm.threshold == pytest.approx(recipe.goodset.threshold)  # type: ignore[union-attr]
    ys, xs = np.nonzero(hm.levels >= THRESHOLD_LEVEL)  # above the model's threshold: the defect
    assert abs(xs.mean() - 60) < 8 and abs(ys.mean() - 30) < 8
    assert (hm.levels >= THRESHOLD_LEVEL).mean() < 0.2
    top = bad.reported[0]
    assert top.box[0] <= xs.mean() <= top.box[2] and top.box[1] <= ys.mean() <= top.box[3]
    assert bad.to_dict()["heat_map"]["kind"] == "anomaly"  # type: ignore[index]
    # the map keeps the image score the verdict compared with the threshold (not the map's peak)
    model = recipe.goodset
    for result, image_ok in ((good, True), (bad, False)):
        assert result.heat_map is not None and result.heat_map.score is not None
        assert (result.heat_map.score <= model.threshold) is image_ok  # type: ignore[union-attr]
    tile = texture_tile(np.random.default_rng(9))
    again = inspect(prepared, tile, detector=det)
    assert again.heat_map is not None
    # the part's score: the patches' image score plus the model's image-level term (taught with one)
    assert model.tile is not None  # type: ignore[union-attr]
    assert again.heat_map.score == pytest.approx(model.score(tile, det.extract)[1], rel=1e-5)  # type: ignore[union-attr]
    assert bad.to_dict()["heat_map"]["score"] == pytest.approx(bad.heat_map.score, abs=1e-6)  # type: ignore[index]


def test_tiles_of_another_size_are_not_inspected(recipe, monkeypatch):
    use_block_features(monkeypatch)
    rng = np.random.default_rng(8)
    r = inspect(prepare(recipe), texture_tile(rng, (100, 160)), detector=make_detector(recipe))
    assert r.code is ResultCode.NG_ACQUISITION and r.verdict.value == "reject"


def test_golden_comparing_detectors_need_alignment(recipe):
    ref = np.random.default_rng(1).integers(0, 255, (64, 64)).astype(np.uint8)
    with pytest.raises(RecipeError, match="needs parts aligned") as err:
        Recipe("board", ref, align=AlignParams(motion="none"))
    assert err.value.key == "recipe_bad"
    with pytest.raises(RecipeError, match="variant"):
        Recipe("tiles", recipe.reference, align=AlignParams(motion="none"), detector="goodset",
               goodset=recipe.goodset, variants=(recipe.reference,))
