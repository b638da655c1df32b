"""The shipped change-cnn model in the station path on small synthetic boards (no shared data)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from inspection.errors import DetectorError
from inspection.findings import DefectClass
from inspection.pipeline import inspect
from inspection.recipe.definition import Recipe, prepare
from inspection.recipe.params import AlignParams, DetectParams
from inspection.result import ResultCode, Verdict
from inspection.vision import board_synth as bs
from inspection.vision.detector import detectors
from inspection.vision.geometry import rigid_matrix
from plugins.detectors.change_cnn import ChangeCnnDetector, _windows, default_model


@pytest.fixture(scope="module")
def det() -> ChangeCnnDetector:
    return ChangeCnnDetector(threads=1)


def _board(seed: int, kind: int, style: str = "grey") -> tuple[np.ndarray, np.ndarray, np.ndarray, bs.Planted]:
    rng = np.random.default_rng(seed)
    for _ in range(200):
        board = bs.random_board(rng, (256, 256))
        res = bs.plant_defect(rng, board, kind, margin=40)
        # hairline opens of a few px are a known gap (docs/detector.md)
        if res is not None and res[1].mask.sum() >= (40 if kind == bs.OPEN else 4):
            break
    assert res is not None
    st = bs.random_style(rng, style)
    golden = bs.render(board, st, rng, texture_seed=seed)
    part = bs.render(res[0], st, rng, texture_seed=seed, gain=1.05, offset=5)
    good = bs.render(board, st, rng, texture_seed=seed, gain=0.95, offset=-5)
    m = rigid_matrix(2.5, -1.5, 0.4, center=(127.5, 127.5))
    move = lambda im: cv2.warpAffine(im, m, (256, 256), borderMode=cv2.BORDER_REFLECT)  # noqa: E731
    return golden, move(part), move(good), res[1]


def _recipe(golden: np.ndarray, classes: str = "generic") -> Recipe:
    return Recipe("b", golden, align=AlignParams(), detect=DetectParams(classes=classes),
                  roi=(16, 16, 224, 224))


def test_registered_and_all_precisions_load() -> None:
    for precision in ("fp32", "fp16", "int8"):
        assert default_model(precision).is_file()
    d = detectors.create("change-cnn", threads=1)
    assert d.name == "change-cnn"
    with pytest.raises(DetectorError):
        default_model("fp8")


@pytest.mark.parametrize("kind", [bs.COPPER, bs.SHORT, bs.SPUR])  # small pin-holes: see docs
def test_finds_a_planted_defect_and_passes_the_good_part(det: ChangeCnnDetector, kind: int) -> None:
    golden, part, good, planted = _board(11 + kind, kind)
    prepared = prepare(_recipe(golden))
    res = inspect(prepared, part, detector=det)
    assert res.verdict is Verdict.REJECT and res.code is ResultCode.NG_DEFECT
    x1, y1, x2, y2 = planted.box
    hits = [f for f in res.findings if f.reported and f.box[0] - 5 < x2 and x1 < f.box[2] + 5
            and f.box[1] - 5 < y2 and y1 < f.box[3] + 5]
    assert hits
    assert hits[0].defect_class in (DefectClass.MISSING, DefectClass.EXTRA, DefectClass.CRACK,
                                    DefectClass.DEFORMATION)
    assert inspect(prepared, good, detector=det).verdict is Verdict.PASS


def test_an_open_gives_a_finding_at_the_break(det: ChangeCnnDetector) -> None:
    # opens in these grey boards are found but often scored below the report threshold (the
    # region's mean change probability is the confidence): a known weakness, see docs/detector.md
    golden, part, _, planted = _board(12, bs.OPEN)
    res = inspect(prepare(_recipe(golden)), part, detector=det)
    x1, y1, x2, y2 = planted.box
    assert any(f.box[0] - 5 < x2 and x1 < f.box[2] + 5 and f.box[1] - 5 < y2 and y1 < f.box[3] + 5
               for f in res.findings)


def test_pcb_classes_and_ignore_mask(det: ChangeCnnDetector) -> None:
    golden, part, _, planted = _board(3, bs.COPPER)
    res = inspect(prepare(_recipe(golden, "pcb")), part, detector=det)
    assert any(1 <= int(f.defect_class) <= 6 for f in res.findings if f.reported)
    ignore = np.zeros(golden.shape[:2], np.uint8)
    x1, y1, x2, y2 = planted.box
    ignore[max(0, y1 - 12):y2 + 12, max(0, x1 - 12):x2 + 12] = 255
    masked = Recipe("b", golden, align=AlignParams(), detect=DetectParams(), roi=(16, 16, 224, 224),
                    ignore=ignore)
    assert not [f for f in inspect(prepare(masked), part, detector=det).findings if f.reported]


def test_colour_photo_like_board(det: ChangeCnnDetector) -> None:
    # colour parts are inspected as grey (the pipeline converts); the good part passes. Detection on
    # photo-like boards is weak with the shipped model (bench photo-boards in docs/benchmarks.md)
    golden, part, good, _ = _board(5, bs.COPPER, "photo")
    prepared = prepare(_recipe(golden))
    res = inspect(prepared, part, detector=det)
    assert res.alignment is not None and res.alignment.ok and res.code is not ResultCode.NG_RUNTIME
    assert inspect(prepared, good, detector=det).verdict is Verdict.PASS


def test_windows_cover_gated_cells_with_even_sizes() -> None:
    cells = np.zeros((5, 6), np.uint8)
    cells[0, 0] = cells[4, 5] = cells[2, 2] = cells[2, 3] = 1
    cells[3, 0] = cells[4, 0] = cells[4, 1] = cells[4, 2] = 1  # sparse L: one window per cell
    wins = _windows(cells, 150, 190)
    assert all((x2 - x1) % 2 == 0 and (y2 - y1) % 2 == 0 for x1, y1, x2, y2 in wins)
    assert all(0 <= x1 < x2 <= 190 and 0 <= y1 < y2 <= 150 for x1, y1, x2, y2 in wins)
    for _cy, cx in zip(*np.nonzero(cells), strict=True):
        assert any(x1 <= cx * 32 and (cx + 1) * 32 <= x2 + 8 for x1, _, x2, _ in wins)


def test_model_failure_rejects_the_part(det: ChangeCnnDetector, monkeypatch: pytest.MonkeyPatch) -> None:
    golden, part, _, _ = _board(7, bs.COPPER)

    def broken(feeds: object) -> list[np.ndarray]:
        return [np.full((1, 7, 4, 4), np.nan, np.float32)]

    monkeypatch.setattr(det, "model", type("M", (), {"run": staticmethod(broken)})())
    res = inspect(prepare(_recipe(golden)), part, detector=det)
    assert res.verdict is Verdict.REJECT and res.code is ResultCode.NG_RUNTIME
