"""Pictures of results: the part image with its findings drawn on it."""

from __future__ import annotations

import cv2
import numpy as np

from inspection.geometry import transform_box, transform_points
from inspection.imageio import to_grey8
from inspection.result import InspectionResult, Verdict

_RED = (40, 40, 230)
_AMBER = (0, 170, 255)
_GREEN = (60, 180, 60)


def draw_result(image: np.ndarray, result: InspectionResult, *, show_unreported: bool = False) -> np.ndarray:
    """BGR picture of the acquired image with findings (image coordinates) and the verdict."""
    grey = to_grey8(image)
    out = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    al = result.alignment
    matrix = al.matrix if al is not None and al.ok else None
    scale = max(1.0, min(out.shape[:2]) / 400.0)
    for f in sorted(result.findings, key=lambda f: f.score):
        if not f.reported and not show_unreported:
            continue
        colour = _RED if f.reported else _AMBER
        box = f.box if matrix is None else transform_box(matrix, f.box)
        x1, y1, x2, y2 = (round(v) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, max(1, round(scale)))
        if f.contour is not None and matrix is not None:
            pts = transform_points(matrix, f.contour).round().astype(np.int32)
            cv2.polylines(out, [pts], True, colour, 1)
        label = f"{f.defect_class.label} {f.score:.2f}"
        cv2.putText(out, label, (x1, max(10, y1 - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.35 * scale, colour,
                    max(1, round(scale / 2)), cv2.LINE_AA)
    ok = result.verdict is Verdict.PASS
    text = "OK" if ok else f"NG {result.code.name.removeprefix('NG_').lower()}"
    cv2.putText(out, text, (6, int(22 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.7 * scale,
                _GREEN if ok else _RED, max(1, round(scale)), cv2.LINE_AA)
    return out
