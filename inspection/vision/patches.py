"""Patches around candidate regions, as a learned region classifier sees them.

Training (``inspection.train``) and inference (the ONNX Runtime detector plugin) both call
:func:`region_patches`, so the model sees exactly the same pixels in both places. Each patch is a
square window centred on the region, at least ``size`` pixels across and large enough to hold the
region with ``pad`` pixels around it, resampled to ``size`` x ``size``; pixels outside the image
repeat its border. The window side is returned too, so boxes can be predicted relative to it.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from inspection.findings import Polarity
from inspection.vision.change import ChangeRegion
from inspection.vision.classify import FEATURE_NAMES

#: Inputs of a region classifier per candidate, besides the pixels: the hand-made region features,
#: the rule type as one-hot (DeepPCB types 1..6) and the log of the window's zoom factor.
VECTOR_NAMES = (*FEATURE_NAMES, "rule_1", "rule_2", "rule_3", "rule_4", "rule_5", "rule_6", "log_zoom")


def window_side(box: tuple[int, int, int, int], *, size: int, pad: int) -> int:
    """Side of the square window around a region box (x1, y1, x2, y2)."""
    x1, y1, x2, y2 = box
    return int(max(size, max(x2 - x1, y2 - y1) + 2 * pad))


def window_of(box: tuple[int, int, int, int], *, size: int, pad: int) -> tuple[int, int, int]:
    """(x0, y0, side): the window's top-left corner (whole pixels) and side, reference pixels."""
    side = window_side(box, size=size, pad=pad)
    x0 = (box[0] + box[2] - side) // 2
    y0 = (box[1] + box[3] - side) // 2
    return x0, y0, side


def region_patches(reference: np.ndarray, aligned: np.ndarray,
                   boxes: list[tuple[int, int, int, int]], *, size: int,
                   pad: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2, size, size) float32 patches (reference, aligned part; grey levels 0..255) and the
    (N, 3) windows (x0, y0, side) they were cut from."""
    n = len(boxes)
    out = np.empty((n, 2, size, size), np.float32)
    windows = np.empty((n, 3), np.float64)
    for i, box in enumerate(boxes):
        x0, y0, side = window_of(box, size=size, pad=pad)
        windows[i] = (x0, y0, side)
        for c, img in enumerate((reference, aligned)):
            crop = _crop(img, x0, y0, side)
            if side != size:
                crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
            out[i, c] = crop
    return out, windows


def _crop(img: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray:
    h, w = img.shape
    if x0 >= 0 and y0 >= 0 and x0 + side <= w and y0 + side <= h:
        return img[y0:y0 + side, x0:x0 + side]
    ys = np.clip(np.arange(y0, y0 + side), 0, h - 1)
    xs = np.clip(np.arange(x0, x0 + side), 0, w - 1)
    return img[np.ix_(ys, xs)]


def candidate_vector(feats: np.ndarray, rule_class: int, box: tuple[int, int, int, int], *,
                     size: int, pad: int) -> np.ndarray:
    """The non-pixel inputs of one candidate: its region features
    (:func:`inspection.vision.classify.features`), its rule type one-hot and the window's log zoom."""
    onehot = np.zeros(6, np.float64)
    if 1 <= rule_class <= 6:
        onehot[rule_class - 1] = 1.0
    zoom = np.log(window_side(box, size=size, pad=pad) / size)
    return np.concatenate([np.asarray(feats, np.float64), onehot, [zoom]]).astype(np.float32)


#: The inputs that need nothing but the change region itself (no material context, no rule typing):
#: a classifier trained on these alone skips the per-region topology work at inspection time.
REGION_ONLY_NAMES = ("log_area", "mean_excess", "peak_excess", "fill", "log_elongation", "bright",
                     "log_zoom")


def region_vector(region: ChangeRegion, names: Sequence[str], *, size: int, pad: int) -> np.ndarray:
    """The inputs ``names`` (a subset of :data:`REGION_ONLY_NAMES`) of one region, computed exactly
    as the matching columns of :func:`candidate_vector` over :func:`inspection.vision.classify.features`."""
    w, h = region.width, region.height
    values = {
        "log_area": np.log(region.area_px),
        "mean_excess": region.mean_excess,
        "peak_excess": region.peak_excess,
        "fill": region.area_px / float(w * h),
        "log_elongation": np.log(max(w, h) / float(max(1, min(w, h)))),
        "bright": float(region.polarity is Polarity.BRIGHT),
        "log_zoom": np.log(window_side(region.box, size=size, pad=pad) / size),
    }
    return np.array([values[n] for n in names], np.float64).astype(np.float32)


def select(vectors: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Columns ``names`` of full candidate vectors (:data:`VECTOR_NAMES` order)."""
    unknown = [n for n in names if n not in VECTOR_NAMES]
    if unknown:
        raise ValueError(f"unknown input(s) {unknown}; known: {list(VECTOR_NAMES)}")
    return np.ascontiguousarray(vectors[:, [VECTOR_NAMES.index(n) for n in names]])


#: The 8 flips/transpositions of a square window (bit 0: mirror x, bit 1: mirror y, bit 2: transpose),
#: the same as the training augmentation of :mod:`inspection.train.pcb_train`.
DIHEDRAL = tuple(range(8))


def dihedral_views(patches: np.ndarray) -> np.ndarray:
    """(8N, C, S, S): the N patches in each of the 8 :data:`DIHEDRAL` views, view-major (rows
    ``k*N .. k*N+N-1`` are view ``k``; view 0 is the patches as they are)."""
    views = []
    for k in DIHEDRAL:
        q = patches
        if k & 1:
            q = q[..., ::-1]
        if k & 2:
            q = q[..., ::-1, :]
        if k & 4:
            q = q.swapaxes(-1, -2)
        views.append(q)
    return np.ascontiguousarray(np.concatenate(views))


def mean_type_probs(probs: np.ndarray, n: int) -> np.ndarray:
    """Test-time augmentation of the type head only: ``probs`` (8N, 1 + T) of :func:`dihedral_views`
    -> (N, 1 + T) with column 0 (no defect, i.e. the score) of view 0 and the type columns averaged
    over the views, rescaled to sum to 1 - column 0."""
    if probs.shape[0] != len(DIHEDRAL) * n:
        raise ValueError(f"expected {len(DIHEDRAL) * n} rows, got {probs.shape[0]}")
    first = probs[:n]
    types = probs[:, 1:].reshape(len(DIHEDRAL), n, -1).mean(0)
    types = types / np.maximum(types.sum(1, keepdims=True), 1e-12) * (1.0 - first[:, :1])
    return np.concatenate([first[:, :1], types], 1).astype(probs.dtype)
