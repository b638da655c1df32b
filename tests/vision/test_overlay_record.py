"""Overlay shapes follow the alignment; drawn overlays; part records and their ids."""

from __future__ import annotations

import numpy as np
import pytest

from inspection.findings import DefectClass, Finding
from inspection.record import PartInfo, PartRecord, is_result_id, new_result_id
from inspection.result import InspectionResult, ResultCode
from inspection.vision.geometry import Alignment, rigid_matrix
from inspection.vision.overlay import MAX_CONTOUR_POINTS, draw_overlay, overlay_shapes


def _result(alignment=None, contour=None):
    f = Finding(box=(10, 20, 30, 40), score=0.8, defect_class=DefectClass.SHORT, contour=contour)
    weak = Finding(box=(50, 50, 60, 60), score=0.2)
    return InspectionResult(code=ResultCode.NG_DEFECT, findings=(f, weak), alignment=alignment,
                            image_shape=(100, 120), max_score=0.8)


def test_shapes_are_mapped_into_the_acquired_image():
    m = rigid_matrix(5.0, -3.0, 90.0, center=(20.0, 30.0))
    shapes = overlay_shapes(_result(Alignment(matrix=m, ok=True, score=0.9)))
    box = np.array(shapes[0]["points"])
    # The box's corners rotated by 90 degrees about its centre (20, 30), then shifted by (5, -3).
    assert box.min(axis=0) == pytest.approx([15.0, 17.0], abs=0.05)
    assert box.max(axis=0) == pytest.approx([35.0, 37.0], abs=0.05)
    assert shapes[0]["reported"] is True and shapes[1]["reported"] is False
    assert shapes[0]["class_name"] == "short" and shapes[0]["kind"] == "box"
    # A failed alignment leaves reference coordinates as they are.
    failed = overlay_shapes(_result(Alignment.failed("no part")))
    assert np.array(failed[0]["points"]).min(axis=0).tolist() == [10.0, 20.0]


def test_long_contours_are_subsampled():
    t = np.linspace(0, 2 * np.pi, 2000, endpoint=False)
    contour = np.stack([20 + 8 * np.cos(t), 30 + 8 * np.sin(t)], axis=1)
    (shape, _) = overlay_shapes(_result(contour=contour))
    assert shape["kind"] == "contour" and len(shape["points"]) == MAX_CONTOUR_POINTS


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_draw_overlay_marks_reported_findings_red(dtype):
    img = np.full((100, 120), 30 if dtype == np.uint8 else 4000, dtype)
    out = draw_overlay(img, overlay_shapes(_result()), verdict="reject")
    assert out.shape == (100, 120, 3) and out.dtype == np.uint8
    ring = out[18:43, 8:33].reshape(-1, 3).astype(int)
    assert ((ring[:, 2] > 150) & (ring[:, 1] < 110)).sum() > 20
    assert img.max() == (30 if dtype == np.uint8 else 4000)  # the input is not modified


def test_part_records():
    rec = PartRecord(_result(), PartInfo(trigger_seq=7, part_id=9, part_id_str="SN-1\x00\x00 "))
    assert rec.part.part_id_str == "SN-1" and is_result_id(rec.result_id)
    d = rec.to_dict()
    assert d["trigger_seq"] == 7 and d["worst_class"] == int(DefectClass.SHORT) and len(d["overlay"]) == 2
    ids = {new_result_id() for _ in range(1000)}
    assert len(ids) == 1000 and sorted(ids)[0] < new_result_id()
    for bad in ({"trigger_seq": 70000}, {"part_id": -1}, {"recipe_number": 1000}, {"part_id_str": "a\nb"}):
        with pytest.raises(ValueError):
            PartInfo(**bad)
    with pytest.raises(ValueError):
        PartRecord(_result(), result_id="nope")
