"""Rule-based defect typing and region features.

Typing reads the local topology of the material (copper, metal) around a deviating region:

- extra material (the part has material where the reference has none): touching no reference
  material -> spurious copper (island); touching one piece -> spur; bridging two -> short;
- missing material: splitting a piece of reference material in two -> open; a hole with material
  all around it -> pin-hole; otherwise a bite out of an edge -> mouse-bite.

On parts that are not PCBs (``scheme="generic"``) the classes are missing / extra material, and
crack for long thin missing regions.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inspection.findings import DefectClass, Polarity
from inspection.vision.change import ChangeRegion

_PAD = 8
_K3 = np.ones((3, 3), np.uint8)


@dataclass(frozen=True)
class RegionContext:
    """Material masks (bool) of reference and aligned part in a window around a region."""

    ref_material: np.ndarray
    part_material: np.ndarray
    region: np.ndarray  # bool, the region's pixels in the window
    offset: tuple[int, int]  # window origin (x, y) in reference pixels
    at_border: bool = False  # the region touches the edge of what the part image covers


def region_context(region: ChangeRegion, reference: np.ndarray, aligned: np.ndarray, *,
                   material_dark: bool, level: float, valid: np.ndarray | None = None) -> RegionContext:
    h, w = reference.shape
    x1, y1, x2, y2 = region.box
    wx1, wy1 = max(0, x1 - _PAD), max(0, y1 - _PAD)
    wx2, wy2 = min(w, x2 + _PAD), min(h, y2 + _PAD)
    ref = reference[wy1:wy2, wx1:wx2]
    part = aligned[wy1:wy2, wx1:wx2]
    if material_dark:
        rm, pm = ref < level, part < level
    else:
        rm, pm = ref >= level, part >= level
    mask = np.zeros(ref.shape, bool)
    mask[y1 - wy1:y2 - wy1, x1 - wx1:x2 - wx1] = region.mask
    at_border = x1 <= 2 or y1 <= 2 or x2 >= w - 2 or y2 >= h - 2
    if valid is not None and not at_border:
        bx1, by1, bx2, by2 = max(0, x1 - 3), max(0, y1 - 3), min(w, x2 + 3), min(h, y2 + 3)
        at_border = bool((valid[by1:by2, bx1:bx2] == 0).any())
    return RegionContext(rm, pm, mask, (wx1, wy1), at_border)


def is_missing(polarity: Polarity, *, material_dark: bool) -> bool:
    """A bright deviation on dark material (or dark on bright) means material is missing."""
    return (polarity is Polarity.BRIGHT) == material_dark


def _labels(binary: np.ndarray) -> tuple[int, np.ndarray]:
    n, lab = cv2.connectedComponents(binary.astype(np.uint8), connectivity=8)
    return int(n), lab


def classify_pcb(ctx: RegionContext, missing: bool) -> DefectClass:
    region_u8 = ctx.region.astype(np.uint8)
    grown = cv2.dilate(region_u8, _K3, iterations=2) > 0
    if not missing:
        # extra material: how many separate pieces of reference material does it touch?
        _, lab = _labels(ctx.ref_material & ~ctx.region)
        touched = {int(v) for v in np.unique(lab[grown]) if v}
        if not touched:
            return DefectClass.COPPER
        big = [t for t in touched if np.count_nonzero(lab == t) >= 12]
        return DefectClass.SHORT if len(big) >= 2 else DefectClass.SPUR
    # missing material: does a piece of reference material fall apart in the part?
    _, lab = _labels(ctx.ref_material)
    for piece in {int(v) for v in np.unique(lab[grown & ctx.ref_material]) if v}:
        inside = (lab == piece) & ctx.part_material
        m, plab = _labels(inside)
        if m - 1 >= 2:
            sizes = np.bincount(plab.ravel())[1:]
            if np.count_nonzero(sizes >= 6) >= 2:
                return DefectClass.OPEN
    ring = grown & ~ctx.region
    if ring.any() and np.count_nonzero(ring & ctx.part_material) >= 0.9 * np.count_nonzero(ring):
        return DefectClass.PINHOLE
    return DefectClass.MOUSEBITE


def _shape(region: ChangeRegion) -> tuple[float, float]:
    """(length, width) of the region's minimum-area rotated rectangle, pixels."""
    ys, xs = np.nonzero(region.mask)
    if len(xs) < 3:
        return float(max(region.width, region.height)), 1.0
    (_, _), (a, b), _ = cv2.minAreaRect(np.stack([xs, ys], 1).astype(np.float32))
    return float(max(a, b)) + 1.0, float(min(a, b)) + 1.0


def classify_generic(region: ChangeRegion, missing: bool, ctx: RegionContext | None = None) -> DefectClass:
    """Missing / extra material; a long thin missing region is a crack; an elongated deviation
    lying along an edge of the reference is a deformation (a bent edge)."""
    length, width = _shape(region)
    elongated = length >= 3.0 * width
    if missing and elongated and thickness(region) <= 2.5:
        return DefectClass.CRACK
    if ctx is not None and length >= 2.0 * width and length >= 10:
        rm = ctx.ref_material.astype(np.uint8)
        edges = cv2.dilate(cv2.morphologyEx(rm, cv2.MORPH_GRADIENT, _K3), _K3) > 0
        share = np.count_nonzero(edges & ctx.region) / max(1, region.area_px)
        if share >= 0.4:
            return DefectClass.DEFORMATION
    return DefectClass.MISSING if missing else DefectClass.EXTRA


def thickness(region: ChangeRegion) -> float:
    """Largest inscribed radius of the region, pixels (1 for a one-pixel line)."""
    padded = cv2.copyMakeBorder(region.mask.astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 3)
    return float(dist.max())


def features(region: ChangeRegion, ctx: RegionContext | None = None) -> np.ndarray:
    """Numeric description of a region for scoring: log area, mean and peak excess, thickness,
    fill ratio, elongation, and (with a context) the share of the region on reference edges."""
    w, h = region.width, region.height
    fill = region.area_px / float(w * h)
    elong = max(w, h) / float(max(1, min(w, h)))
    edge_share = 0.0
    if ctx is not None:
        rm = ctx.ref_material.astype(np.uint8)
        edges = cv2.morphologyEx(rm, cv2.MORPH_GRADIENT, _K3) > 0
        edges = cv2.dilate(edges.astype(np.uint8), _K3) > 0
        edge_share = float(np.count_nonzero(edges & ctx.region)) / max(1, region.area_px)
    at_border = float(ctx.at_border) if ctx is not None else 0.0
    bright = float(region.polarity is Polarity.BRIGHT)
    return np.array([
        np.log(region.area_px), region.mean_excess, region.peak_excess, thickness(region),
        fill, np.log(elong), edge_share, at_border, bright,
    ], dtype=np.float64)


FEATURE_NAMES = ("log_area", "mean_excess", "peak_excess", "thickness", "fill", "log_elongation",
                 "edge_share", "at_border", "bright")
