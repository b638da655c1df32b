"""The DeepPCB protocol: IoU > 0.33 with a box of the same type, one match per box, AP."""

from __future__ import annotations

import numpy as np
import pytest

from inspection.bench.metrics import Det, Gt, Scores, average_precision, iou, match_image


def test_iou() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (10, 10, 20, 20)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)


def test_matching_is_one_to_one_and_class_aware() -> None:
    gts = [Gt((0, 0, 10, 10), 1)]
    dets = [Det((0, 0, 10, 10), 0.9, 1), Det((1, 1, 10, 10), 0.8, 1)]
    assert match_image(dets, gts, class_aware=True) == [True, False]
    assert match_image([Det((0, 0, 10, 10), 0.9, 2)], gts, class_aware=True) == [False]
    assert match_image([Det((0, 0, 10, 10), 0.9, 2)], gts, class_aware=False) == [True]
    # IoU exactly at the threshold does not count ("larger than 0.33")
    assert match_image([Det((0, 0, 10, 10), 0.9, 1)], [Gt((0, 0, 33, 10), 1)], class_aware=True) == [False]


def test_precision_recall_f_use_reported_only() -> None:
    s = Scores(class_aware=True)
    s.add([Det((0, 0, 10, 10), 0.9, 1), Det((50, 50, 60, 60), 0.4, 2), Det((80, 80, 90, 90), 0.7, 3)],
          [Gt((0, 0, 10, 10), 1), Gt((50, 50, 60, 60), 2)])
    out = s.summary()
    assert out["tp"] == 1 and out["reported"] == 2 and out["ground_truth"] == 2
    assert out["precision"] == 0.5 and out["recall"] == 0.5 and out["f_score"] == 0.5
    ap = out["ap_per_class"]
    assert ap["1"] == 1.0 and ap["2"] == 1.0  # ranking found it, even below the report threshold
    assert np.isnan(ap["4"])


def test_average_precision_known_curve() -> None:
    # ranks: TP, FP, TP with 2 ground truths: precision at recall 0.5 = 1, at recall 1 = 2/3
    ap = average_precision(np.array([0.9, 0.8, 0.7]), np.array([True, False, True]), 2)
    assert ap == pytest.approx(0.5 * 1.0 + 0.5 * (2 / 3))
    assert average_precision(np.array([]), np.array([], dtype=bool), 3) == 0.0
