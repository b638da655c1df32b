"""Lens undistortion for the station: maps computed once, applied to every frame.

:class:`Undistorter` is a small callable the station holds (``image -> image``). The output keeps
the image size and, by default, the camera matrix: the centre of the image keeps its scale, so a
mm-per-pixel figure measured on undistorted images holds everywhere in them.
"""

from __future__ import annotations

import cv2
import numpy as np

from calibration.camera import CameraCalibration
from inspection.errors import ImageError


class Undistorter:
    """``alpha`` None keeps the camera matrix; 0..1 uses OpenCV's optimal new camera matrix
    (0: only valid pixels, 1: every source pixel kept)."""

    def __init__(self, calibration: CameraCalibration, *, alpha: float | None = None) -> None:
        self.calibration = calibration
        size = calibration.image_size
        if alpha is None:
            self.new_matrix = calibration.matrix.copy()
        else:
            self.new_matrix, _ = cv2.getOptimalNewCameraMatrix(
                calibration.matrix, calibration.dist, size, alpha, size
            )
        self._map1, self._map2 = cv2.initUndistortRectifyMap(
            calibration.matrix, calibration.dist, None, self.new_matrix, size, cv2.CV_16SC2
        )
        # which output pixels have a source inside the image
        ones = np.full((size[1], size[0]), 255, np.uint8)
        self.valid = cv2.remap(
            ones, self._map1, self._map2, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )

    @property
    def image_size(self) -> tuple[int, int]:
        return self.calibration.image_size

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """The undistorted image (same size and dtype). Raises :class:`ImageError` when the image
        is not the size the camera was calibrated for."""
        w, h = self.image_size
        if image.ndim < 2 or image.shape[0] != h or image.shape[1] != w:
            raise ImageError(
                f"image is {image.shape[1] if image.ndim >= 2 else '?'}x{image.shape[0]} px, the "
                f"camera was calibrated at {w}x{h} px",
                key="wrong_image_size",
            )
        return cv2.remap(image, self._map1, self._map2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def points(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) pixel coordinates in the raw image -> the same points in the undistorted image."""
        pts = np.asarray(points, np.float64).reshape(-1, 1, 2)
        criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-10)
        out = cv2.undistortPoints(
            pts, self.calibration.matrix, self.calibration.dist, P=self.new_matrix, criteria=criteria
        )
        return np.asarray(out).reshape(-1, 2)
