"""Camera intrinsics and lens distortion from views of a calibration board.

1. Each image: read it, check its size, find the board (views where it is not found, or is found
   with too few corners, are rejected with the reason).
2. Calibrate on all found views (OpenCV's ``calibrateCameraExtended``: per-view RMS errors and the
   standard deviations of the intrinsics).
3. Reject bad views one at a time: the worst view goes when its RMS reprojection error exceeds
   ``outlier_factor`` x the median of the used views and ``min_outlier_px`` (a moved, bent or
   blurred board, a mis-detected corner); then calibrate again. Never below ``min_views``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from calibration.board import Board, BoardView
from calibration.camera import CameraCalibration, ViewReport
from inspection.errors import CalibrationError, InspectionError
from inspection.progress import Progress

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CalibrationParams:
    min_views: int = 5
    outlier_factor: float = 3.0
    min_outlier_px: float = 0.5
    max_rms_px: float = 2.0  # above this after rejection the calibration is refused
    fix_aspect: bool = False
    zero_tangent: bool = False
    k3: bool = True


def _coverage(views: list[BoardView], size: tuple[int, int]) -> float:
    """Fraction of the image area inside the convex hulls of the used views' corners (union)."""
    w, h = size
    scale = 4
    mask = np.zeros((h // scale + 1, w // scale + 1), np.uint8)
    for v in views:
        hull = cv2.convexHull((v.image_points / scale).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 255)
    return float(np.count_nonzero(mask)) / mask.size


def find_views(
    images: Iterable[tuple[str, np.ndarray | InspectionError]],
    board: Board,
    *,
    image_size: tuple[int, int] | None = None,
    total: int = 0,
    progress: bool = False,
) -> tuple[list[tuple[str, BoardView]], list[ViewReport], tuple[int, int]]:
    """Detect the board in each (name, image) pair; an image that could not be read arrives as its
    error. Returns the found views, the rejected ones (with reasons) and the image size (the first
    readable image's, unless given)."""
    found: list[tuple[str, BoardView]] = []
    rejected: list[ViewReport] = []
    bar = Progress(total, "finding the board", enabled=progress)
    size = image_size
    for name, image in images:
        if isinstance(image, InspectionError):
            rejected.append(ViewReport(name, False, reason=f"unreadable: {image}"))
        else:
            this = (int(image.shape[1]), int(image.shape[0]))
            if size is None:
                size = this
            if this != size:
                rejected.append(
                    ViewReport(
                        name,
                        False,
                        reason=f"image is {this[0]}x{this[1]} px, the others {size[0]}x{size[1]} px",
                    )
                )
            else:
                try:
                    found.append((name, board.detect(image)))
                except CalibrationError as exc:
                    rejected.append(ViewReport(name, False, reason=str(exc)))
        bar.update(note=name)
    if size is None:
        raise CalibrationError("no readable calibration image")
    return found, rejected, size


def _flags(params: CalibrationParams) -> int:
    flags = 0
    if params.fix_aspect:
        flags |= cv2.CALIB_FIX_ASPECT_RATIO
    if params.zero_tangent:
        flags |= cv2.CALIB_ZERO_TANGENT_DIST
    if not params.k3:
        flags |= cv2.CALIB_FIX_K3
    return flags


def calibrate(
    views: list[tuple[str, BoardView]],
    image_size: tuple[int, int],
    *,
    params: CalibrationParams | None = None,
    rejected: list[ViewReport] | None = None,
    board: Board | None = None,
) -> CameraCalibration:
    """Calibrate from found views, rejecting bad ones; raises CalibrationError when too few remain
    or the fit stays poor."""
    params = params or CalibrationParams()
    reports = list(rejected or [])
    used = list(views)
    if len(used) < params.min_views:
        raise CalibrationError(
            f"only {len(used)} usable view(s) of the board (need at least {params.min_views}); "
            + "; ".join(f"{r.name}: {r.reason}" for r in reports[:10]),
            key="too_few_views",
        )
    while True:
        obj = [v.object_points.astype(np.float32) for _, v in used]
        img = [v.image_points.astype(np.float32).reshape(-1, 1, 2) for _, v in used]
        try:
            rms, k, d, _, _, std_in, _, per_view = cv2.calibrateCameraExtended(
                obj,
                img,
                image_size,
                np.eye(3),
                np.zeros(5),
                flags=_flags(params),
                criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12),
            )
        except cv2.error as exc:
            raise CalibrationError(f"OpenCV could not calibrate: {exc}", key="calibration_failed") from exc
        errors = np.asarray(per_view, np.float64).ravel()
        worst = int(np.argmax(errors))
        median = float(np.median(errors))
        limit = max(params.outlier_factor * median, params.min_outlier_px)
        if errors[worst] <= limit or len(used) <= params.min_views:
            break
        name, view = used.pop(worst)
        reason = (
            f"reprojection error {errors[worst]:.2f} px > {limit:.2f} px ({params.outlier_factor:g} x the "
            f"median {median:.3f} px): board moved, bent or blurred, or a corner mis-detected"
        )
        logger.info("rejecting view %s: %s", name, reason)
        reports.append(ViewReport(name, False, view.count, float(errors[worst]), reason))
    if not np.isfinite(rms) or rms > params.max_rms_px:
        raise CalibrationError(
            f"RMS reprojection error {rms:.2f} px is above {params.max_rms_px} px even after "
            "rejecting bad views: check the board size and square size",
            key="calibration_poor",
        )
    for (name, view), err in zip(used, errors, strict=True):
        reports.append(ViewReport(name, True, view.count, float(err)))
    reports.sort(key=lambda r: r.name)
    std = np.asarray(std_in, np.float64).ravel()
    return CameraCalibration(
        k,
        d.ravel(),
        image_size,
        float(rms),
        tuple(reports),
        board.to_dict() if board else {},
        (float(std[0]), float(std[1]), float(std[2]), float(std[3])) if std.size >= 4 else None,
        _coverage([v for _, v in used], image_size),
    )
