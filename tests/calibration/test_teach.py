"""Teaching from good parts: golden reference, variation model, outliers set aside, thresholds."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from calibration.production import Variation, production_part
from calibration.scoring import BandScorer
from calibration.teach import TeachParams, make_recipe, teach
from calibration.variation import VariationParams, build_variation, pixels_by_part
from inspection.errors import ImageError, RecipeError
from inspection.findings import DefectClass
from inspection.pipeline import inspect
from inspection.recipe.definition import prepare
from inspection.recipe.params import DetectParams
from inspection.result import ResultCode

SHAPE = (256, 256)
DESIGN = 11
PARAMS = TeachParams(name="bracket", detect=DetectParams(material="bright"), target_frr=0.01)


def good(i: int) -> np.ndarray:
    return production_part(SHAPE, design=DESIGN, index=i).image


def bad(i: int, kind: DefectClass, size: float = 10.0) -> np.ndarray:
    return production_part(SHAPE, design=DESIGN, index=i, defects=(kind,), defect_size=size).image


@pytest.fixture(scope="module")
def taught():
    images = [(f"good{i:02d}.png", good(i)) for i in range(20)]
    images.insert(7, ("missing.png", bad(100, DefectClass.MISSING)))
    images.insert(13, ("crack.png", bad(103, DefectClass.CRACK, 14.0)))  # too faint for the screening
    return teach(images, PARAMS)


def test_defective_parts_in_the_good_set_are_set_aside_and_said_why(taught):
    aside = {p.name: p for p in taught.set_aside}
    assert set(aside) == {"missing.png", "crack.png"}
    for p in aside.values():
        assert p.status == "outlier" and "defective part in the good set" in p.reason
    assert len(taught.good) == 20 and all(p.score is not None and p.fold is not None for p in taught.good)
    assert taught.variation.count == 20


def test_taught_recipe_passes_new_good_parts_and_rejects_defective_ones(taught):
    prepared = prepare(taught.recipe)
    codes = [inspect(prepared, good(i)).code for i in range(200, 230)]
    assert codes.count(ResultCode.OK) >= 29  # target FRR 1%
    kinds = (DefectClass.MISSING, DefectClass.EXTRA, DefectClass.DEFORMATION)
    caught = [inspect(prepared, bad(300 + i, kinds[i % 3])).code == ResultCode.NG_DEFECT for i in range(12)]
    assert sum(caught) >= 11


def test_threshold_report_is_consistent(taught):
    c = taught.threshold
    assert c.n == 20 and c.target_frr == 0.01
    assert c.threshold >= float(np.max(taught.scores))  # no taught good part is rejected
    assert c.frr_guaranteed == pytest.approx(1 - 0.05 ** (1 / 20))
    assert taught.variation_params.rel_dark == pytest.approx(c.threshold)
    assert taught.recipe.detect.threshold == PARAMS.margin and taught.recipe.roi is not None


def test_band_scores_agree_with_the_station_pipeline(taught):
    """The scorer widens the band exactly as a recipe's spreads do: a part's score is where the
    station's own inspect() flips from reject to pass."""
    model = taught.variation
    roi = taught.recipe.roi
    assert roi is not None
    scorer = BandScorer(prepare(make_recipe(model, PARAMS, roi, None)), model, PARAMS.variation)
    checked = 0
    for i in range(400, 420):
        img = production_part(SHAPE, design=DESIGN, index=i, variation=Variation(noise=5.0)).image
        s = scorer.score(img).score
        if not (PARAMS.lowest_k < s < PARAMS.highest_k):
            continue
        above = inspect(prepare(make_recipe(model, PARAMS, roi, s * 1.001)), img).code
        below = inspect(prepare(make_recipe(model, PARAMS, roi, s / 1.05)), img).code
        assert above == ResultCode.OK and below == ResultCode.NG_DEFECT
        checked += 1
    assert checked >= 5


def test_unreadable_unalignable_and_odd_sized_images_are_set_aside():
    rng = np.random.default_rng(1)
    images: list[tuple[str, np.ndarray | ImageError]] = [(f"g{i}.png", good(i)) for i in range(8)]
    images += [
        ("noise.png", rng.integers(0, 255, SHAPE, dtype=np.uint8)),
        ("small.png", good(50)[:200, :200].copy()),
        ("corrupt.png", ImageError("PNG file is truncated", path="corrupt.png")),
    ]
    result = teach(images, replace(PARAMS, folds=4))  # type: ignore[arg-type]
    aside = {p.name: p for p in result.set_aside}
    assert aside["noise.png"].status in ("unaligned", "outlier")
    assert aside["small.png"].status == "unreadable" and "200x200" in aside["small.png"].reason
    assert aside["corrupt.png"].status == "unreadable" and "truncated" in aside["corrupt.png"].reason
    assert len(result.good) == 8


def test_too_few_good_parts_is_a_recipe_error():
    with pytest.raises(RecipeError) as err:
        teach([(f"g{i}.png", good(i)) for i in range(3)], PARAMS)
    assert err.value.key == "too_few_good_parts"


def test_variation_model_is_robust_to_one_bad_part():
    rng = np.random.default_rng(0)
    base = rng.uniform(40, 200, (32, 32))
    stack = np.stack([np.clip(base + rng.normal(0, 4.0, base.shape), 0, 255) for _ in range(40)]).astype(
        np.uint8
    )
    stack[5, 10:20, 10:20] = 255  # one part with a bright blob
    model = build_variation(pixels_by_part(stack), (32, 32))
    assert np.abs(model.reference.astype(float) - base).mean() < 1.5
    for spread in (model.spread_dark, model.spread_bright):
        assert 3.2 < float(np.median(spread)) < 4.8
        assert float(spread[10:20, 10:20].max()) < 8.0  # the blob barely widens the band
    dark, bright = model.widening(
        VariationParams(rel_dark=2.0, rel_bright=3.0, abs_dark=1.0, abs_bright=1.0, smooth_px=0)
    )
    assert np.allclose(bright, np.maximum(1.0, 3.0 * model.spread_bright))
    assert np.allclose(dark, np.maximum(1.0, 2.0 * model.spread_dark))
