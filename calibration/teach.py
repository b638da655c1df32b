"""Teaching a part type from N good parts: golden reference, variation model, threshold.

1. Align the parts to each other (:mod:`calibration.part_set`); parts that cannot be aligned are
   set aside, with the reason.
2. The inspection region: given, or the image less a margin the taught parts' motion needs.
3. The variation model of the whole set and the outlier screening (:mod:`calibration.outliers`):
   defective or foreign parts are set aside, with the reason; the model is rebuilt without them.
4. Thresholds from good parts only: K-fold cross-validation. Each fold's parts are scored
   (:mod:`calibration.scoring`, through the station's own alignment and detector) against a model
   taught without them, so every part has an honest held-out score; the threshold is set at the
   target false-reject rate (:mod:`calibration.threshold`).
5. The recipe: the median of the good parts, the band widened by their variation, the threshold.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from calibration.outliers import find_outliers, score_outliers
from calibration.part_report import PartReport, TeachResult, describe_box
from calibration.part_set import AlignedSet, align_set
from calibration.scoring import BandScorer, PartScore
from calibration.threshold import choose_threshold
from calibration.variation import VariationModel, VariationParams, build_variation
from inspection.errors import ConfigError, InspectionError, RecipeError
from inspection.progress import Progress
from inspection.recipe.definition import Recipe, prepare
from inspection.recipe.params import AlignParams, DetectParams

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TeachParams:
    name: str = "part"
    number: int = 0
    align: AlignParams = field(default_factory=AlignParams)
    detect: DetectParams = field(default_factory=DetectParams)
    # rel_dark/rel_bright: the ratio of dark and bright widening; the multiplier k is taught
    variation: VariationParams = field(default_factory=lambda: VariationParams(rel_dark=1.0, rel_bright=1.0))
    margin: float = 0.02  # the recipe's detection threshold: excess beyond the band, fraction of the contrast
    roi: tuple[int, int, int, int] | None = None
    roi_margin_px: int | None = None  # None: 1.5 x the largest motion seen + 4 px
    ignore: np.ndarray | None = field(default=None, compare=False)
    target_frr: float = 0.001
    confidence: float = 0.95
    folds: int = 5
    min_parts: int = 5
    screen_threshold: float = 0.35  # outlier screening: the untaught default detection threshold ...
    screen_k: float = 3.0  # ... beyond the set's band widened by this many spreads
    lowest_k: float = 0.1
    highest_k: float = 40.0
    max_outlier_fraction: float = 0.3
    mm_per_px: float | None = None

    def __post_init__(self) -> None:
        if not (0 < self.target_frr < 1):
            raise ConfigError(f"must be in (0, 1), got {self.target_frr}", field="target_frr")
        if self.folds < 2:
            raise ConfigError(f"must be at least 2, got {self.folds}", field="folds")
        if self.min_parts < 3:
            raise ConfigError(f"must be at least 3, got {self.min_parts}", field="min_parts")


def _roi(
    aligned: AlignedSet, params: TeachParams, shape: tuple[int, int]
) -> tuple[tuple[int, int, int, int], str]:
    if params.roi is not None:
        return params.roi, "given"
    h, w = shape
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float64)
    motion = 0.0
    for al in aligned.alignments:
        moved = corners @ al.matrix[:, :2].T + al.matrix[:, 2]
        motion = max(motion, float(np.abs(moved - corners).max()))
    if params.roi_margin_px is not None:
        m, why = params.roi_margin_px, "given margin"
    else:
        m = math.ceil(1.5 * motion + 4)
        why = f"1.5 x the largest motion of the taught parts ({motion:.1f} px) + 4 px"
    m = min(m, min(h, w) // 4)
    note = (
        f"ROI leaves a {m} px margin ({why}); parts moving further than about {m} px from the first taught "
        "part are rejected as not completely inspected"
    )
    return (m, m, w - 2 * m, h - 2 * m), note


def taught_variation(params: VariationParams, k: float) -> VariationParams:
    """The variation parameters of a recipe taught with band multiplier ``k``."""
    return replace(params, rel_dark=params.rel_dark * k, rel_bright=params.rel_bright * k)


def make_recipe(
    model: VariationModel,
    params: TeachParams,
    roi: tuple[int, int, int, int],
    k: float | None,
    *,
    threshold: float | None = None,
) -> Recipe:
    """The recipe of a variation model with the band widened ``k`` x (None: not widened)."""
    dark = bright = None
    if k is not None:
        dark, bright = model.widening(taught_variation(params.variation, k))
    return Recipe(
        params.name,
        model.reference,
        align=params.align,
        detect=replace(params.detect, threshold=params.margin if threshold is None else threshold),
        roi=roi,
        ignore=params.ignore,
        spread_dark=dark,
        spread_bright=bright,
        number=params.number,
        mm_per_px=params.mm_per_px,
    )


def read_good_parts(
    images: list[tuple[str, np.ndarray | InspectionError]], reports: dict[str, PartReport], *,
    same_size: bool = True,
) -> list[tuple[str, np.ndarray]]:
    """The readable good-part images as Mono8. With ``same_size`` a part whose size differs from the
    most common one is reported and left out; without it, it is scaled to that size (tiles cropped
    from larger images). Unreadable parts are reported in ``reports``."""
    from inspection.imageio import to_grey8

    usable: list[tuple[str, np.ndarray]] = []
    for name, img in images:
        if isinstance(img, InspectionError):
            reports[name] = PartReport(name, "unreadable", str(img))
            continue
        try:
            usable.append((name, to_grey8(img, what=name)))
        except InspectionError as exc:
            reports[name] = PartReport(name, "unreadable", str(exc))
    if not usable:
        raise RecipeError("no readable good-part image", key="too_few_good_parts")
    shapes: dict[tuple[int, ...], int] = {}
    for _, img in usable:
        shapes[img.shape] = shapes.get(img.shape, 0) + 1
    shape = max(shapes, key=lambda s: shapes[s])
    if not same_size:
        return [(n, i if i.shape == shape else cv2.resize(i, (shape[1], shape[0]), interpolation=cv2.INTER_AREA))
                for n, i in usable]
    for name, img in usable:
        if img.shape != shape:
            reports[name] = PartReport(
                name,
                "unreadable",
                f"image is {img.shape[1]}x{img.shape[0]} px, most good parts are {shape[1]}x{shape[0]} px",
            )
    return [(n, i) for n, i in usable if i.shape == shape]


def _cross_validate(
    aligned: AlignedSet,
    by_pixel: np.ndarray,
    inliers: list[int],
    params: TeachParams,
    roi: tuple[int, int, int, int],
    progress: bool,
) -> dict[int, tuple[PartScore, int]]:
    """Every inlier scored against a model taught without its fold: index -> (score, fold)."""
    shape = aligned.stack.shape[1], aligned.stack.shape[2]
    k = min(params.folds, len(inliers))
    scores: dict[int, tuple[PartScore, int]] = {}
    bar = Progress(len(inliers), "scoring held-out parts", enabled=progress)
    for f in range(k):
        held = inliers[f::k]
        train = [i for i in inliers if i not in set(held)]
        fold_model = build_variation(np.ascontiguousarray(by_pixel[:, train]), shape)
        scorer = BandScorer(prepare(make_recipe(fold_model, params, roi, None)), fold_model, params.variation)
        for i in held:
            scores[i] = (scorer.score(aligned.images[i], lowest=params.lowest_k, highest=params.highest_k), f)
            bar.update(note=aligned.names[i])
    return scores


def teach(
    images: list[tuple[str, np.ndarray | InspectionError]],
    params: TeachParams | None = None,
    *,
    progress: bool = False,
) -> TeachResult:
    """Teach a recipe from good parts (name, image or the error reading it). Raises
    :class:`RecipeError` when too few good parts remain."""
    params = params or TeachParams()
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    reports: dict[str, PartReport] = {}
    usable = read_good_parts(images, reports)
    if len(usable) < params.min_parts:
        raise RecipeError(
            f"{len(usable)} usable good part(s), at least {params.min_parts} needed", key="too_few_good_parts"
        )
    h, w = usable[0][1].shape
    aligned = align_set(usable, params.align, progress=progress)
    for name, reason in aligned.failed:
        reports[name] = PartReport(name, "unaligned", reason)
    timings["align"] = time.perf_counter() - t0
    roi, roi_note = _roi(aligned, params, (h, w))
    by_pixel = np.ascontiguousarray(aligned.stack.reshape(len(aligned.names), -1).T)
    model = build_variation(by_pixel, (h, w))
    screen = prepare(make_recipe(model, params, roi, params.screen_k, threshold=params.screen_threshold))
    aside = {o.index: o.reason for o in find_outliers(aligned, screen)}
    for i, reason in aside.items():
        al = aligned.alignments[i]
        reports[aligned.names[i]] = PartReport(
            aligned.names[i], "outlier", reason, align_score=al.score, angle_deg=al.angle_deg
        )
    inliers = [i for i in range(len(aligned.names)) if i not in aside]
    needed = max(params.min_parts, math.ceil((1 - params.max_outlier_fraction) * len(usable)))
    if len(inliers) < needed:
        why = "; ".join(f"{p.name}: {p.reason}" for p in list(reports.values())[:5])
        raise RecipeError(
            f"only {len(inliers)} of {len(images)} parts agree with each other (at least {needed} "
            f"needed): {why}",
            key="too_few_good_parts",
        )
    timings["model_and_outliers"] = time.perf_counter() - t0 - timings["align"]
    scores = _cross_validate(aligned, by_pixel, inliers, params, roi, progress)
    timings["cross_validation"] = time.perf_counter() - t0 - sum(timings.values())
    for i, cut in score_outliers({i: scores[i][0].score for i in inliers}).items():
        ps, f = scores[i]
        where = describe_box(ps.worst_box)
        reports[aligned.names[i]] = PartReport.scored(
            aligned.names[i],
            "outlier",
            ps,
            f,
            f"needs the band widened {ps.score:.2f} x to pass, far beyond the others (fewer than 1 in 100 "
            f"sets of good parts would hold a part above {cut:.2f} x)"
            + (f"; it fails on {where}" if where else "")
            + ": a defective part in the good set?",
        )
        aside[i] = reports[aligned.names[i]].reason
    inliers = [i for i in inliers if i not in aside]
    choice = choose_threshold(
        [scores[i][0].score for i in inliers],
        params.target_frr,
        confidence=params.confidence,
        lowest=params.lowest_k,
        highest=params.highest_k,
    )
    final = model if not aside else build_variation(np.ascontiguousarray(by_pixel[:, inliers]), model.shape)
    for i in inliers:
        reports[aligned.names[i]] = PartReport.scored(aligned.names[i], "good", *scores[i])
    timings["total"] = time.perf_counter() - t0
    parts = tuple(reports[n] for n, _ in images if n in reports)
    return TeachResult(
        make_recipe(final, params, roi, choice.threshold),
        final,
        taught_variation(params.variation, choice.threshold),
        choice,
        parts,
        roi_note,
        timings,
    )
