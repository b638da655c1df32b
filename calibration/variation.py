"""The variation model: how good parts vary, pixel by pixel (after alignment and light correction).

From a stack of aligned good parts: the median image (the golden reference, robust to a defect in
one part), the mean, and a one-sided spread per pixel, bright and dark separately, from order
statistics (``q84 - median`` upwards, ``median - q16`` downwards: a standard deviation for normal
data, but one defective part in fifty barely moves it). As in HALCON's variation model the band a
good part may fill is widened per pixel by ``max(abs, rel x spread)``, bright and dark separately;
the station's change detection (:func:`inspection.vision.change.build_change_model`) takes these widenings as
``spread_dark`` / ``spread_bright``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from inspection.errors import ConfigError

_Q = 0.15865525393145707  # one-sided normal tail beyond 1 sigma


@dataclass(frozen=True)
class VariationParams:
    """``rel_*``: widening in units of the taught spread (HALCON's VarThreshold); ``abs_*``: the least
    widening in grey levels (AbsThreshold); ``smooth_px``: the spread is the maximum over this
    neighbourhood radius, so that sub-pixel edge jitter between parts is covered where it was seen."""

    rel_dark: float = 3.0
    rel_bright: float = 3.0
    abs_dark: float = 1.0
    abs_bright: float = 1.0
    smooth_px: int = 1

    def __post_init__(self) -> None:
        for name in ("rel_dark", "rel_bright", "abs_dark", "abs_bright"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and 0 <= v <= 255):
                raise ConfigError(f"must be in [0, 255], got {v!r}", field=name)
        if not (0 <= self.smooth_px <= 5):
            raise ConfigError(f"must be 0..5, got {self.smooth_px}", field="smooth_px")


@dataclass(frozen=True)
class VariationModel:
    """Per-pixel statistics of ``count`` aligned good parts (float32 grey levels, reference frame)."""

    reference: np.ndarray  # uint8 median
    mean: np.ndarray
    spread_dark: np.ndarray
    spread_bright: np.ndarray
    count: int

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.reference.shape[0]), int(self.reference.shape[1])

    def widening(self, params: VariationParams, k: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """(dark, bright) widenings of the tolerance band, grey levels (float32):
        ``max(abs, k x rel x spread)``."""
        out = []
        for spread, rel, ab in (
            (self.spread_dark, params.rel_dark, params.abs_dark),
            (self.spread_bright, params.rel_bright, params.abs_bright),
        ):
            s = spread
            if params.smooth_px:
                k = 2 * params.smooth_px + 1
                s = cv2.dilate(s, np.ones((k, k), np.uint8))
            out.append(np.maximum(np.float32(ab), np.float32(k * rel) * s).astype(np.float32))
        return out[0], out[1]


def _quantile(sorted_t: np.ndarray, q: float) -> np.ndarray:
    """Per-row quantile (linear between ranks) of a row-sorted (P, N) uint8 array, float32."""
    n = sorted_t.shape[1]
    r = q * (n - 1)
    lo = math.floor(r)
    hi = min(n - 1, lo + 1)
    f = np.float32(r - lo)
    return sorted_t[:, lo].astype(np.float32) * (1 - f) + sorted_t[:, hi].astype(np.float32) * f


def pixels_by_part(stack: np.ndarray) -> np.ndarray:
    """(N, H, W) stack -> contiguous (H*W, N) array, the layout the statistics sort."""
    n = stack.shape[0]
    return np.ascontiguousarray(stack.reshape(n, -1).T)


def build_variation(by_pixel: np.ndarray, shape: tuple[int, int]) -> VariationModel:
    """The variation model of aligned good parts given as a (H*W, N) uint8 array (see
    :func:`pixels_by_part`); N >= 2."""
    n = by_pixel.shape[1]
    if n < 2:
        raise ConfigError(f"a variation model needs at least 2 parts, got {n}", field="parts")
    s = np.sort(by_pixel, axis=1, kind="stable")  # radix sort for uint8
    median = _quantile(s, 0.5)
    lo = _quantile(s, _Q)
    hi = _quantile(s, 1 - _Q)
    mean = by_pixel.mean(axis=1, dtype=np.float32)
    h, w = shape
    ref = np.clip(median + 0.5, 0, 255).astype(np.uint8).reshape(h, w)
    return VariationModel(
        ref, mean.reshape(h, w), (median - lo).reshape(h, w), (hi - median).reshape(h, w), n
    )
