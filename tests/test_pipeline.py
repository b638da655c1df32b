"""The pipeline is fail-safe: every way a part can go unjudged is a REJECT with its code."""

from __future__ import annotations

import numpy as np
import pytest

from inspection.errors import DetectorError
from inspection.findings import Finding
from inspection.frame import Frame
from inspection.pipeline import inspect
from inspection.recipe.definition import Recipe, prepare
from inspection.recipe.params import DetectParams
from inspection.result import InspectionResult, ResultCode, Verdict
from inspection.vision.synth import KINDS, make_part

SHAPE = (256, 256)


def test_good_part_passes_with_timings(prepared) -> None:
    result = inspect(prepared, make_part(SHAPE, seed=3, dx=2.0, noise=2.0).image)
    assert result.code is ResultCode.OK and result.verdict is Verdict.PASS
    assert set(result.timings_ms) == {"align", "detect", "decide"}
    assert result.recipe_id.startswith("synthetic@")


def test_defective_part_is_rejected_with_findings(prepared) -> None:
    part = make_part(SHAPE, seed=3, part_seed=4, defects=KINDS, noise=2.0)
    result = inspect(prepared, part.image)
    assert result.code is ResultCode.NG_DEFECT
    assert len(result.reported) >= len(KINDS)
    assert result.max_score >= 0.5
    d = result.to_dict()
    assert d["verdict"] == "reject" and d["defect_count"] == len(result.reported)


def test_incomplete_frame_is_never_inspected(prepared) -> None:
    frame = Frame(make_part(SHAPE, seed=3).image, complete=False)
    result = inspect(prepared, frame)
    assert result.code is ResultCode.NG_ACQUISITION and result.verdict is Verdict.REJECT


def test_complete_frame_is_inspected(prepared) -> None:
    frame = Frame(make_part(SHAPE, seed=3).image, camera_id="cam0", frame_id=7)
    assert inspect(prepared, frame).code is ResultCode.OK


@pytest.mark.parametrize("bad", [
    np.zeros((200, 256), np.uint8),  # wrong size
    np.zeros((256, 256), np.float32),  # wrong dtype
    np.zeros((0, 0), np.uint8),  # empty
    np.zeros((256, 256, 4), np.uint8),  # four channels
    "not an image",
])
def test_bad_images_are_rejected_not_crashed(prepared, bad: object) -> None:
    result = inspect(prepared, bad)  # type: ignore[arg-type]
    assert result.code is ResultCode.NG_ACQUISITION
    assert result.verdict is Verdict.REJECT
    assert result.message


def test_colour_image_is_converted(prepared) -> None:
    import cv2

    grey = make_part(SHAPE, seed=3, noise=1.0).image
    result = inspect(prepared, cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
    assert result.code is ResultCode.OK


def test_missing_part_is_an_alignment_reject(prepared) -> None:
    result = inspect(prepared, np.full(SHAPE, 30, np.uint8))
    assert result.code is ResultCode.NG_ALIGNMENT
    assert "contrast" in result.message


def test_part_partly_out_of_view_is_not_passed(reference) -> None:
    recipe = Recipe("full", reference, detect=DetectParams(material="bright"))  # ROI = whole image
    part = make_part(SHAPE, seed=3, dx=9.0, noise=1.0)
    result = inspect(prepare(recipe), part.image)
    assert result.code is ResultCode.NG_ALIGNMENT
    assert "not completely inspected" in result.message


class _Broken:
    name = "broken"

    def detect(self, prepared, aligned, valid):
        raise ZeroDivisionError("bug in a detector")


class _Failing:
    name = "failing"

    def detect(self, prepared, aligned, valid):
        raise DetectorError("model file is corrupt")


@pytest.mark.parametrize("detector", [_Broken(), _Failing()])
def test_detector_failure_rejects(prepared, detector: object) -> None:
    result = inspect(prepared, make_part(SHAPE, seed=3).image, detector=detector)  # type: ignore[arg-type]
    assert result.code is ResultCode.NG_RUNTIME
    assert result.verdict is Verdict.REJECT


def test_result_cannot_be_ok_with_reported_findings() -> None:
    bad = Finding(box=(1, 1, 5, 5), score=0.9)
    with pytest.raises(ValueError):
        InspectionResult(ResultCode.OK, findings=(bad,))
    with pytest.raises(ValueError):
        InspectionResult(ResultCode.NONE)


def test_only_ok_is_a_pass() -> None:
    assert [c for c in ResultCode if c.verdict is Verdict.PASS] == [ResultCode.OK]


def test_wrong_size_frame_is_recorded_with_its_own_size(prepared, tmp_path) -> None:
    """Issue #13, item 9: a wrong-size frame was stored with the recipe's size."""
    from inspection.record import PartInfo, PartRecord
    from inspection.store import ResultStore, StoreConfig

    h, w = prepared.shape
    result = inspect(prepared, np.zeros((h // 2, w // 2), np.uint8))
    assert result.code is ResultCode.NG_ACQUISITION and result.image_shape == (h // 2, w // 2)
    with ResultStore(StoreConfig(tmp_path)) as store:
        rec = PartRecord(result, PartInfo(part_id=1))
        store.submit(rec)
        assert store.flush(10)
        assert store.require(rec.result_id).image_shape == (h // 2, w // 2)
