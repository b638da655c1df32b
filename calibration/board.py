"""Calibration boards: what they look like in millimetres, and finding them in an image.

Two kinds:

- ``checkerboard:COLSxROWS``: a plain chessboard; COLS x ROWS are its *inner* corners (OpenCV's
  pattern size), so a board of 10 x 7 squares is ``checkerboard:9x6``. The whole board must be seen.
- ``charuco:COLSxROWS``: a ChArUco board of COLS x ROWS *squares* with ArUco markers in the white
  squares; partial views work (each corner is identified by the markers around it).

Board coordinates are millimetres on the board plane (z = 0), origin at the first inner corner for a
checkerboard and at the board's outer corner for ChArUco (OpenCV's conventions).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, cast

import cv2
import numpy as np

from inspection.errors import CalibrationError, ConfigError

KINDS = ("checkerboard", "charuco")
_SPEC = re.compile(r"^(checkerboard|charuco):(\d+)x(\d+)$")
MIN_CHARUCO_CORNERS = 6


@dataclass(frozen=True)
class BoardView:
    """The board as found in one image: matching image points (N, 2) and board points (N, 3), mm."""

    image_points: np.ndarray
    object_points: np.ndarray

    @property
    def count(self) -> int:
        return len(self.image_points)


@dataclass(frozen=True)
class Board:
    """A calibration board. ``square_mm`` is the side of one square; ``marker_mm`` the side of a
    ChArUco marker (default 0.75 x the square); ``dictionary`` the ArUco dictionary name."""

    kind: str
    cols: int
    rows: int
    square_mm: float
    marker_mm: float | None = None
    dictionary: str = "DICT_5X5_100"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"must be one of {', '.join(KINDS)}, got {self.kind!r}", field="board")
        low = 2 if self.kind == "checkerboard" else 3
        if not (low <= self.cols <= 100 and low <= self.rows <= 100):
            raise ConfigError(f"{self.cols}x{self.rows} is not a usable {self.kind} size", field="board")
        if not (math.isfinite(self.square_mm) and self.square_mm > 0):
            raise ConfigError(f"must be a positive number, got {self.square_mm}", field="square_mm")
        if self.kind == "charuco":
            marker = self.marker_mm if self.marker_mm is not None else 0.75 * self.square_mm
            if not (math.isfinite(marker) and 0 < marker < self.square_mm):
                raise ConfigError(f"must be between 0 and the square size, got {marker}", field="marker_mm")
            object.__setattr__(self, "marker_mm", float(marker))
            if not hasattr(cv2.aruco, self.dictionary):
                raise ConfigError(f"unknown ArUco dictionary {self.dictionary!r}", field="dictionary")

    @classmethod
    def parse(
        cls, spec: str, *, square_mm: float, marker_mm: float | None = None, dictionary: str = "DICT_5X5_100"
    ) -> Board:
        """``checkerboard:9x6`` (inner corners) or ``charuco:7x5`` (squares)."""
        m = _SPEC.match(spec.strip().lower())
        if not m:
            raise ConfigError(
                f"expected checkerboard:COLSxROWS or charuco:COLSxROWS, got {spec!r}", field="board"
            )
        return cls(m.group(1), int(m.group(2)), int(m.group(3)), float(square_mm), marker_mm, dictionary)

    @property
    def spec(self) -> str:
        return f"{self.kind}:{self.cols}x{self.rows}"

    def to_dict(self) -> dict[str, object]:
        return {
            "spec": self.spec,
            "square_mm": self.square_mm,
            "marker_mm": self.marker_mm,
            "dictionary": self.dictionary if self.kind == "charuco" else None,
        }

    @property
    def squares(self) -> tuple[int, int]:
        """Number of squares across and down."""
        if self.kind == "checkerboard":
            return self.cols + 1, self.rows + 1
        return self.cols, self.rows

    def charuco(self) -> cv2.aruco.CharucoBoard:
        if self.kind != "charuco":
            raise ConfigError("not a ChArUco board", field="board")
        d = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.dictionary))
        return cv2.aruco.CharucoBoard((self.cols, self.rows), self.square_mm, float(self.marker_mm or 0), d)

    def corner_points(self) -> np.ndarray:
        """(N, 3) float32 board coordinates (mm) of every inner corner, in detection order."""
        if self.kind == "charuco":
            return np.asarray(self.charuco().getChessboardCorners(), np.float32).reshape(-1, 3)
        ys, xs = np.mgrid[0 : self.rows, 0 : self.cols]
        pts = np.stack([xs.ravel(), ys.ravel(), np.zeros(xs.size)], 1) * self.square_mm
        return pts.astype(np.float32)

    def texture(self, px_per_mm: float, *, margin_squares: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """A printable image of the board (uint8, white margin) and the 2x3 matrix mapping board
        millimetres to its pixels (pixel centres at integer coordinates)."""
        sq_x, sq_y = self.squares
        margin_mm = margin_squares * self.square_mm
        w = round((sq_x * self.square_mm + 2 * margin_mm) * px_per_mm)
        h = round((sq_y * self.square_mm + 2 * margin_mm) * px_per_mm)
        if self.kind == "charuco":
            margin_px = round(margin_mm * px_per_mm)
            img = self.charuco().generateImage((w, h), marginSize=margin_px, borderBits=1)
            origin = (margin_mm, margin_mm)  # the board's outer corner
        else:
            ys, xs = np.mgrid[0:h, 0:w]
            u = (xs + 0.5) / px_per_mm - margin_mm
            v = (ys + 0.5) / px_per_mm - margin_mm
            inside = (u >= 0) & (v >= 0) & (u < sq_x * self.square_mm) & (v < sq_y * self.square_mm)
            black = (np.floor(u / self.square_mm) + np.floor(v / self.square_mm)) % 2 == 0
            img = np.where(inside & black, 0, 255).astype(np.uint8)
            origin = (margin_mm + self.square_mm, margin_mm + self.square_mm)  # first inner corner
        s = px_per_mm
        to_px = np.array([[s, 0, origin[0] * s - 0.5], [0, s, origin[1] * s - 0.5]])
        return img, to_px

    def detect(self, image: np.ndarray) -> BoardView:
        """Find the board; raises :class:`CalibrationError` (key ``board_not_found``) saying why not."""
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        if grey.dtype != np.uint8:
            g = grey.astype(np.float64)
            g = (g - g.min()) * (255.0 / max(1e-9, float(g.max() - g.min())))
            grey = np.clip(g + 0.5, 0, 255).astype(np.uint8)
        if self.kind == "charuco":
            return self._detect_charuco(grey)
        return self._detect_checkerboard(grey)

    def _detect_checkerboard(self, grey: np.ndarray) -> BoardView:
        size = (self.cols, self.rows)
        flags = cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_EXHAUSTIVE | cv2.CALIB_CB_ACCURACY
        found, corners = cv2.findChessboardCornersSB(grey, size, flags=flags)
        if not found:
            found, corners = cv2.findChessboardCorners(
                grey, size, flags=cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
            )
            if not found:
                raise CalibrationError(
                    f"{self.spec} not found (the whole board must be visible)", key="board_not_found"
                )
            criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-3)
            corners = cv2.cornerSubPix(grey, corners, (5, 5), (-1, -1), criteria)
        pts = np.asarray(corners, np.float32).reshape(-1, 2)
        return BoardView(pts, self.corner_points())

    def _detect_charuco(self, grey: np.ndarray) -> BoardView:
        board = self.charuco()
        corners, ids, _, marker_ids = cv2.aruco.CharucoDetector(board).detectBoard(grey)
        n = 0 if ids is None else len(ids)
        if n < MIN_CHARUCO_CORNERS:
            markers = 0 if marker_ids is None else len(marker_ids)
            raise CalibrationError(
                f"{self.spec}: only {n} corners found ({markers} markers; need at least "
                f"{MIN_CHARUCO_CORNERS})",
                key="board_not_found",
            )
        if board.checkCharucoCornersCollinear(ids):
            raise CalibrationError(
                f"{self.spec}: the {n} corners found lie on one line", key="board_not_found"
            )
        obj, img = cast(Any, board).matchImagePoints(corners, ids)
        return BoardView(
            np.asarray(img, np.float32).reshape(-1, 2), np.asarray(obj, np.float32).reshape(-1, 3)
        )
