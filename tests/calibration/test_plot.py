"""The score distribution plot."""

from __future__ import annotations

import math

import cv2
import numpy as np

from calibration.plot import LEFT, RIGHT, THRESH, H, W, png_bytes, score_plot
from calibration.threshold import choose_threshold


def test_plot_shows_the_threshold_where_it_is():
    scores = [*np.random.default_rng(0).gumbel(0.4, 0.08, 60).tolist(), math.inf]
    choice = choose_threshold(scores, 0.001)
    img = score_plot(np.array(scores), choice, title="test")
    assert img.shape == (H, W, 3) and img.dtype == np.uint8
    red = np.all(img == np.array(THRESH, np.uint8), axis=2)
    cols = np.nonzero(red.sum(0) > 100)[0]  # the vertical threshold line
    assert cols.size
    x_max = max(choice.threshold, max(s for s in scores if math.isfinite(s))) * 1.15
    expected = LEFT + choice.threshold / x_max * (W - LEFT - RIGHT)
    assert abs(cols.mean() - expected) < 2
    back = cv2.imdecode(np.frombuffer(png_bytes(img), np.uint8), cv2.IMREAD_COLOR)
    assert back is not None and back.shape == img.shape
