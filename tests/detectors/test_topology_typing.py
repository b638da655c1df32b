"""Topology check of pcb-cnn types where the network hesitates (open/mouse-bite, short/spur), on
small synthetic boards: a track cut through vs nicked, two tracks joined vs a spur."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from inspection.bench.deeppcb_data import bench_recipe
from inspection.errors import DetectorError
from inspection.findings import DefectClass
from inspection.pipeline import inspect
from inspection.recipe.definition import prepare
from inspection.vision.change import detect_changes
from inspection.vision.topology_typing import PARTNER, RULE_ODDS, hesitant, refine
from plugins.detectors.pcb_cnn import PcbCnnDetector, PcbCnnFastDetector

CLASSES = [DefectClass.UNKNOWN, DefectClass.OPEN, DefectClass.SHORT, DefectClass.MOUSEBITE,
           DefectClass.SPUR, DefectClass.COPPER, DefectClass.PINHOLE]
COL = {c: k for k, c in enumerate(CLASSES)}


def board() -> np.ndarray:
    """White substrate, two dark horizontal tracks (12 px wide, 16 px apart)."""
    img = np.full((160, 200), 255, np.uint8)
    cv2.rectangle(img, (10, 50), (190, 61), 0, -1)  # track A
    cv2.rectangle(img, (10, 78), (190, 89), 0, -1)  # track B
    return img


EDITS = {
    # name: (rectangle x1, y1, x2, y2 drawn, its grey level, the topology answer)
    "cut": ((96, 48, 103, 63), 255, DefectClass.OPEN),  # track A cut through
    "nick": ((96, 48, 103, 54), 255, DefectClass.MOUSEBITE),  # a bite out of track A's top edge
    "join": ((96, 62, 103, 77), 0, DefectClass.SHORT),  # tracks A and B joined
    "spur": ((96, 62, 103, 69), 0, DefectClass.SPUR),  # a protrusion from A, not reaching B
}


def probs_for(first: DefectClass, second: DefectClass, p_first: float, p_second: float) -> np.ndarray:
    p = np.full((1, len(CLASSES)), (1.0 - p_first - p_second) / (len(CLASSES) - 2), np.float32)
    p[0, COL[first]], p[0, COL[second]] = p_first, p_second
    return p


@pytest.fixture(scope="module")
def detector() -> PcbCnnFastDetector:
    return PcbCnnFastDetector(threads=1, device="cpu")


def _case(name: str):
    """The prepared golden, the edited part, its valid mask and the one change region of the edit."""
    golden = board()
    prepared = prepare(bench_recipe(golden))
    part = golden.copy()
    (x1, y1, x2, y2), grey, _ = EDITS[name]
    cv2.rectangle(part, (x1, y1), (x2, y2), grey, -1)
    valid = np.full(part.shape, 255, np.uint8)
    regions = detect_changes(prepared.change_model, part, valid).regions
    hits = [r for r in regions if r.box[0] < x2 and r.box[2] > x1 and r.box[1] < y2 and r.box[3] > y1]
    assert len(hits) == 1, f"{name}: regions {[r.box for r in regions]}"
    return prepared, part, valid, tuple(hits)


@pytest.mark.parametrize("name", list(EDITS))
def test_hesitant_network_follows_the_topology(detector, name):
    prepared, part, valid, regions = _case(name)
    truth = EDITS[name][2]
    wrong = PARTNER[truth]
    # the network leans to the wrong look-alike, but not by more than the rule's odds
    probs = probs_for(wrong, truth, 0.55, 0.40)
    types = detector._topology_types(prepared, regions, part, valid, probs, [COL[wrong]])
    assert CLASSES[types[0]] is truth
    # the same part, the network's type already right: kept
    probs = probs_for(truth, wrong, 0.55, 0.40)
    types = detector._topology_types(prepared, regions, part, valid, probs, [COL[truth]])
    assert CLASSES[types[0]] is truth


@pytest.mark.parametrize("name", list(EDITS))
def test_confident_network_is_not_overruled(detector, name):
    prepared, part, valid, regions = _case(name)
    truth = EDITS[name][2]
    wrong = PARTNER[truth]
    p_truth = 0.9 / (RULE_ODDS[truth] * 1.5)  # p(wrong) > RULE_ODDS[truth] * p(truth)
    probs = probs_for(wrong, truth, 0.9, p_truth)
    types = detector._topology_types(prepared, regions, part, valid, probs, [COL[wrong]])
    assert CLASSES[types[0]] is wrong


def test_rule_is_asked_only_for_look_alike_pairs():
    asked: list[int] = []

    def rule(i: int) -> DefectClass:
        asked.append(i)
        return DefectClass.OPEN

    probs = np.concatenate([
        probs_for(DefectClass.COPPER, DefectClass.SPUR, 0.5, 0.45),  # copper: no look-alike partner
        probs_for(DefectClass.MOUSEBITE, DefectClass.PINHOLE, 0.6, 0.39),  # partner (open) far below
        probs_for(DefectClass.MOUSEBITE, DefectClass.OPEN, 0.6, 0.39),  # hesitant
    ])
    types = [COL[DefectClass.COPPER], COL[DefectClass.MOUSEBITE], COL[DefectClass.MOUSEBITE]]
    assert hesitant(probs, CLASSES, types) == [2]
    out = refine(probs, CLASSES, types, rule)
    assert asked == [2]
    assert [CLASSES[k] for k in out] == [DefectClass.COPPER, DefectClass.MOUSEBITE, DefectClass.OPEN]


def test_typing_defaults_and_bad_value():
    fast, full = PcbCnnFastDetector(threads=1, device="cpu"), PcbCnnDetector(threads=1, device="cpu")
    assert (fast.typing, fast.tta) == ("topology", False)
    assert (full.typing, full.tta) == ("cnn", False)
    assert PcbCnnFastDetector(threads=1, device="cpu", typing="cnn").typing == "cnn"
    with pytest.raises(DetectorError, match="typing"):
        PcbCnnFastDetector(threads=1, device="cpu", typing="votes")


def test_tta_changes_types_only():
    """Test-time augmentation of the type head: the same findings, boxes and scores as without it
    (they come from the window as it is, view 0 of the batch); only the types may differ."""
    golden = board()
    prepared = prepare(bench_recipe(golden))
    part = golden.copy()
    for (x1, y1, x2, y2), grey, _ in EDITS.values():
        cv2.rectangle(part, (x1 + 60 * (grey == 0), y1), (x2 + 60 * (grey == 0), y2), grey, -1)
    plain = inspect(prepared, part, detector=PcbCnnFastDetector(threads=1, device="cpu", tta=False))
    tta = inspect(prepared, part, detector=PcbCnnFastDetector(threads=1, device="cpu", tta=True))
    assert len(plain.findings) == len(tta.findings) >= 2
    for a, b in zip(plain.findings, tta.findings, strict=True):
        assert a.box == pytest.approx(b.box, abs=1e-4)
        assert a.score == pytest.approx(b.score, abs=1e-5)
