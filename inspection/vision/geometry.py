"""Rigid/similarity transforms between the reference (part) frame and the acquired image frame.

Convention used everywhere: an :class:`Alignment` holds ``matrix``, a 2x3 affine matrix that maps
reference coordinates (x, y) to acquired-image coordinates. Warping the acquired image with
``cv2.warpAffine(image, matrix, ref_size, flags=WARP_INVERSE_MAP)`` brings it into the reference
frame, where change detection happens and findings are reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

Box = tuple[float, float, float, float]


def rigid_matrix(dx: float, dy: float, angle_deg: float, *, center: tuple[float, float] = (0.0, 0.0),
                 scale: float = 1.0) -> np.ndarray:
    """2x3 matrix that rotates by ``angle_deg`` (counter-clockwise in image display, i.e. the
    OpenCV convention) about ``center``, scales, then translates by (dx, dy)."""
    a = math.radians(angle_deg)
    c, s = math.cos(a) * scale, math.sin(a) * scale
    cx, cy = center
    # x' = c*(x-cx) + s*(y-cy) + cx + dx ; y' = -s*(x-cx) + c*(y-cy) + cy + dy
    return np.array(
        [[c, s, cx - c * cx - s * cy + dx], [-s, c, cy + s * cx - c * cy + dy]], dtype=np.float64
    )


def invert(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine matrix."""
    (a, b, c), (d, e, f) = matrix.tolist()
    det = a * e - b * d
    if det == 0.0:
        raise np.linalg.LinAlgError("singular affine matrix")
    ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
    return np.array([[ia, ib, -(ia * c + ib * f)], [id_, ie, -(id_ * c + ie * f)]])


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The 2x3 matrix of ``outer(inner(p))``."""
    (a, b, c), (d, e, f) = outer.tolist()
    (g, h, i), (j, k, m) = inner.tolist()
    return np.array([[a * g + b * j, a * h + b * k, a * i + b * m + c],
                     [d * g + e * j, d * h + e * k, d * i + e * m + f]])


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 matrix to an (N, 2) array of points."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return pts @ matrix[:, :2].T + matrix[:, 2]


def transform_box(matrix: np.ndarray, box: Box) -> Box:
    """Axis-aligned bounding box of a transformed box."""
    x1, y1, x2, y2 = box
    corners = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], dtype=np.float64)
    out = transform_points(matrix, corners)
    return (float(out[:, 0].min()), float(out[:, 1].min()), float(out[:, 0].max()),
            float(out[:, 1].max()))


@dataclass(frozen=True, eq=False)  # equality by identity: a numpy matrix has no truth value
class Alignment:
    """Result of registering an acquired image to the golden reference.

    ``ok`` False means the part could not be aligned (not there, not recognisable, out of range);
    ``reason`` says why. ``score`` is the alignment quality in [0, 1] (normalised correlation of the
    aligned images, gain/offset invariant). ``coverage`` is the fraction of the inspection region
    that the acquired image covers after alignment.
    """

    matrix: np.ndarray = field(default_factory=lambda: np.eye(2, 3))
    score: float = 0.0
    ok: bool = False
    reason: str = ""
    coverage: float = 0.0
    gain: float = 1.0
    offset: float = 0.0

    @property
    def shift(self) -> tuple[float, float]:
        """Translation (dx, dy) of the reference origin in the image, pixels."""
        return float(self.matrix[0, 2]), float(self.matrix[1, 2])

    @property
    def angle_deg(self) -> float:
        """Rotation of the part relative to the reference, degrees (OpenCV sign convention)."""
        return math.degrees(math.atan2(float(self.matrix[0, 1]), float(self.matrix[0, 0])))

    def shift_about(self, center: tuple[float, float]) -> tuple[float, float]:
        """Displacement of ``center`` (reference coordinates) in the image, pixels."""
        p = transform_points(self.matrix, np.array([center]))[0]
        return float(p[0] - center[0]), float(p[1] - center[1])

    @classmethod
    def failed(cls, reason: str, *, score: float = 0.0) -> Alignment:
        return cls(ok=False, reason=reason, score=score)
