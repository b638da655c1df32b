"""Change detection on aligned synthetic parts: planted defects are found with the right polarity
and family of class; good parts (moved, relit, noisy) are clean; masks and limits are honoured."""

from __future__ import annotations

import numpy as np
import pytest

from inspection.findings import DefectClass
from inspection.pipeline import inspect
from inspection.recipe.definition import Recipe, prepare
from inspection.recipe.params import DetectParams
from inspection.vision.change import build_change_model, detect_changes, warp_to_reference
from inspection.vision.geometry import Alignment
from inspection.vision.synth import KINDS, make_part

SHAPE = (256, 256)
FAMILY = {
    DefectClass.MISSING: {DefectClass.MISSING, DefectClass.CRACK},
    DefectClass.CRACK: {DefectClass.CRACK, DefectClass.MISSING},
    DefectClass.EXTRA: {DefectClass.EXTRA, DefectClass.DEFORMATION},
    DefectClass.DEFORMATION: {DefectClass.DEFORMATION, DefectClass.EXTRA},
}


def _covers(box: tuple[float, float, float, float], point: tuple[float, float], pad: float = 2.0) -> bool:
    return box[0] - pad <= point[0] <= box[2] + pad and box[1] - pad <= point[1] <= box[3] + pad


@pytest.mark.parametrize("part_seed", [0, 1, 2, 3])
def test_planted_defects_are_found(prepared, part_seed: int) -> None:
    rng = np.random.default_rng(part_seed)
    part = make_part(SHAPE, seed=3, part_seed=part_seed, defects=KINDS, dx=rng.uniform(-8, 8),
                     dy=rng.uniform(-8, 8), angle_deg=rng.uniform(-2, 2), gain=rng.uniform(0.85, 1.15),
                     offset=rng.uniform(-15, 15), noise=3.0)
    result = inspect(prepared, part.image)
    assert result.verdict.value == "reject"
    reported = result.reported
    for defect in part.defects:
        hits = [f for f in reported if _covers(f.box, defect.center)]
        assert hits, f"{defect.kind.name} at {defect.box} not found; reported {[f.box for f in reported]}"
        assert any(h.defect_class in FAMILY[defect.kind] for h in hits)
    # nothing reported away from the planted defects
    for f in reported:
        assert any(_covers(f.box, d.center, pad=8) for d in part.defects), f"false finding {f}"


@pytest.mark.parametrize("part_seed", range(6))
def test_good_parts_are_clean(prepared, part_seed: int) -> None:
    rng = np.random.default_rng(100 + part_seed)
    part = make_part(SHAPE, seed=3, part_seed=100 + part_seed, dx=rng.uniform(-10, 10),
                     dy=rng.uniform(-10, 10), angle_deg=rng.uniform(-3, 3), gain=rng.uniform(0.8, 1.2),
                     offset=rng.uniform(-20, 20), noise=5.0)
    result = inspect(prepared, part.image)
    assert result.verdict.value == "pass", result.message
    assert result.reported == ()


def test_polarity_separates_missing_from_extra(prepared) -> None:
    for kind, polarity in ((DefectClass.MISSING, "dark"), (DefectClass.EXTRA, "bright")):
        part = make_part(SHAPE, seed=3, part_seed=5, defects=(kind,), defect_size=10, noise=1.0)
        (finding,) = inspect(prepared, part.image).reported
        assert finding.polarity.value == polarity  # bright material: missing shows dark


def test_ignore_mask_and_roi_suppress_findings(reference: np.ndarray) -> None:
    part = make_part(SHAPE, seed=3, part_seed=1, defects=(DefectClass.EXTRA,), defect_size=10, noise=1.0)
    (d,) = part.defects
    base = Recipe("r", reference, detect=DetectParams(material="bright"))
    assert inspect(prepare(base), part.image).reported
    ignore = np.zeros(SHAPE, np.uint8)
    x1, y1, x2, y2 = (round(v) for v in d.box)
    ignore[y1 - 4:y2 + 4, x1 - 4:x2 + 4] = 255
    masked = Recipe("r", reference, detect=DetectParams(material="bright"), ignore=ignore)
    result = inspect(prepare(masked), part.image)
    assert result.verdict.value == "pass" and not result.reported


def test_min_area_and_merging(reference: np.ndarray) -> None:
    aligned = reference.copy()
    # two 3x3 bright specks 3 px apart on the background, and one lone 2x2 speck far away
    aligned[40:43, 40:43] = 255
    aligned[40:43, 46:49] = 255
    aligned[200:202, 200:202] = 255
    valid = np.full(SHAPE, 255, np.uint8)
    params = DetectParams(material="bright", min_area_px=10, merge_gap_px=4)
    regions = detect_changes(build_change_model(reference, params), aligned, valid).regions
    boxes = [r.box for r in regions]
    assert (40, 40, 49, 43) in boxes  # the two specks are one region of 18 px
    assert all(r.area_px >= 10 for r in regions)
    apart = DetectParams(material="bright", min_area_px=10, merge_gap_px=1)
    assert not detect_changes(build_change_model(reference, apart), aligned, valid).regions


def test_sub_pixel_edge_jitter_is_tolerated(reference: np.ndarray) -> None:
    from inspection.vision.geometry import rigid_matrix

    shifted = Alignment(matrix=rigid_matrix(0.6, -0.6, 0.0), ok=True, score=1.0)
    # the part as it would look 0.6 px off, assumed perfectly aligned: still no deviation
    aligned, valid = warp_to_reference(reference, shifted, SHAPE)
    model = build_change_model(reference, DetectParams(material="bright"))
    assert detect_changes(model, aligned, valid).regions == ()


def test_invalid_pixels_are_not_inspected(reference: np.ndarray) -> None:
    aligned = reference.copy()
    aligned[:, :20] = 0  # no data there
    valid = np.full(SHAPE, 255, np.uint8)
    valid[:, :20] = 0
    model = build_change_model(reference, DetectParams(material="bright"))
    assert detect_changes(model, aligned, valid).regions == ()


def test_a_nearly_blank_reference_takes_its_contrast_from_its_rare_phase() -> None:
    # a white area with a few dark marks (under 1% of it): the 1st-99th percentiles are one level,
    # the threshold must still be a fraction of white-to-dark, not of a 16-level floor that sensor
    # noise crosses everywhere
    ref = np.full((200, 200), 255, np.uint8)
    ref[20:24, 30:50] = 0  # 80 px of 40,000: 0.2%
    model = build_change_model(ref, DetectParams(threshold=0.25))
    assert model.contrast == 255.0 and model.level_threshold == 64
    rng = np.random.default_rng(1)
    noisy = np.clip(ref.astype(np.float32) - 2 + rng.normal(0, 5, ref.shape), 0, 255).astype(np.uint8)
    valid = np.full(ref.shape, 255, np.uint8)
    assert detect_changes(model, noisy, valid).regions == ()
    cut = noisy.copy()
    cut[100:110, 100:130] = 0  # a real dark defect is still found
    assert len(detect_changes(model, cut, valid).regions) == 1
    blank = build_change_model(np.full((50, 50), 200, np.uint8))  # no other phase at all: the floor
    assert blank.contrast == 16.0
