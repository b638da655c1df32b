"""Change detection between the golden reference and an aligned part image.

The reference defines, per pixel, the band of grey values a good part may show there: the minimum
and maximum of the reference over a ``tolerance_px`` neighbourhood, so edges may move that far
(sub-pixel jitter, residual misregistration) without counting. A pixel of the aligned part brighter
than the band's top is a *bright* deviation; darker than its bottom, a *dark* one. Deviations larger
than ``threshold`` x the reference contrast, inside the inspected region, form regions; fragments
closer than ``merge_gap_px`` are one region; regions smaller than ``min_area_px`` are dropped.

A per-pixel variation model (taught from many good parts) can widen the band where good parts vary:
``spread_dark`` lowers its bottom, ``spread_bright`` raises its top.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from inspection.findings import Polarity
from inspection.imageio import percentiles8, to_grey8
from inspection.recipe.params import DetectParams
from inspection.vision.geometry import Alignment


@dataclass(frozen=True)
class ChangeModel:
    """Everything about one reference that change detection needs, computed once per reference."""

    reference: np.ndarray  # uint8 grey
    lower: np.ndarray  # uint8: the darkest a good part may be at each pixel
    upper: np.ndarray  # uint8: the brightest a good part may be at each pixel
    inspect: np.ndarray  # uint8 0/255: ROI minus ignore masks
    contrast: float
    params: DetectParams
    material_level: float  # grey level halfway between background and material

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.reference.shape[0]), int(self.reference.shape[1])

    @property
    def level_threshold(self) -> int:
        """Grey-level excess above which a pixel deviates."""
        return max(1, round(self.params.threshold * self.contrast))


def build_change_model(reference: np.ndarray, params: DetectParams | None = None, *,
                       inspect_mask: np.ndarray | None = None,
                       spread_dark: np.ndarray | None = None,
                       spread_bright: np.ndarray | None = None) -> ChangeModel:
    """Precompute the tolerance band of a reference. ``inspect_mask`` (uint8/bool, nonzero = inspect)
    restricts the inspection; ``spread_dark``/``spread_bright`` (grey levels) widen the band per
    pixel downwards/upwards (a variation model taught from good parts)."""
    params = params or DetectParams()
    ref = to_grey8(reference, what="reference")
    lower, upper = tolerance_band(ref, params.tolerance_px)
    for spread, is_upper in ((spread_dark, False), (spread_bright, True)):
        if spread is None:
            continue
        if spread.shape != ref.shape:
            raise ValueError(f"spread shape {spread.shape} differs from the reference {ref.shape}")
        sp = np.clip(spread, 0, 255).astype(np.uint8)
        if is_upper:
            upper = cv2.add(upper, sp)
        else:
            lower = cv2.subtract(lower, sp)
    if inspect_mask is None:
        inspect = np.full(ref.shape, 255, np.uint8)
    else:
        if inspect_mask.shape != ref.shape:
            raise ValueError(f"inspection mask shape {inspect_mask.shape} differs from the reference "
                             f"{ref.shape}")
        inspect = np.where(inspect_mask > 0, 255, 0).astype(np.uint8)
    lo, hi = percentiles8(ref, (1, 99))
    if hi - lo < 16:  # nearly one level (a blank area of a board): its rare other phase, if any, sets it
        lo, hi = percentiles8(ref, (0.1, 99.9), step=1)
    contrast = float(max(hi - lo, 16.0))
    return ChangeModel(ref, lower, upper, inspect, contrast, params, (lo + hi) / 2.0)


def tolerance_band(ref: np.ndarray, tolerance_px: float) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper): the darkest and brightest the reference gets when its edges move by up to
    ``tolerance_px``. Below one pixel the band comes from the reference shifted by the tolerance in
    eight directions (bilinear), so a gap narrower than two pixels stays a gap; from one pixel up,
    from a min/max filter of that radius."""
    if tolerance_px <= 0:
        return ref.copy(), ref.copy()
    if tolerance_px < 1.0:
        h, w = ref.shape
        lower, upper = ref.copy(), ref.copy()
        t = float(tolerance_px)
        for k in range(8):
            a = k * math.pi / 4
            m = np.array([[1, 0, t * math.cos(a)], [0, 1, t * math.sin(a)]], dtype=np.float64)
            shifted = cv2.warpAffine(ref, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            lower = cv2.min(lower, shifted)
            upper = cv2.max(upper, shifted)
        return lower, upper
    r = round(tolerance_px)
    k = 2 * r + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE if k > 3 else cv2.MORPH_RECT, (k, k))
    return cv2.erode(ref, kernel), cv2.dilate(ref, kernel)


def warp_to_reference(image: np.ndarray, alignment: Alignment,
                      shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The image resampled in the reference frame, light-corrected to the reference (the gain and
    offset found by alignment), and the mask (uint8 0/255) of reference pixels it covers."""
    grey = to_grey8(image, what="image")
    h, w = shape
    gain = alignment.gain if alignment.gain > 1e-3 else 1.0
    lut = np.clip((np.arange(256, dtype=np.float64) - alignment.offset) / gain, 0, 255)
    corrected = cv2.LUT(grey, lut.round().astype(np.uint8))
    aligned = cv2.warpAffine(corrected, alignment.matrix, (w, h),
                             flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REPLICATE)
    valid = np.zeros((h, w), np.uint8)
    ih, iw = grey.shape
    inv = cv2.invertAffineTransform(alignment.matrix)
    # pixels whose source lies at least one pixel inside the image (interpolation is exact there)
    corners = np.array([[1, 1], [iw - 2, 1], [iw - 2, ih - 2], [1, ih - 2]], dtype=np.float64)
    quad = corners @ inv[:, :2].T + inv[:, 2]
    cv2.fillConvexPoly(valid, np.round(quad * 16).astype(np.int32), 255, cv2.LINE_8, 4)
    return aligned, valid


@dataclass(frozen=True)
class ChangeRegion:
    """One connected deviation (after merging fragments), in reference pixels."""

    box: tuple[int, int, int, int]  # x1, y1, x2, y2 (exclusive)
    polarity: Polarity
    area_px: int
    mean_excess: float  # mean grey-level excess over the band, in units of the reference contrast
    peak_excess: float
    mask: np.ndarray  # bool, the region's pixels inside ``box``

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]


def _merge_boxes(boxes: np.ndarray | list[list[int]], gap: int) -> list[list[int]]:
    """Groups of indices whose boxes are within ``gap`` pixels of each other (connected components of
    the "boxes touch" graph: the touching pairs are found with numpy in row blocks, the components
    by min-label propagation; a noisy part can have thousands of blobs). Groups are ordered by
    their smallest index, members ascending."""
    n = len(boxes)
    if n <= 1:
        return [[0]] if n else []
    b = np.asarray(boxes, dtype=np.int64)
    lo_x, lo_y, hi_x, hi_y = b[:, 0] - gap, b[:, 1] - gap, b[:, 2], b[:, 3]
    pairs_i, pairs_j = [], []
    block = max(1, 4_000_000 // n)
    for start in range(0, n, block):
        s = slice(start, min(n, start + block))
        near = ((lo_x[s, None] <= hi_x[None, :]) & (lo_x[None, :] <= hi_x[s, None])
                & (lo_y[s, None] <= hi_y[None, :]) & (lo_y[None, :] <= hi_y[s, None]))
        ii, jj = np.nonzero(near)
        ii += start
        keep = jj > ii
        pairs_i.append(ii[keep])
        pairs_j.append(jj[keep])
    ei, ej = np.concatenate(pairs_i), np.concatenate(pairs_j)
    labels = np.arange(n)
    while ei.size:
        low = np.minimum(labels[ei], labels[ej])
        new = labels.copy()
        np.minimum.at(new, ei, low)
        np.minimum.at(new, ej, low)
        new = new[new]
        if np.array_equal(new, labels):
            break
        labels = new
    order = np.argsort(labels, kind="stable")
    cuts = np.nonzero(np.diff(labels[order]))[0] + 1
    return [g.tolist() for g in np.split(order, cuts)]


def _regions(binary: np.ndarray, excess: np.ndarray, polarity: Polarity,
             model: ChangeModel) -> list[ChangeRegion]:
    """Regions of one polarity. Outer contours give the blobs (much faster than labelling on
    sparse masks); blobs closer than the merge gap are grouped; pixel statistics come from the
    group's box."""
    params = model.params
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return []
    boxes = np.array([cv2.boundingRect(c) for c in contours], dtype=np.int64)
    boxes[:, 2] += boxes[:, 0]
    boxes[:, 3] += boxes[:, 1]
    out = []
    for group in _merge_boxes(boxes, params.merge_gap_px):
        g = boxes[group]
        x1, y1 = int(g[:, 0].min()), int(g[:, 1].min())
        x2, y2 = int(g[:, 2].max()), int(g[:, 3].max())
        if (x2 - x1) * (y2 - y1) < params.min_area_px:
            continue
        mask = binary[y1:y2, x1:x2] > 0
        area = int(np.count_nonzero(mask))
        if area < params.min_area_px:
            continue
        ex = excess[y1:y2, x1:x2][mask]
        out.append(ChangeRegion((x1, y1, x2, y2), polarity, area,
                                float(ex.mean()) / model.contrast, float(ex.max()) / model.contrast,
                                mask))
    return out


@dataclass(frozen=True)
class ChangeMap:
    """Result of change detection on one aligned part."""

    bright: np.ndarray  # uint8 excess over the band's top
    dark: np.ndarray  # uint8 excess under the band's bottom
    valid: np.ndarray  # uint8 0/255: reference pixels the part image covers
    regions: tuple[ChangeRegion, ...]
    aligned: np.ndarray  # the part image in the reference frame, light-corrected

    @property
    def inspected_fraction(self) -> float:
        return float(np.count_nonzero(self.valid)) / self.valid.size


def detect_changes(model: ChangeModel, aligned: np.ndarray, valid: np.ndarray) -> ChangeMap:
    """Deviating regions of an aligned, light-corrected part image (see :func:`warp_to_reference`)."""
    if aligned.shape != model.reference.shape:
        raise ValueError(f"aligned image {aligned.shape} differs from the reference {model.reference.shape}")
    bright = cv2.subtract(aligned, model.upper)
    dark = cv2.subtract(model.lower, aligned)
    thr = model.level_threshold
    inspect = cv2.bitwise_and(valid, model.inspect)
    regions: list[ChangeRegion] = []
    for excess, polarity in ((bright, Polarity.BRIGHT), (dark, Polarity.DARK)):
        _, binary = cv2.threshold(excess, thr, 255, cv2.THRESH_BINARY)
        binary = cv2.bitwise_and(binary, inspect)
        regions.extend(_regions(binary, excess, polarity, model))
    regions.sort(key=lambda r: -r.area_px * r.mean_excess)
    return ChangeMap(bright, dark, valid, tuple(regions[: model.params.max_findings]), aligned)
