"""Millimetres per pixel on the inspection plane.

From a target of known size lying where the parts lie (a disc or a hole of known diameter, a gauge
block of known width x height), measured to sub-pixel accuracy by integrating the grey levels across
its edge (an anti-aliased edge pixel counts for the fraction of it the target covers), or from a
calibration board lying on the inspection plane (the homography from board millimetres to pixels
gives the scale at the image centre, and how much it varies across the view: a camera not square to
the plane shows here). Undistort first (pass the camera) when the lens distorts.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from calibration.board import Board
from calibration.undistort import Undistorter
from inspection.errors import CalibrationError, ConfigError

SCALE_SCHEMA = "inspection-scale"
SCALE_SCHEMA_VERSION = 1
_TARGET = re.compile(r"^(circle|rect):(\d+(?:\.\d+)?)(?:x(\d+(?:\.\d+)?))?$")


@dataclass(frozen=True)
class ScaleCalibration:
    """``mm_per_px`` at the inspection plane; ``anisotropy`` the ratio of the scales along the two
    image axes minus 1 (0 for square pixels seen square on); ``variation`` the relative change of
    the scale across the measured field (perspective; board method only)."""

    mm_per_px: float
    method: str
    detail: dict[str, Any] = field(default_factory=dict)
    anisotropy: float = 0.0
    variation: float = 0.0
    undistorted: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mm_per_px) and self.mm_per_px > 0):
            raise CalibrationError(f"mm per pixel must be a positive number, got {self.mm_per_px}")

    def warnings(self) -> list[str]:
        out = []
        if abs(self.anisotropy) > 0.01:
            out.append(
                f"the scale differs by {self.anisotropy:+.1%} between the x and y axes: camera not "
                "square to the plane, or a wrong target size"
            )
        if self.variation > 0.01:
            out.append(
                f"the scale varies by {self.variation:.1%} across the view: the camera looks at the plane "
                "at an angle; mm figures are exact only near the centre"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCALE_SCHEMA,
            "schema_version": SCALE_SCHEMA_VERSION,
            "mm_per_px": self.mm_per_px,
            "method": self.method,
            "anisotropy": self.anisotropy,
            "variation": self.variation,
            "undistorted": self.undistorted,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<dict>") -> ScaleCalibration:
        if not isinstance(data, dict) or data.get("schema") != SCALE_SCHEMA:
            raise CalibrationError(f"{source}: not a scale calibration file", key="calibration_schema")
        if data.get("schema_version") != SCALE_SCHEMA_VERSION:
            raise CalibrationError(
                f"{source}: unknown scale schema version {data.get('schema_version')!r}",
                key="calibration_schema",
            )
        try:
            return cls(
                float(data["mm_per_px"]),
                str(data["method"]),
                dict(data.get("detail") or {}),
                float(data.get("anisotropy", 0.0)),
                float(data.get("variation", 0.0)),
                bool(data.get("undistorted", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(f"{source}: malformed scale calibration: {exc}") from exc

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> ScaleCalibration:
        p = Path(path)
        try:
            return cls.from_dict(json.loads(p.read_text()), source=str(p))
        except OSError as exc:
            raise CalibrationError(f"{p}: cannot read scale calibration: {exc.strerror}") from exc
        except json.JSONDecodeError as exc:
            raise CalibrationError(f"{p}: not valid JSON: {exc}") from exc


@dataclass(frozen=True)
class Target:
    """``circle:D`` (diameter D mm) or ``rect:WxH`` (mm)."""

    kind: str
    width_mm: float
    height_mm: float

    @classmethod
    def parse(cls, spec: str) -> Target:
        m = _TARGET.match(spec.strip().lower())
        if not m or (m.group(1) == "circle" and m.group(3)) or (m.group(1) == "rect" and not m.group(3)):
            raise ConfigError(
                f"expected circle:DIAMETER or rect:WIDTHxHEIGHT (mm), got {spec!r}", field="target"
            )
        w = float(m.group(2))
        h = float(m.group(3)) if m.group(3) else w
        if w <= 0 or h <= 0:
            raise ConfigError(f"target size must be positive, got {spec!r}", field="target")
        return cls(m.group(1), w, h)

    @property
    def area_mm2(self) -> float:
        if self.kind == "circle":
            return math.pi * self.width_mm**2 / 4.0
        return self.width_mm * self.height_mm


def _target_region(grey: np.ndarray) -> tuple[np.ndarray, bool]:
    """The target's contour (the largest blob of the minority phase not touching the border) and
    whether the target is the bright phase."""
    blur = cv2.GaussianBlur(grey, (5, 5), 1.0)
    _, binary = cv2.threshold(blur, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    h, w = grey.shape
    best: tuple[float, np.ndarray, bool] | None = None
    for bright in (True, False):
        mask = binary if bright else cv2.bitwise_not(binary)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        for c in contours:
            x, y, cw, ch = cv2.boundingRect(c)
            if x <= 1 or y <= 1 or x + cw >= w - 1 or y + ch >= h - 1:
                continue
            area = cv2.contourArea(c)
            if area >= 50 and (best is None or area > best[0]):
                best = (area, c, bright)
    if best is None:
        raise CalibrationError(
            "no target found: it must lie fully inside the image, darker or brighter than its surroundings",
            key="target_not_found",
        )
    return best[1], best[2]


def scale_from_target(
    image: np.ndarray, target: Target, *, undistorter: Undistorter | None = None
) -> ScaleCalibration:
    """mm per pixel from one image of a target of known size (sub-pixel area measurement)."""
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if undistorter is not None:
        grey = undistorter(grey)
    contour, bright = _target_region(grey)
    x, y, cw, ch = cv2.boundingRect(contour)
    pad = 6
    h, w = grey.shape
    x1, y1, x2, y2 = max(0, x - pad), max(0, y - pad), min(w, x + cw + pad), min(h, y + ch + pad)
    roi = grey[y1:y2, x1:x2].astype(np.float64)
    inside = np.zeros(roi.shape, np.uint8)
    cv2.drawContours(inside, [contour - np.array([x1, y1])], -1, 255, -1)
    core = cv2.erode(inside, np.ones((5, 5), np.uint8))
    ring = cv2.bitwise_not(cv2.dilate(inside, np.ones((7, 7), np.uint8)))
    if not core.any() or not ring.any():
        raise CalibrationError("target too small to measure (a few pixels across)", key="target_not_found")
    fg = float(np.median(roi[core > 0]))
    bg = float(np.median(roi[ring > 0]))
    if abs(fg - bg) < 10:
        raise CalibrationError(
            f"target contrast {abs(fg - bg):.0f} grey levels is too low", key="target_not_found"
        )
    # fractional coverage across the edge band only, unclipped (noise averages out there); inside
    # the target counts 1 and outside 0 exactly (clipping noise there would bias the area)
    cover = (roi - bg) / (fg - bg)
    cover[core > 0] = 1.0
    cover[ring > 0] = 0.0
    area_px = float(cover.sum())
    mm_per_px = math.sqrt(target.area_mm2 / area_px)
    (_, _), (a, b), _ = cv2.minAreaRect(contour) if target.kind == "rect" else cv2.fitEllipse(contour)
    if target.kind == "rect":
        # sides in pixels, matched to the target's sides by orientation-free size order
        px_long, px_short = max(a, b), min(a, b)
        mm_long, mm_short = max(target.width_mm, target.height_mm), min(target.width_mm, target.height_mm)
        aniso = (mm_long / px_long) / (mm_short / px_short) - 1.0
    else:
        aniso = max(a, b) / min(a, b) - 1.0
    detail = {
        "target": f"{target.kind}:{target.width_mm:g}"
        + (f"x{target.height_mm:g}" if target.kind == "rect" else ""),
        "area_px": round(area_px, 3),
        "bright_target": bright,
        "contrast": round(abs(fg - bg), 1),
        "box_px": [x, y, cw, ch],
    }
    return ScaleCalibration(mm_per_px, "target", detail, float(aniso), 0.0, undistorter is not None)


def scale_from_board(
    image: np.ndarray, board: Board, *, undistorter: Undistorter | None = None
) -> ScaleCalibration:
    """mm per pixel from a calibration board lying on the inspection plane."""
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    view = board.detect(grey)
    pts = view.image_points.astype(np.float64)
    if undistorter is not None:
        pts = undistorter.points(pts)
    obj = view.object_points[:, :2].astype(np.float64)
    hom, _ = cv2.findHomography(pts, obj, 0)  # pixels -> board mm
    if hom is None:
        raise CalibrationError("cannot fit the board's plane (degenerate corners)", key="calibration_failed")
    mapped = cv2.perspectiveTransform(pts.reshape(-1, 1, 2), hom).reshape(-1, 2)
    fit_mm = float(np.sqrt(np.mean(np.sum((mapped - obj) ** 2, 1))))
    w, h = grey.shape[1], grey.shape[0]

    def local(px: float, py: float) -> tuple[float, float, float]:
        """Scale (mm/px) along x and y and the isotropic scale sqrt|det J| of pixels -> mm at (px, py)."""
        e = 0.5
        q = cv2.perspectiveTransform(np.array([[[px, py]], [[px + e, py]], [[px, py + e]]], np.float64), hom)
        q = q.reshape(3, 2)
        jx, jy = (q[1] - q[0]) / e, (q[2] - q[0]) / e
        return float(np.hypot(*jx)), float(np.hypot(*jy)), math.sqrt(abs(jx[0] * jy[1] - jx[1] * jy[0]))

    sx, sy, s = local((w - 1) / 2.0, (h - 1) / 2.0)
    x1, y1 = pts.min(0)
    x2, y2 = pts.max(0)
    corners = [local(float(cx), float(cy))[2] for cx, cy in ((x1, y1), (x2, y1), (x2, y2), (x1, y2))]
    variation = (max(corners) - min(corners)) / s
    detail = {
        "board": board.to_dict(),
        "corners": view.count,
        "homography_fit_mm": round(fit_mm, 5),
        "scale_x": sx,
        "scale_y": sy,
    }
    return ScaleCalibration(s, "board", detail, sx / sy - 1.0, float(variation), undistorter is not None)
