"""Classifier windows and inputs: identical for training and inspection, boxes and borders right."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from inspection.recipe.params import DetectParams
from inspection.vision.change import build_change_model, detect_changes
from inspection.vision.classify import classify_pcb, features, is_missing, region_context
from inspection.vision.patches import (
    REGION_ONLY_NAMES,
    VECTOR_NAMES,
    candidate_vector,
    dihedral_views,
    mean_type_probs,
    region_patches,
    region_vector,
    select,
    window_of,
)


def _pair() -> tuple[np.ndarray, np.ndarray]:
    ref = np.full((200, 200), 255, np.uint8)
    for y in (50, 100, 150):
        cv2.line(ref, (10, y), (190, y), 0, 10)
    part = ref.copy()
    cv2.circle(part, (70, 75), 5, 0, -1)  # extra copper between traces
    cv2.rectangle(part, (120, 95), (160, 106), 255, -1)  # long open: a wide region
    cv2.circle(part, (4, 4), 3, 0, -1)  # at the image corner
    return ref, part


def test_windows_are_centred_hold_the_region_and_replicate_borders():
    ref, part = _pair()
    boxes = [(65, 70, 75, 80), (120, 95, 161, 107), (1, 1, 8, 8)]
    patches, windows = region_patches(ref, part, boxes, size=32, pad=10)
    assert patches.shape == (3, 2, 32, 32) and patches.dtype == np.float32
    x0, y0, side = windows[0]
    assert (x0, y0, side) == (54, 59, 32)  # small region: native resolution, centred
    np.testing.assert_array_equal(patches[0, 1], part[59:91, 54:86])
    assert windows[1][2] == 41 + 20  # wide region: the window grows to hold it, then is resized
    assert window_of(boxes[1], size=32, pad=10) == tuple(int(v) for v in windows[1])
    # a window sticking out of the image repeats the border instead of inventing pixels
    assert tuple(windows[2][:2]) == (-12, -12)
    np.testing.assert_array_equal(patches[2, 1][12:, :12], np.repeat(part[0:20, 0:1], 12, axis=1))
    np.testing.assert_array_equal(patches[2, 1][12:, 12:], part[0:20, 0:20])


def test_region_only_inputs_equal_the_full_computation():
    ref, part = _pair()
    params = DetectParams(classes="pcb", min_area_px=6)
    model = build_change_model(ref, params)
    valid = np.full(ref.shape, 255, np.uint8)
    changes = detect_changes(model, part, valid)
    assert len(changes.regions) >= 2
    for region in changes.regions:
        ctx = region_context(region, ref, part, material_dark=True, level=model.material_level,
                             valid=valid)
        rule = classify_pcb(ctx, is_missing(region.polarity, material_dark=True))
        full = candidate_vector(features(region, ctx), int(rule), region.box, size=32, pad=10)
        assert full.shape == (len(VECTOR_NAMES),)
        assert full[VECTOR_NAMES.index(f"rule_{int(rule)}")] == 1.0
        fast = region_vector(region, REGION_ONLY_NAMES, size=32, pad=10)
        np.testing.assert_array_equal(fast, select(full[None], REGION_ONLY_NAMES)[0])


def test_select_refuses_unknown_inputs():
    with pytest.raises(ValueError, match="unknown"):
        select(np.zeros((1, len(VECTOR_NAMES)), np.float32), ["log_area", "colour"])


def test_dihedral_views_are_the_eight_flips_and_turns_view_major():
    rng = np.random.default_rng(0)
    patches = rng.integers(0, 255, (3, 2, 8, 8)).astype(np.float32)
    views = dihedral_views(patches)
    assert views.shape == (24, 2, 8, 8) and views.flags.c_contiguous
    np.testing.assert_array_equal(views[:3], patches)
    np.testing.assert_array_equal(views[3:6], patches[..., ::-1])  # mirror x
    np.testing.assert_array_equal(views[6:9], patches[..., ::-1, :])  # mirror y
    np.testing.assert_array_equal(views[12:15], patches.swapaxes(-1, -2))  # transpose
    # all 8 differ from each other on a random patch, and each is a permutation of its pixels
    flat = {views[k * 3].tobytes() for k in range(8)}
    assert len(flat) == 8
    for k in range(8):
        np.testing.assert_array_equal(np.sort(views[k * 3].ravel()), np.sort(patches[0].ravel()))


def test_mean_type_probs_keeps_the_score_and_averages_the_types():
    n = 2
    probs = np.zeros((8 * n, 4), np.float32)
    probs[:, 0] = 0.9  # other views' "no defect" is ignored
    probs[0] = (0.2, 0.5, 0.3, 0.0)  # row 0, view 0
    probs[1] = (0.6, 0.1, 0.1, 0.2)  # row 1, view 0
    probs[n::n, 1:] = (0.0, 0.1, 0.0)  # row 0, views 1..7: only type 2
    probs[n + 1::n, 1:] = (0.0, 0.0, 0.1)  # row 1, views 1..7: only type 3
    out = mean_type_probs(probs, n)
    assert out.shape == (n, 4)
    np.testing.assert_allclose(out[:, 0], [0.2, 0.6])
    np.testing.assert_allclose(out.sum(1), 1.0, atol=1e-6)
    assert out[0, 1:].argmax() == 1  # view 0 said type 1, the average says type 2
    assert out[1, 1:].argmax() == 2
    with pytest.raises(ValueError, match="rows"):
        mean_type_probs(probs[:-1], n)
