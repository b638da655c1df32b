"""PCB defect typing by topology, on hand-drawn known answers (dark copper on a bright board)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from inspection.findings import DefectClass
from inspection.pipeline import inspect
from inspection.recipe.definition import Recipe, prepare
from inspection.recipe.params import AlignParams, DetectParams

SIZE = 200


def _board() -> np.ndarray:
    img = np.full((SIZE, SIZE), 250, np.uint8)
    cv2.rectangle(img, (20, 40), (180, 54), 10, -1)  # trace A
    cv2.rectangle(img, (20, 80), (180, 94), 10, -1)  # trace B
    cv2.rectangle(img, (20, 130), (100, 170), 10, -1)  # a pad
    cv2.rectangle(img, (140, 120), (190, 190), 10, -1)  # a second pad
    return img


def _recipe(img: np.ndarray) -> Recipe:
    return Recipe("pcb", img, align=AlignParams(max_shift=0.02, max_rotation_deg=0.5),
                  detect=DetectParams(material="dark", classes="pcb", threshold=0.35, min_area_px=8))


def _edit(kind: str) -> np.ndarray:
    img = _board()
    if kind == "open":
        cv2.rectangle(img, (100, 38), (106, 56), 250, -1)  # trace A cut through
    elif kind == "short":
        cv2.rectangle(img, (60, 54), (66, 80), 10, -1)  # bridge A-B
    elif kind == "spur":
        cv2.rectangle(img, (120, 55), (125, 64), 10, -1)  # protrusion from A, not reaching B
    elif kind == "copper":
        cv2.circle(img, (120, 112), 4, 10, -1)  # island on the board
    elif kind == "pinhole":
        cv2.circle(img, (60, 150), 4, 250, -1)  # hole inside the pad
    elif kind == "mousebite":
        cv2.circle(img, (160, 120), 5, 250, -1)  # bite out of the second pad's edge
    return img


@pytest.mark.parametrize(("kind", "expected"), [
    ("open", DefectClass.OPEN), ("short", DefectClass.SHORT), ("spur", DefectClass.SPUR),
    ("copper", DefectClass.COPPER), ("pinhole", DefectClass.PINHOLE),
    ("mousebite", DefectClass.MOUSEBITE),
])
def test_pcb_types(kind: str, expected: DefectClass) -> None:
    prepared = prepare(_recipe(_board()))
    result = inspect(prepared, _edit(kind))
    classes = [f.defect_class for f in result.findings if f.area_px >= 8]
    assert expected in classes, f"{kind}: got {classes}"
    assert result.verdict.value == "reject"
