"""Inputs of the learned change detector (``change-cnn``), the same in training and at inspection.

Everything is expressed in units of the reference's *local* contrast, so a thin break in a
low-contrast green track of a photograph and a cut in a binarised scan look alike to the network:

- ``mid``/``scale`` (per reference, once per recipe): the mid grey level and the local contrast
  (max - min over a (2r+1)^2 window, box-smoothed, floored) around every pixel;
- per part: reference and aligned part as ``(x - mid) / scale``, and the excess of the part over
  the reference's tolerance band (brighter than its top, darker than its bottom) / ``scale``.

The gate (any excess above ``gate`` local contrasts) picks the parts of the image the network
looks at; everything else is unchanged by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inspection.imageio import percentiles8
from inspection.vision.change import tolerance_band

CHANNELS = ("reference", "part", "bright_excess", "dark_excess")
CLIP = 4.0


@dataclass(frozen=True)
class ReferenceStats:
    reference: np.ndarray  # uint8
    lower: np.ndarray  # uint8 tolerance band
    upper: np.ndarray
    mid: np.ndarray  # float32
    inv_scale: np.ndarray  # float32, 1 / local contrast
    ref_n: np.ndarray  # float32 normalised reference


def reference_stats(reference: np.ndarray, *, tolerance_px: float = 1.0, radius: int = 7,
                    floor: float = 10.0) -> ReferenceStats:
    """Per-reference part of the preprocessing (a station computes it once per recipe)."""
    ref = reference if reference.dtype == np.uint8 else np.clip(reference, 0, 255).astype(np.uint8)
    k = 2 * radius + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    mx = cv2.dilate(ref, kernel)
    mn = cv2.erode(ref, kernel)
    lc = cv2.blur(cv2.subtract(mx, mn), (k, k))  # uint8 arithmetic: fast on large frames
    mid = cv2.blur(cv2.addWeighted(mx, 0.5, mn, 0.5, 0.0), (k, k)).astype(np.float32)
    lo, hi = percentiles8(ref, (1, 99))
    lut = (1.0 / np.maximum(np.arange(256, dtype=np.float32), max(floor, 0.1 * (hi - lo)))).astype(np.float32)
    inv = lut[lc]
    lower, upper = tolerance_band(ref, tolerance_px)
    ref_n = np.clip((ref.astype(np.float32) - mid) * inv, -CLIP, CLIP)
    return ReferenceStats(ref, lower, upper, mid, inv, ref_n)


def excess(stats: ReferenceStats, part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bright and dark excess over the band, in local contrasts (float32)."""
    bright = cv2.subtract(part, stats.upper).astype(np.float32) * stats.inv_scale
    dark = cv2.subtract(stats.lower, part).astype(np.float32) * stats.inv_scale
    return bright, dark


def network_input(stats: ReferenceStats, part: np.ndarray, bright: np.ndarray, dark: np.ndarray,
                  window: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """(4, H, W) float32 network input of the whole image or of ``window`` (x1, y1, x2, y2)."""
    if window is None:
        x1, y1, x2, y2 = 0, 0, part.shape[1], part.shape[0]
    else:
        x1, y1, x2, y2 = window
    s = np.s_[y1:y2, x1:x2]
    part_n = (part[s].astype(np.float32) - stats.mid[s]) * stats.inv_scale[s]
    out = np.empty((4, y2 - y1, x2 - x1), np.float32)
    out[0] = stats.ref_n[s]
    out[1] = np.clip(part_n, -CLIP, CLIP)
    out[2] = np.minimum(bright[s], CLIP)
    out[3] = np.minimum(dark[s], CLIP)
    return out
