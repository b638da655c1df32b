"""Defect overlays: findings mapped into the acquired image, as shapes (for the HMI) or drawn pixels
(for stored reject images and thumbnails).

Findings are in reference (part) coordinates; the stored and displayed image is the acquired one, so
every shape goes through the alignment matrix (reference -> image) when the part was aligned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from inspection.frame import check_image
from inspection.vision.geometry import transform_points

if TYPE_CHECKING:
    from inspection.result import InspectionResult

MAX_CONTOUR_POINTS = 256
REPORTED_BGR = (40, 40, 235)  # red: a finding that rejects the part
BELOW_BGR = (0, 190, 255)  # amber: a finding below the report threshold
OK_BGR = (60, 170, 40)


def overlay_shapes(result: InspectionResult) -> list[dict[str, object]]:
    """One polygon per finding in acquired-image pixels, with its class, score and whether it is
    reported. Boxes become 4-point polygons (rotated with the part); contours keep their outline
    (subsampled to at most ``MAX_CONTOUR_POINTS`` points)."""
    al = result.alignment
    matrix = al.matrix if (al is not None and al.ok) else None
    shapes: list[dict[str, object]] = []
    for f in result.findings:
        if f.contour is not None and len(f.contour) >= 3:
            pts = np.asarray(f.contour, dtype=np.float64).reshape(-1, 2)
            if len(pts) > MAX_CONTOUR_POINTS:
                pts = pts[np.linspace(0, len(pts) - 1, MAX_CONTOUR_POINTS).astype(int)]
            kind = "contour"
        else:
            x1, y1, x2, y2 = f.box
            pts = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], dtype=np.float64)
            kind = "box"
        if matrix is not None:
            pts = transform_points(matrix, pts)
        shapes.append({
            "kind": kind,
            "points": np.round(pts, 1).tolist(),
            "class": int(f.defect_class),
            "class_name": f.defect_class.label,
            "score": round(f.score, 3),
            "reported": f.reported,
        })
    return shapes


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """An 8-bit BGR copy of a grey or colour, 8- or 16-bit image (16-bit scaled by its maximum)."""
    img = check_image(image)
    if img.dtype == np.uint16:
        peak = max(1, int(img.max()))
        img = cv2.convertScaleAbs(img, alpha=255.0 / peak)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return img.copy()


def draw_overlay(image: np.ndarray, shapes: list[dict[str, object]], *, verdict: str | None = None,
                 labels: bool = True) -> np.ndarray:
    """A BGR uint8 copy of ``image`` with ``shapes`` (from :func:`overlay_shapes`) drawn: reported
    findings in red, findings below the threshold in amber, each labelled "class score". With
    ``verdict`` ("pass"/"reject") an OK/NG badge is drawn in the top-left corner."""
    out = to_bgr8(image)
    h, w = out.shape[:2]
    size = min(h, w)
    thick = max(1 if labels else 2, round(size / 250))
    font_scale = max(0.35, size / 900)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for shape in sorted(shapes, key=lambda s: bool(s["reported"])):  # reported drawn last, on top
        color = REPORTED_BGR if shape["reported"] else BELOW_BGR
        pts = np.round(np.asarray(shape["points"], dtype=np.float64)).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(out, [pts], True, color, thick if shape["reported"] else max(1, thick // 2),
                      cv2.LINE_AA)
        if shape["reported"]:  # a padded halo box: visible from a distance even for tiny defects
            pad = max(3, round(size * 0.02))
            x0, y0 = pts[:, 0, 0].min() - pad, pts[:, 0, 1].min() - pad
            x1, y1 = pts[:, 0, 0].max() + pad, pts[:, 0, 1].max() + pad
            cv2.rectangle(out, (int(x0), int(y0)), (int(x1), int(y1)), color, thick, cv2.LINE_AA)
        if not labels:
            continue
        text = f"{shape['class_name']} {float(shape['score']):.2f}"  # type: ignore[arg-type]
        (tw, th), base = cv2.getTextSize(text, font, font_scale, max(1, thick // 2))
        x = int(np.clip(pts[:, 0, 0].min(), 0, max(0, w - tw - 2)))
        y_top = int(pts[:, 0, 1].min())
        y = y_top - 3 if y_top - th - base - 3 >= 0 else int(min(h - 2, pts[:, 0, 1].max() + th + 3))
        cv2.rectangle(out, (x, y - th - base), (x + tw + 2, y + base // 2), color, -1)
        cv2.putText(out, text, (x + 1, y - base // 2), font, font_scale, (255, 255, 255),
                    max(1, thick // 2), cv2.LINE_AA)
    if verdict is not None:
        text = "OK" if verdict == "pass" else "NG"
        color = OK_BGR if verdict == "pass" else REPORTED_BGR
        scale = font_scale * 1.6
        (tw, th), base = cv2.getTextSize(text, font, scale, thick + 1)
        cv2.rectangle(out, (0, 0), (tw + 12, th + base + 12), color, -1)
        cv2.putText(out, text, (6, th + 6), font, scale, (255, 255, 255), thick + 1, cv2.LINE_AA)
    return out
