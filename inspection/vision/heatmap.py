"""Heat maps: where a detector saw the part deviate, small enough to keep with every stored result.

A :class:`HeatMap` is a detector's map (the good-set model's anomaly map) reduced to at most
``MAX_SIDE`` px and quantised to 8 bits relative to the detector's threshold: level
``THRESHOLD_LEVEL`` (128) is the threshold, 255 twice the threshold or more, 0 no deviation. So a
stored map is coloured from the threshold without knowing the model: at or above 128 the map says
"as anomalous as what rejects a part". The map is in reference (part) coordinates, like findings;
:func:`levels_in_image` maps it into the acquired image through the alignment, as overlays are.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inspection.vision.geometry import Alignment

THRESHOLD_LEVEL = 128  # the stored level of the detector's threshold
MAX_SIDE = 256  # a stored map's longer side at most (px)
KINDS = ("anomaly", "change")


@dataclass(frozen=True)
class HeatMap:
    """``levels``: uint8 (h, w), reference frame scaled to ``MAX_SIDE``; value v means
    ``v / THRESHOLD_LEVEL * threshold`` in the detector's units. ``kind``: "anomaly" (a good-set
    model's distance to the good parts) or "change" (a deviation from a golden). ``peak``: the
    map's largest value in the detector's units (before the 8-bit clip). ``score``: the number the
    verdict compared with ``threshold`` when it is not the map's peak (a good-set model's image
    score, the mean of its most anomalous patches), None otherwise."""

    levels: np.ndarray
    kind: str
    threshold: float
    peak: float
    ref_shape: tuple[int, int]  # the reference (part) size the map covers, (h, w)
    score: float | None = None

    def __post_init__(self) -> None:
        if self.levels.dtype != np.uint8 or self.levels.ndim != 2 or min(self.levels.shape) < 1:
            raise ValueError(f"heat map levels must be a 2-D uint8 array, got {self.levels.dtype} "
                             f"{self.levels.shape}")
        if self.kind not in KINDS:
            raise ValueError(f"heat map kind must be one of {KINDS}, got {self.kind!r}")
        if not (self.threshold > 0 and np.isfinite(self.threshold)):
            raise ValueError(f"heat map threshold must be a positive number, got {self.threshold}")
        if self.score is not None and not np.isfinite(self.score):
            raise ValueError(f"heat map score must be a finite number, got {self.score}")

    @classmethod
    def from_values(cls, values: np.ndarray, *, threshold: float, kind: str,
                    ref_shape: tuple[int, int], max_side: int = MAX_SIDE,
                    score: float | None = None) -> HeatMap:
        """Quantise a float map (any size covering ``ref_shape``; detector units) to at most
        ``max_side`` px; area-averaged when it is larger. ``score``: see the class."""
        v: np.ndarray = np.nan_to_num(np.asarray(values, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        peak = max(0.0, float(v.max())) if v.size else 0.0
        h, w = ref_shape
        s = min(1.0, max_side / max(h, w))
        size = (max(1, round(w * s)), max(1, round(h * s)))
        if (v.shape[1], v.shape[0]) != size:
            larger = v.shape[0] * v.shape[1] > size[0] * size[1]
            v = cv2.resize(v, size, interpolation=cv2.INTER_AREA if larger else cv2.INTER_LINEAR)
        levels = np.clip(np.rint(v * (THRESHOLD_LEVEL / threshold)), 0, 255).astype(np.uint8)
        return cls(levels, kind, float(threshold), peak, (int(h), int(w)),
                   None if score is None else float(score))

    def meta(self) -> dict[str, object]:
        """What the store keeps beside the map's file and the HMI shows."""
        meta: dict[str, object] = {"kind": self.kind, "threshold": round(self.threshold, 6),
                                   "peak": round(self.peak, 6), "threshold_level": THRESHOLD_LEVEL}
        if self.score is not None:
            meta["score"] = round(self.score, 6)
        return meta


def levels_in_image(heat: HeatMap, alignment: Alignment | None, image_shape: tuple[int, int],
                    max_side: int = MAX_SIDE) -> np.ndarray:
    """The map's levels in the acquired image's frame (through the alignment, reference -> image,
    as overlays are drawn), at most ``max_side`` px; 0 where the map does not reach."""
    ih, iw = image_shape
    s_out = min(1.0, max_side / max(ih, iw))
    out_size = (max(1, round(iw * s_out)), max(1, round(ih * s_out)))
    rh, rw = heat.ref_shape
    lh, lw = heat.levels.shape
    # levels px -> reference px -> image px -> output px
    to_ref = np.array([[rw / lw, 0, 0.5 * rw / lw - 0.5], [0, rh / lh, 0.5 * rh / lh - 0.5], [0, 0, 1]])
    m = np.eye(3)
    if alignment is not None and alignment.ok:
        m[:2] = alignment.matrix
    to_out = np.array([[s_out, 0, 0.5 * s_out - 0.5], [0, s_out, 0.5 * s_out - 0.5], [0, 0, 1]])
    full = (to_out @ m @ to_ref)[:2]
    return cv2.warpAffine(heat.levels, full, out_size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0)


def _palette() -> np.ndarray:
    """BGR colour of each level: below the threshold blue to amber, from the threshold red to magenta."""
    lut = np.zeros((256, 3), np.float32)
    t = THRESHOLD_LEVEL
    lo = np.linspace(0.0, 1.0, t)[:, None]
    lut[:t] = (1 - lo) * np.array([160, 60, 0]) + lo * np.array([0, 200, 255])  # dark blue -> amber
    hi = np.linspace(0.0, 1.0, 256 - t)[:, None]
    lut[t:] = (1 - hi) * np.array([0, 0, 230]) + hi * np.array([160, 60, 255])  # red -> magenta-red
    return lut


PALETTE = _palette()


def colourise(image: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """A BGR uint8 picture: ``image`` (grey or BGR uint8) in grey with the map's ``levels`` (any size,
    scaled to the image) blended over it, more opaque the higher the level, and the threshold's
    outline (level ``THRESHOLD_LEVEL``) drawn in white."""
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    h, w = grey.shape
    lv = cv2.resize(levels, (w, h), interpolation=cv2.INTER_LINEAR) if levels.shape != (h, w) else levels
    base = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR).astype(np.float32)
    colour = PALETTE[lv]
    alpha = (0.15 + 0.6 * np.clip(lv.astype(np.float32) / THRESHOLD_LEVEL, 0.0, 1.0))[..., None]
    out = np.clip(base * (1 - alpha) + colour * alpha, 0, 255).astype(np.uint8)
    above = (lv >= THRESHOLD_LEVEL).astype(np.uint8)
    if above.any():
        contours, _ = cv2.findContours(above, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, (255, 255, 255), max(1, round(min(h, w) / 300)), cv2.LINE_AA)
    return out
