"""Seeded perturbations of a part image as a real station sees them: the part shifted and rotated,
the light's gain and offset changed, sensor noise; the ground-truth boxes moved with the part."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from inspection.vision.geometry import rigid_matrix, transform_box


@dataclass(frozen=True)
class PerturbSpec:
    max_shift_px: float = 8.0
    max_rotation_deg: float = 1.5
    gain: tuple[float, float] = (0.8, 1.2)
    max_offset: float = 20.0
    noise_sigma: float = 5.0

    def max_displacement(self, shape: tuple[int, int]) -> float:
        """The largest distance any pixel of the image can move, pixels."""
        h, w = shape
        half_diag = math.hypot(w, h) / 2.0
        return self.max_shift_px * math.sqrt(2) + 2 * half_diag * math.sin(
            math.radians(self.max_rotation_deg) / 2)


@dataclass(frozen=True)
class Perturbation:
    matrix: np.ndarray  # original -> perturbed image coordinates
    gain: float
    offset: float
    noise_sigma: float
    seed: int


def draw(spec: PerturbSpec, seed: int, shape: tuple[int, int]) -> Perturbation:
    rng = np.random.default_rng(seed)
    h, w = shape
    dx, dy = rng.uniform(-spec.max_shift_px, spec.max_shift_px, 2)
    angle = rng.uniform(-spec.max_rotation_deg, spec.max_rotation_deg)
    m = rigid_matrix(float(dx), float(dy), float(angle), center=((w - 1) / 2.0, (h - 1) / 2.0))
    gain = float(rng.uniform(*spec.gain))
    offset = float(rng.uniform(-spec.max_offset, spec.max_offset))
    return Perturbation(m, gain, offset, spec.noise_sigma, seed)


def apply(image: np.ndarray, p: Perturbation) -> np.ndarray:
    """The perturbed image (uint8). Pixels entering the frame from outside repeat the border."""
    h, w = image.shape[:2]
    out = cv2.warpAffine(image, p.matrix, (w, h), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    out = out * p.gain + p.offset
    if p.noise_sigma > 0:
        rng = np.random.default_rng(p.seed + 1)
        out += rng.normal(0.0, p.noise_sigma, out.shape).astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def move_box(box: tuple[float, float, float, float], p: Perturbation,
             shape: tuple[int, int]) -> tuple[float, float, float, float] | None:
    """The box in the perturbed image, clipped; None when less than half of it stays in view."""
    h, w = shape
    x1, y1, x2, y2 = transform_box(p.matrix, box)
    cx1, cy1, cx2, cy2 = max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2)
    if cx2 <= cx1 or cy2 <= cy1:
        return None
    if (cx2 - cx1) * (cy2 - cy1) < 0.5 * (x2 - x1) * (y2 - y1):
        return None
    return (cx1, cy1, cx2, cy2)
