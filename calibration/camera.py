"""A calibrated camera: intrinsics, lens distortion, how well they fit, and the file that holds them.

The JSON file (``inspection calibrate intrinsics --out camera.json``) is versioned: a reader refuses
a schema version it does not know, a malformed matrix or a non-finite number with a
:class:`CalibrationError` naming the problem.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inspection.errors import CalibrationError

CAMERA_SCHEMA = "inspection-camera"
CAMERA_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ViewReport:
    """One calibration image: used or not, and why. ``error_px`` is its RMS reprojection error."""

    name: str
    used: bool
    corners: int = 0
    error_px: float | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "used": self.used,
            "corners": self.corners,
            "error_px": self.error_px,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class CameraCalibration:
    """``matrix`` is the 3x3 camera matrix (pixels), ``dist`` OpenCV's distortion coefficients
    (k1, k2, p1, p2, k3), ``image_size`` (w, h) the size it is valid for, ``rms_px`` the RMS
    reprojection error over all used corners, ``std`` the standard deviations of (fx, fy, cx, cy)."""

    matrix: np.ndarray
    dist: np.ndarray
    image_size: tuple[int, int]
    rms_px: float
    views: tuple[ViewReport, ...] = ()
    board: dict[str, Any] = field(default_factory=dict)
    std: tuple[float, float, float, float] | None = None
    coverage: float | None = None  # fraction of the image area the used corners span

    def __post_init__(self) -> None:
        k = np.asarray(self.matrix, np.float64)
        d = np.asarray(self.dist, np.float64).ravel()
        if k.shape != (3, 3) or not np.isfinite(k).all() or k[0, 0] <= 0 or k[1, 1] <= 0:
            raise CalibrationError(
                f"camera matrix must be 3x3, finite, with positive focal lengths; got {k.tolist()}"
            )
        if d.size not in (4, 5, 8, 12, 14) or not np.isfinite(d).all():
            raise CalibrationError(f"distortion must be 4, 5, 8, 12 or 14 finite numbers, got {d.tolist()}")
        w, h = self.image_size
        if w <= 0 or h <= 0:
            raise CalibrationError(f"image size must be positive, got {self.image_size}")
        object.__setattr__(self, "matrix", k)
        object.__setattr__(self, "dist", d)
        object.__setattr__(self, "image_size", (int(w), int(h)))

    @property
    def fx(self) -> float:
        return float(self.matrix[0, 0])

    @property
    def fy(self) -> float:
        return float(self.matrix[1, 1])

    @property
    def cx(self) -> float:
        return float(self.matrix[0, 2])

    @property
    def cy(self) -> float:
        return float(self.matrix[1, 2])

    @property
    def used_views(self) -> tuple[ViewReport, ...]:
        return tuple(v for v in self.views if v.used)

    @property
    def rejected_views(self) -> tuple[ViewReport, ...]:
        return tuple(v for v in self.views if not v.used)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": CAMERA_SCHEMA,
            "schema_version": CAMERA_SCHEMA_VERSION,
            "image_size": list(self.image_size),
            "camera_matrix": self.matrix.tolist(),
            "distortion": self.dist.tolist(),
            "rms_px": self.rms_px,
            "std_fx_fy_cx_cy": None if self.std is None else list(self.std),
            "coverage": self.coverage,
            "board": self.board,
            "views": [v.to_dict() for v in self.views],
        }

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<dict>") -> CameraCalibration:
        if not isinstance(data, dict) or data.get("schema") != CAMERA_SCHEMA:
            raise CalibrationError(
                f"{source}: not a camera calibration file (schema {CAMERA_SCHEMA!r})",
                key="calibration_schema",
            )
        version = data.get("schema_version")
        if version != CAMERA_SCHEMA_VERSION:
            raise CalibrationError(
                f"{source}: unknown camera schema version {version!r} (this software "
                f"reads version {CAMERA_SCHEMA_VERSION})",
                key="calibration_schema",
            )
        try:
            views = tuple(
                ViewReport(
                    str(v["name"]),
                    bool(v["used"]),
                    int(v.get("corners", 0)),
                    None if v.get("error_px") is None else float(v["error_px"]),
                    str(v.get("reason", "")),
                )
                for v in data.get("views", [])
            )
            std = data.get("std_fx_fy_cx_cy")
            rms = float(data["rms_px"])
            if not math.isfinite(rms) or rms < 0:
                raise ValueError(f"rms_px must be a non-negative number, got {rms}")
            return cls(
                np.asarray(data["camera_matrix"], np.float64),
                np.asarray(data["distortion"], np.float64),
                (int(data["image_size"][0]), int(data["image_size"][1])),
                rms,
                views,
                dict(data.get("board") or {}),
                None if std is None else (float(std[0]), float(std[1]), float(std[2]), float(std[3])),
                None if data.get("coverage") is None else float(data["coverage"]),
            )
        except CalibrationError as exc:
            raise CalibrationError(f"{source}: {exc}") from exc
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise CalibrationError(f"{source}: malformed camera calibration: {exc}") from exc

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> CameraCalibration:
        p = Path(path)
        try:
            data = json.loads(p.read_text())
        except OSError as exc:
            raise CalibrationError(f"{p}: cannot read camera calibration: {exc.strerror}") from exc
        except json.JSONDecodeError as exc:
            raise CalibrationError(f"{p}: not valid JSON: {exc}") from exc
        return cls.from_dict(data, source=str(p))

    def summary(self) -> str:
        lines = [
            f"image size      {self.image_size[0]} x {self.image_size[1]} px",
            f"focal length    fx {self.fx:.2f}  fy {self.fy:.2f} px",
            f"principal point cx {self.cx:.2f}  cy {self.cy:.2f} px",
            f"distortion      {' '.join(f'{v:+.5f}' for v in self.dist)}",
            f"RMS error       {self.rms_px:.3f} px over {len(self.used_views)} views",
        ]
        if self.std is not None:
            lines.append("std deviation   fx {:.2f}  fy {:.2f}  cx {:.2f}  cy {:.2f} px".format(*self.std))
        if self.coverage is not None:
            lines.append(f"image coverage  {self.coverage:.0%} of the image spanned by the board corners")
        return "\n".join(lines)
