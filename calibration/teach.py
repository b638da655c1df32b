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

import numpy as np

from calibration.outliers import Outlier, find_outliers, score_outliers
from calibration.part_set import AlignedSet, align_set
from calibration.scoring import BandScorer, PartScore
from calibration.threshold import ThresholdChoice, choose_threshold
from calibration.variation import VariationModel, VariationParams, build_variation
from inspection.errors import ConfigError, InspectionError, RecipeError
from inspection.progress import Progress
from inspection.recipe import Recipe, prepare
from inspection.recipe_params import AlignParams, DetectParams

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


@dataclass(frozen=True)
class PartReport:
    """One taught image. ``status``: "good" (in the model), "outlier" (set aside), "unaligned",
    "unreadable". ``score``: its cross-validated good-part score (the lowest threshold at which it
    passes; inf: rejected at any threshold)."""

    name: str
    status: str
    reason: str = ""
    score: float | None = None
    fold: int | None = None
    align_score: float | None = None
    shift_px: tuple[float, float] | None = None
    angle_deg: float | None = None

    def to_dict(self) -> dict[str, object]:
        s = self.score
        return {
            "name": self.name,
            "status": self.status,
            "reason": self.reason,
            "score": None if s is None else (s if math.isfinite(s) else "inf"),
            "fold": self.fold,
            "align_score": self.align_score,
            "shift_px": None if self.shift_px is None else list(self.shift_px),
            "angle_deg": self.angle_deg,
        }


@dataclass(frozen=True)
class TeachResult:
    recipe: Recipe
    variation: VariationModel
    variation_params: VariationParams
    threshold: ThresholdChoice
    parts: tuple[PartReport, ...]
    roi_note: str
    timings_s: dict[str, float]

    @property
    def good(self) -> tuple[PartReport, ...]:
        return tuple(p for p in self.parts if p.status == "good")

    @property
    def set_aside(self) -> tuple[PartReport, ...]:
        return tuple(p for p in self.parts if p.status != "good")

    @property
    def scores(self) -> np.ndarray:
        return np.array([p.score for p in self.good if p.score is not None], np.float64)


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


def _read(
    images: list[tuple[str, np.ndarray | InspectionError]], reports: dict[str, PartReport]
) -> list[tuple[str, np.ndarray]]:
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
    for name, img in usable:
        if img.shape != shape:
            reports[name] = PartReport(
                name,
                "unreadable",
                f"image is {img.shape[1]}x{img.shape[0]} px, most good parts are {shape[1]}x{shape[0]} px",
            )
    return [(n, i) for n, i in usable if i.shape == shape]


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
    usable = _read(images, reports)
    if len(usable) < params.min_parts:
        raise RecipeError(
            f"{len(usable)} usable good part(s), at least {params.min_parts} needed", key="too_few_good_parts"
        )
    shape = usable[0][1].shape
    aligned = align_set(usable, params.align, progress=progress)
    for name, reason in aligned.failed:
        reports[name] = PartReport(name, "unaligned", reason)
    timings["align"] = time.perf_counter() - t0
    roi, roi_note = _roi(aligned, params, (shape[0], shape[1]))
    by_pixel = np.ascontiguousarray(aligned.stack.reshape(len(aligned.names), -1).T)
    model = build_variation(by_pixel, (shape[0], shape[1]))
    screen = prepare(make_recipe(model, params, roi, params.screen_k, threshold=params.screen_threshold))
    outliers = find_outliers(aligned, screen)
    for o in outliers:
        reports[aligned.names[o.index]] = PartReport(aligned.names[o.index], "outlier", o.reason)
    inliers = [i for i in range(len(aligned.names)) if i not in {o.index for o in outliers}]
    timings["model_and_outliers"] = time.perf_counter() - t0 - timings["align"]
    n_seen = len(images)
    if len(inliers) < params.min_parts or len(inliers) < (1 - params.max_outlier_fraction) * len(usable):
        why = "; ".join(f"{p.name}: {p.reason}" for p in list(reports.values())[:5])
        raise RecipeError(
            f"only {len(inliers)} of {n_seen} parts agree with each other (at least "
            f"{max(params.min_parts, math.ceil((1 - params.max_outlier_fraction) * len(usable)))} "
            f"needed): {why}",
            key="too_few_good_parts",
        )
    k = min(params.folds, len(inliers))
    folds = [inliers[f::k] for f in range(k)]
    scores: dict[int, tuple[PartScore, int]] = {}
    bar = Progress(len(inliers), "scoring held-out parts", enabled=progress)
    for f, held in enumerate(folds):
        train = [i for i in inliers if i not in set(held)]
        fold_model = build_variation(np.ascontiguousarray(by_pixel[:, train]), (shape[0], shape[1]))
        scorer = BandScorer(prepare(make_recipe(fold_model, params, roi, None)), fold_model, params.variation)
        for i in held:
            scores[i] = (scorer.score(aligned.images[i], lowest=params.lowest_k, highest=params.highest_k), f)
            bar.update(note=aligned.names[i])
    timings["cross_validation"] = time.perf_counter() - t0 - sum(timings.values())
    far = score_outliers({i: scores[i][0].score for i in inliers})
    for i, q90 in far.items():
        ps = scores[i][0]
        where = ""
        if ps.worst_box is not None:
            x1, y1, x2, y2 = ps.worst_box
            where = (f"; the deviation that fails it: {x2 - x1:.0f}x{y2 - y1:.0f} px at "
                     f"({(x1 + x2) / 2:.0f}, {(y1 + y2) / 2:.0f})")
        reports[aligned.names[i]] = PartReport(
            aligned.names[i],
            "outlier",
            f"needs the band widened {ps.score:.2f} x to pass, 90% of the parts need at "
            f"most {q90:.2f} x{where}: a defective part in the good set?",
            ps.score,
            scores[i][1],
            ps.align_score,
            ps.shift,
            ps.angle_deg,
        )
    outliers += [Outlier(i, reports[aligned.names[i]].reason) for i in far]
    inliers = [i for i in inliers if i not in far]
    choice = choose_threshold(
        [scores[i][0].score for i in inliers],
        params.target_frr,
        confidence=params.confidence,
        lowest=params.lowest_k,
        highest=params.highest_k,
    )
    final = (
        model if not outliers else build_variation(np.ascontiguousarray(by_pixel[:, inliers]), model.shape)
    )
    recipe = make_recipe(final, params, roi, choice.threshold)
    for i in inliers:
        ps, f = scores[i]
        reports[aligned.names[i]] = PartReport(
            aligned.names[i], "good", ps.reason, ps.score, f, ps.align_score, ps.shift, ps.angle_deg
        )
    for o in outliers:
        if o.index not in far:
            al = aligned.alignments[o.index]
            reports[aligned.names[o.index]] = replace(
                reports[aligned.names[o.index]], align_score=al.score, angle_deg=al.angle_deg
            )
    timings["total"] = time.perf_counter() - t0
    order = [name for name, _ in images]
    parts = tuple(reports[n] for n in order if n in reports)
    return TeachResult(
        recipe, final, taught_variation(params.variation, choice.threshold), choice, parts, roi_note, timings
    )
