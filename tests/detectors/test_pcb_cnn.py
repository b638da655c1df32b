"""The pcb-cnn detector end to end on synthetic PCB-like parts (no /work/shared needed)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from inspection.bench.deeppcb_data import bench_recipe
from inspection.errors import DetectorError
from inspection.findings import DefectClass
from inspection.pipeline import inspect
from inspection.recipe.definition import Recipe, prepare
from inspection.result import ResultCode, Verdict
from inspection.vision.detector import detectors
from plugins.detectors.pcb_cnn import PcbCnnDetector, PcbCnnFastDetector


def board() -> np.ndarray:
    """White substrate, dark copper: horizontal traces, a vertical bus and round pads."""
    img = np.full((320, 320), 255, np.uint8)
    for y in (60, 110, 160, 210, 260):
        cv2.line(img, (30, y), (290, y), 0, 12)
    cv2.line(img, (300, 40), (300, 280), 0, 10)
    for x, y in ((70, 30), (150, 30), (230, 30), (70, 295), (230, 295)):
        cv2.circle(img, (x, y), 11, 0, -1)
    return img


DEFECTS = {
    # name: (centre, how to draw it)
    "open": ((120, 110), lambda im: cv2.rectangle(im, (116, 100), (124, 120), 255, -1)),
    "short": ((200, 185), lambda im: cv2.rectangle(im, (195, 160), (205, 210), 0, -1)),
    "copper": ((100, 235), lambda im: cv2.circle(im, (100, 235), 6, 0, -1)),
}


@pytest.fixture(scope="module", params=[PcbCnnDetector, PcbCnnFastDetector], ids=["full", "fast"])
def detector(request: pytest.FixtureRequest) -> PcbCnnDetector:
    return request.param(threads=1, device="cpu")


def test_registered_by_name_and_reports_its_providers(detector):
    d = detectors.create(detector.name, threads=1, device="cpu")
    assert type(d) is type(detector)
    assert d.providers == ("CPUExecutionProvider",)
    assert detector.size == 32 and detector.candidate_threshold > 0
    assert detector.region_only is (detector.name == "pcb-cnn-fast")


def test_clean_part_passes_and_defects_are_found(detector):
    golden = board()
    prepared = prepare(bench_recipe(golden, roi_margin=12))
    clean = inspect(prepared, golden.copy(), detector=detector)
    assert clean.code is ResultCode.OK, clean.message
    part = golden.copy()
    for _, draw in DEFECTS.values():
        draw(part)
    result = inspect(prepared, part, detector=detector)
    assert result.verdict is Verdict.REJECT and result.code is ResultCode.NG_DEFECT
    for name, ((cx, cy), _) in DEFECTS.items():
        hits = [f for f in result.reported if f.box[0] <= cx <= f.box[2] and f.box[1] <= cy <= f.box[3]]
        assert hits, f"{name} at {(cx, cy)} not reported: {[f.box for f in result.reported]}"
        assert all(f.defect_class in set(DefectClass) - {DefectClass.UNKNOWN} for f in hits)


def test_shifted_part_is_aligned_before_detection(detector):
    golden = board()
    prepared = prepare(bench_recipe(golden, roi_margin=12))
    part = golden.copy()
    DEFECTS["copper"][1](part)
    m = np.float32([[1, 0, 5], [0, 1, -3]])
    moved = cv2.warpAffine(part, m, (320, 320), borderMode=cv2.BORDER_REPLICATE)
    result = inspect(prepared, moved, detector=detector)
    assert result.code is ResultCode.NG_DEFECT
    cx, cy = DEFECTS["copper"][0]
    assert any(f.box[0] <= cx <= f.box[2] and f.box[1] <= cy <= f.box[3] for f in result.reported)


def test_generic_recipe_is_refused_and_the_part_rejected(detector):
    golden = board()
    prepared = prepare(Recipe("generic", golden))  # classes="generic"
    result = inspect(prepared, golden.copy(), detector=detector)
    assert result.verdict is Verdict.REJECT and result.code is ResultCode.NG_RUNTIME
    assert "detector_mismatch" in result.message


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(DetectorError, match="model file not found"):
        detectors.create("pcb-cnn", model=tmp_path / "missing.onnx")
    with pytest.raises(DetectorError, match="precision"):
        PcbCnnDetector(precision="int4")
