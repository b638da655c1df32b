"""Heat maps: 8-bit levels relative to the detector's threshold, mapped into the acquired image through
the alignment, coloured from the threshold."""

from __future__ import annotations

import numpy as np
import pytest

from inspection.vision.geometry import Alignment, rigid_matrix
from inspection.vision.heatmap import MAX_SIDE, THRESHOLD_LEVEL, HeatMap, colourise, levels_in_image


def _blob_map(shape: tuple[int, int], center: tuple[int, int], value: float) -> np.ndarray:
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    return (value * np.exp(-((xx - center[0]) ** 2 + (yy - center[1]) ** 2) / (2 * 6.0**2))).astype(np.float32)


def test_levels_are_relative_to_the_threshold_and_reduced():
    values = np.array([[0.0, 0.5, 1.0, 2.0, 5.0, np.nan]], np.float32)
    hm = HeatMap.from_values(values, threshold=0.5, kind="anomaly", ref_shape=(1, 6))
    assert hm.levels.tolist() == [[0, THRESHOLD_LEVEL, 255, 255, 255, 0]]  # 2x threshold and more: 255
    assert hm.peak == pytest.approx(5.0) and hm.meta()["threshold_level"] == THRESHOLD_LEVEL
    big = HeatMap.from_values(np.ones((1000, 1500), np.float32), threshold=2.0, kind="anomaly",
                              ref_shape=(2000, 3000))
    assert max(big.levels.shape) == MAX_SIDE and big.levels.shape == (171, 256)
    assert set(np.unique(big.levels)) == {64}  # half the threshold
    with pytest.raises(ValueError):
        HeatMap(np.zeros((4, 4), np.uint8), "anomaly", 0.0, 0.0, (4, 4))
    with pytest.raises(ValueError):
        HeatMap(np.zeros((4, 4), np.uint8), "other", 1.0, 0.0, (4, 4))
    # the score the verdict compared, when it is not the peak: kept and stored beside the map
    assert "score" not in hm.meta()
    scored = HeatMap.from_values(values, threshold=0.5, kind="anomaly", ref_shape=(1, 6), score=0.75)
    assert scored.score == 0.75 and scored.meta()["score"] == 0.75 and scored.peak == hm.peak
    with pytest.raises(ValueError):
        HeatMap.from_values(values, threshold=0.5, kind="anomaly", ref_shape=(1, 6), score=float("nan"))


def test_the_map_follows_the_part_into_the_acquired_image():
    ref_shape = (120, 160)
    hm = HeatMap.from_values(_blob_map(ref_shape, (40, 30), 1.5), threshold=1.0, kind="anomaly",
                             ref_shape=ref_shape)
    same = levels_in_image(hm, None, ref_shape)
    assert np.unravel_index(int(np.argmax(same)), same.shape) == (30, 40)
    # the part lies 20 px right and 10 px down in the image: so does its map
    moved = levels_in_image(hm, Alignment(matrix=rigid_matrix(20.0, 10.0, 0.0), ok=True, score=1.0), ref_shape)
    assert np.unravel_index(int(np.argmax(moved)), moved.shape) == (40, 60)
    # a part larger than MAX_SIDE: its map is reduced, and lies at the same place in the reduced image
    big_ref = (1200, 1600)
    big = HeatMap.from_values(_blob_map((300, 400), (100, 75), 1.5), threshold=1.0, kind="anomaly",
                              ref_shape=big_ref)
    assert big.levels.shape == (192, 256)
    out = levels_in_image(big, Alignment(matrix=rigid_matrix(100.0, 0.0, 0.0), ok=True, score=1.0), big_ref)
    assert out.shape == (192, 256)
    y, x = np.unravel_index(int(np.argmax(out)), out.shape)
    assert abs(y - 300 * 0.16) <= 1 and abs(x - 500 * 0.16) <= 1  # (400 + 100, 300) image px


def test_colour_comes_from_the_threshold():
    image = np.full((60, 80), 128, np.uint8)
    levels = np.zeros((60, 80), np.uint8)
    levels[:, 40:] = 255  # right half: above the threshold
    levels[:, 20:40] = 60  # below it
    out = colourise(image, levels)
    b, g, r = (int(v) for v in out[30, 70])
    assert r > 180 and r > g + 30 and r > b  # red (to magenta) above the threshold
    _, g2, r2 = (int(v) for v in out[30, 30])
    assert not (r2 > g2 + 30)  # not red below it
    assert tuple(out[5, 5]) != tuple(out[30, 70])
    assert (out[:, 38:43] > 200).all(axis=2).any()  # the threshold's outline, in white
