"""Candidate regions of DeepPCB-layout pairs with their features, rule types and labels.

The classical change detector proposes regions; each is labelled by the ground truth (a region is a
defect when its reported box has IoU > 0.33 with a ground-truth box) so that confidence models and
classifiers can be fitted on them. Optionally the tested image is perturbed first, so that what is
learned covers the shift/rotation/light changes of a real station.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from inspection.bench import perturb as pt
from inspection.bench.deeppcb_data import Pair, bench_recipe, read_truth
from inspection.bench.metrics import IOU_THRESHOLD, Gt, iou
from inspection.imageio import read_image
from inspection.pipeline import _align
from inspection.recipe.definition import prepare
from inspection.recipe.params import DetectParams
from inspection.vision.change import detect_changes, warp_to_reference
from inspection.vision.classify import classify_pcb, features, is_missing, region_context
from inspection.vision.detector import region_box
from inspection.vision.geometry import invert, transform_box
from inspection.vision.patches import region_patches


@dataclass(frozen=True)
class Candidate:
    pair_id: str
    box: tuple[float, float, float, float]  # reported box, reference frame
    features: np.ndarray
    rule_class: int
    polarity_bright: bool
    label: int  # ground-truth type 1..6 of the matched box, 0 = not a defect
    reference_crop: np.ndarray | None = None
    part_crop: np.ndarray | None = None
    region_box: tuple[int, int, int, int] = (0, 0, 0, 0)  # the change region, no margin
    target_box: tuple[float, float, float, float] | None = None  # matched ground truth, reference frame
    patch: np.ndarray | None = None  # (2, S, S) uint8 reference/part window (inspection.vision.patches)
    window: tuple[int, int, int] | None = None  # (x0, y0, side) of the patch, reference frame


def _crop(img: np.ndarray, cx: float, cy: float, size: int) -> np.ndarray:
    h, w = img.shape
    half = size // 2
    x0, y0 = round(cx) - half, round(cy) - half
    out = np.full((size, size), 255, np.uint8)
    sx0, sy0 = max(0, x0), max(0, y0)
    sx1, sy1 = min(w, x0 + size), min(h, y0 + size)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = img[sy0:sy1, sx0:sx1]
    return out


def candidates_of_pair(pair: Pair, *, perturbation: pt.PerturbSpec | None = None, seed: int = 0,
                       crop: int = 0, detect: DetectParams | None = None,
                       patch: tuple[int, int] | None = None) -> Iterator[Candidate]:
    """Candidates of one pair; ``detect`` overrides the bench's change-detection settings (e.g. a
    lower threshold, to see what a second-stage classifier could recover); ``patch`` = (size, pad)
    adds the classifier windows of :func:`inspection.vision.patches.region_patches`."""
    golden = read_image(pair.golden)
    tested = read_image(pair.tested)
    gts = read_truth(pair.truth)
    h, w = golden.shape
    matrix = None
    if perturbation is not None:
        p = pt.draw(perturbation, seed, (h, w))
        tested = pt.apply(tested, p)
        matrix = p.matrix
    recipe = bench_recipe(golden)
    if detect is not None:
        recipe = replace(recipe, detect=detect)
    prepared = prepare(recipe)
    alignment = _align(prepared, tested)
    if not alignment.ok:
        return
    aligned, valid = warp_to_reference(tested, alignment, prepared.shape)
    changes = detect_changes(prepared.change_model, aligned, valid)
    margin = prepared.recipe.detect.box_margin_px
    patches, windows = None, None
    if patch is not None:
        patches, windows = region_patches(golden, aligned, [r.box for r in changes.regions],
                                          size=patch[0], pad=patch[1])
    for k, region in enumerate(changes.regions):
        ctx = region_context(region, golden, aligned, material_dark=True,
                             level=prepared.material_level, valid=valid)
        box = region_box(region, margin, (h, w))
        # ground truth lives in the original tested image, which is registered to the golden
        # up to DeepPCB's own small misregistration; compare there
        img_box = transform_box(alignment.matrix, box)
        if matrix is not None:
            img_box = transform_box(np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2], img_box)
        label, matched = _label(img_box, gts)
        target = None
        if matched is not None:
            back = invert(alignment.matrix)
            if matrix is not None:
                matched = transform_box(matrix, matched)
            target = transform_box(back, matched)
        cx, cy = (region.box[0] + region.box[2]) / 2, (region.box[1] + region.box[3]) / 2
        yield Candidate(
            pair.id, box, features(region, ctx),
            int(classify_pcb(ctx, is_missing(region.polarity, material_dark=True))),
            region.polarity.value == "bright", label,
            _crop(golden, cx, cy, crop) if crop else None,
            _crop(aligned, cx, cy, crop) if crop else None,
            region.box, target,
            None if patches is None else patches[k].astype(np.uint8),
            None if windows is None else (int(windows[k, 0]), int(windows[k, 1]), int(windows[k, 2])),
        )


def _label(box: tuple[float, float, float, float],
           gts: list[Gt]) -> tuple[int, tuple[float, float, float, float] | None]:
    best, best_iou, best_box = 0, IOU_THRESHOLD, None
    for g in gts:
        o = iou(box, g.box)
        if o > best_iou:
            best, best_iou, best_box = g.cls, o, g.box
    return best, best_box
