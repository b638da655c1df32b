"""A set of good parts brought into one frame: the first step of teaching.

A provisional reference is one of the parts (the first that most others align to); every part is
aligned to it and the median of the aligned parts becomes a better reference (no single part's noise
or defect in it); the parts are aligned again to that median. The result is a stack of aligned,
light-corrected parts in the reference frame, with their validity masks and alignments; parts that
cannot be aligned are set aside with the alignment's reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from calibration.variation import build_variation, pixels_by_part
from inspection.progress import Progress
from inspection.recipe.params import AlignParams
from inspection.vision.align import align, build_align_model
from inspection.vision.change import warp_to_reference
from inspection.vision.geometry import Alignment, compose

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlignedSet:
    names: tuple[str, ...]  # the aligned parts, in input order
    images: tuple[np.ndarray, ...]  # as acquired
    stack: np.ndarray  # (N, H, W) uint8, aligned and light-corrected, reference frame
    valid: np.ndarray  # (N, H, W) uint8 0/255
    alignments: tuple[Alignment, ...]
    failed: tuple[tuple[str, str], ...]  # (name, reason)
    provisional: str  # the part whose frame is the reference frame


def _align_all(
    reference: np.ndarray, images: list[tuple[str, np.ndarray]], params: AlignParams, bar: Progress | None
) -> list[Alignment]:
    model = build_align_model(reference, params)
    out = []
    for name, img in images:
        out.append(align(model, img, params))
        if bar is not None:
            bar.update(note=name)
    return out


def _median(images: list[np.ndarray]) -> np.ndarray:
    stack = np.stack(images)
    return build_variation(pixels_by_part(stack), (stack.shape[1], stack.shape[2])).reference


def align_set(
    parts: list[tuple[str, np.ndarray]],
    params: AlignParams,
    *,
    progress: bool = False,
    min_fraction: float = 0.6,
) -> AlignedSet:
    """Align ``parts`` (name, grey uint8 image, all one size) to each other (see module doc)."""
    n = len(parts)
    shape = parts[0][1].shape
    bar = Progress(2 * n, "aligning good parts", enabled=progress)
    candidates = sorted({0, n // 3, (2 * n) // 3})
    first: list[Alignment] = []
    provisional = 0
    for c in candidates:
        first = _align_all(parts[c][1], parts, params, None)
        provisional = c
        if sum(a.ok for a in first) >= min_fraction * n:
            break
        logger.info(
            "only %d of %d parts align to %s; trying another provisional reference",
            sum(a.ok for a in first),
            n,
            parts[c][0],
        )
    bar.update(n)
    # the reference frame sits half a pixel off the provisional part, so that no part is aligned by
    # the identity (every part is resampled once, as every production part will be)
    half = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5]])
    ok1 = [
        warp_to_reference(img, replace(a, matrix=compose(a.matrix, half)), shape)[0]
        for (_, img), a in zip(parts, first, strict=True)
        if a.ok
    ]
    reference = _median(ok1) if len(ok1) >= 2 else parts[provisional][1]
    second = _align_all(reference, parts, params, bar)
    names, images, stack, valid, alignments, failed = [], [], [], [], [], []
    for (name, img), al in zip(parts, second, strict=True):
        if not al.ok:
            failed.append((name, f"cannot align to the other parts: {al.reason}"))
            continue
        a, v = warp_to_reference(img, al, shape)
        names.append(name)
        images.append(img)
        stack.append(a)
        valid.append(v)
        alignments.append(al)
    empty = np.zeros((0, *shape), np.uint8)
    return AlignedSet(
        tuple(names),
        tuple(images),
        np.stack(stack) if stack else empty,
        np.stack(valid) if valid else empty,
        tuple(alignments),
        tuple(failed),
        parts[provisional][0],
    )
