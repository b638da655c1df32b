"""Board views rendered through a known camera, for tests and benchmarks with known answers.

A pinhole camera with OpenCV's distortion model (k1, k2, p1, p2, k3) looks at a planar board in a
known pose. Each output pixel is traced back: its distorted normalised coordinate is undistorted
(fixed-point iteration, exact to 1e-10), the ray is intersected with the board plane, and the
board's printed image is sampled there; supersampling anti-aliases the edges. Then a lens blur and
sensor noise. The result is what OpenCV's forward model (``cv2.projectPoints``) predicts, so a
calibration of these images must recover the camera.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from calibration.board import Board


@dataclass(frozen=True)
class Camera:
    """A known camera: ``matrix`` 3x3, ``dist`` (k1, k2, p1, p2, k3), ``size`` (w, h) pixels."""

    matrix: np.ndarray
    dist: np.ndarray
    size: tuple[int, int]

    @classmethod
    def simple(
        cls,
        size: tuple[int, int] = (640, 480),
        *,
        f: float = 800.0,
        aspect: float = 1.0,
        centre: tuple[float, float] | None = None,
        dist: tuple[float, ...] = (-0.18, 0.06, 0.0008, -0.0005, 0.0),
    ) -> Camera:
        w, h = size
        cx, cy = centre if centre is not None else ((w - 1) / 2.0 + 3.0, (h - 1) / 2.0 - 2.0)
        k = np.array([[f, 0.0, cx], [0.0, f * aspect, cy], [0.0, 0.0, 1.0]])
        return cls(k, np.asarray(dist, np.float64), size)


def undistort_normalised(camera: Camera, pixels: np.ndarray, *, iterations: int = 60) -> np.ndarray:
    """(N, 2) pixel coordinates -> (N, 2) undistorted normalised coordinates (inverse of OpenCV's
    distortion by fixed-point iteration, until it moves less than 1e-12)."""
    k = camera.matrix
    xd = (pixels[:, 0] - k[0, 2]) / k[0, 0]
    yd = (pixels[:, 1] - k[1, 2]) / k[1, 1]
    k1, k2, p1, p2, k3 = (list(camera.dist) + [0.0] * 5)[:5]
    x, y = xd.copy(), yd.copy()
    for _ in range(iterations):
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        nx, ny = (xd - dx) / radial, (yd - dy) / radial
        step = max(float(np.abs(nx - x).max(initial=0.0)), float(np.abs(ny - y).max(initial=0.0)))
        x, y = nx, ny
        if step < 1e-12:
            break
    return np.stack([x, y], 1)


def _ray_table(camera: Camera, supersample: int) -> np.ndarray:
    """Undistorted normalised coordinates of every supersampled pixel, (H*s, W*s, 2) float64:
    exact at the pixel centres, bilinear in between (the mapping is smooth: the interpolation error
    is below 1e-4 px)."""
    w, h = camera.size
    mx, my = np.meshgrid(np.arange(-1, w + 1, dtype=np.float64), np.arange(-1, h + 1, dtype=np.float64))
    exact = undistort_normalised(camera, np.stack([mx.ravel(), my.ravel()], 1)).reshape(h + 2, w + 2, 2)
    s = supersample
    out = np.empty((h * s, w * s, 2))
    for k in range(s):
        d = (k + 0.5) / s - 0.5
        i0 = int(np.floor(d))
        f = d - i0
        for m in range(s):
            e = (m + 0.5) / s - 0.5
            j0 = int(np.floor(e))
            g = e - j0
            # rows: pixel y + e -> nodes y + j0 (+1); columns: x + d -> x + i0 (+1); node = pixel + 1
            r0, c0 = 1 + j0, 1 + i0
            a = exact[r0 : r0 + h, c0 : c0 + w]
            b = exact[r0 : r0 + h, c0 + 1 : c0 + 1 + w]
            c = exact[r0 + 1 : r0 + 1 + h, c0 : c0 + w]
            dd = exact[r0 + 1 : r0 + 1 + h, c0 + 1 : c0 + 1 + w]
            out[m::s, k::s] = (1 - g) * ((1 - f) * a + f * b) + g * ((1 - f) * c + f * dd)
    return out


class BoardRenderer:
    """Renders views of one board through one camera; the per-pixel ray table is computed once."""

    def __init__(self, camera: Camera, board: Board, *, supersample: int = 3, px_per_mm: float | None = None):
        self.camera = camera
        self.board = board
        self.ss = supersample
        self._rays = _ray_table(camera, supersample)
        # texture fine enough that one texel is smaller than a supersampled pixel for boards near the camera
        ppm = px_per_mm or max(8.0, 24.0 / board.square_mm)
        self._texture, self._to_tex = board.texture(ppm)

    def render(
        self,
        rvec: np.ndarray,
        tvec: np.ndarray,
        *,
        blur: float = 0.7,
        noise: float = 1.5,
        seed: int = 0,
        background: float = 90.0,
        contrast: tuple[float, float] = (30.0, 225.0),
    ) -> np.ndarray:
        """One view (uint8 grey) of the board in pose (rvec, tvec) (board mm -> camera mm)."""
        rot, _ = cv2.Rodrigues(np.asarray(rvec, np.float64))
        plane = np.column_stack([rot[:, 0], rot[:, 1], np.asarray(tvec, np.float64).ravel()])
        inv = np.linalg.inv(plane)  # normalised ray (x, y, 1) -> board (X, Y, 1) up to scale
        x, y = self._rays[..., 0], self._rays[..., 1]
        bx = inv[0, 0] * x + inv[0, 1] * y + inv[0, 2]
        by = inv[1, 0] * x + inv[1, 1] * y + inv[1, 2]
        bw = inv[2, 0] * x + inv[2, 1] * y + inv[2, 2]
        front = bw > 1e-12  # rays that meet the plane in front of the camera
        bw = np.where(front, bw, 1.0)
        bx, by = bx / bw, by / bw
        t = self._to_tex
        mx = np.asarray(t[0, 0] * bx + t[0, 2], np.float32)
        my = np.asarray(t[1, 1] * by + t[1, 2], np.float32)
        mx[~front] = -1e6
        lo, hi = contrast
        tex = (lo + self._texture.astype(np.float32) * ((hi - lo) / 255.0)).astype(np.float32)
        big = cv2.remap(tex, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=background)
        w, h = self.camera.size
        img = np.asarray(cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA), np.float32)
        if blur > 0:
            img = np.asarray(cv2.GaussianBlur(img, (0, 0), blur), np.float32)
        if noise > 0:
            img = img + np.random.default_rng(seed).normal(0, noise, img.shape).astype(np.float32)
        return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def look_at_poses(
    board: Board,
    n: int,
    *,
    seed: int = 0,
    camera: Camera | None = None,
    max_tilt_deg: float = 35.0,
    fill: float = 0.5,
    spread: float = 0.8,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` seeded poses (rvec, tvec) as an engineer takes them: the board tilted up to
    ``max_tilt_deg`` about random axes, turned a little in plane, filling about ``fill`` of the
    image width (0.75 to 1.1 x that), its centre anywhere in the ``spread`` fraction of the room the
    view leaves around it (up to 1: edges touching the image border, roughly; above 1: partly out of
    view, for ChArUco)."""
    rng = np.random.default_rng(seed)
    cam = camera or Camera.simple()
    f = float(cam.matrix[0, 0])
    w, h = cam.size
    sq_x, sq_y = board.squares
    bw, bh = sq_x * board.square_mm, sq_y * board.square_mm
    if board.kind == "checkerboard":
        centre = np.array([(board.cols - 1) * board.square_mm / 2, (board.rows - 1) * board.square_mm / 2, 0])
    else:
        centre = np.array([bw / 2, bh / 2, 0.0])
    half_x, half_y = w / 2 / f, h / 2 / float(cam.matrix[1, 1])  # half field of view, normalised
    poses = []
    for i in range(n):
        tilt = math.radians(max_tilt_deg) * math.sqrt((i + 1) / n) * (1 if i % 2 else -1)
        axis_angle = rng.uniform(0, 2 * math.pi)
        axis = np.array([math.cos(axis_angle), math.sin(axis_angle), 0.0])
        r_tilt, _ = cv2.Rodrigues(axis * tilt)
        r_spin, _ = cv2.Rodrigues(np.array([0, 0, rng.uniform(-0.3, 0.3)]))
        rot = r_tilt @ r_spin
        frac = fill * rng.uniform(0.75, 1.1)  # of the image width
        z = f * bw / (frac * w)
        room_x = max(0.0, half_x - bw / 2 / z)
        room_y = max(0.0, half_y - bh / 2 / z)
        off = rng.uniform(-1, 1, 2) * spread * np.array([room_x, room_y])
        target = np.array([off[0] * z, off[1] * z, z])
        tvec = target - rot @ centre
        rvec, _ = cv2.Rodrigues(rot)
        poses.append((rvec.ravel(), tvec))
    return poses
