"""Teaching a good-set recipe: a part type learned from good parts only, judged by a good-set model.

1. Read the parts (all one size; others are set aside with the reason; with ``align_parts`` off,
   parts already cropped, e.g. tiles, are scaled to the most common size instead).
2. Align them to each other (:mod:`calibration.part_set`): the station aligns every part to the
   golden reference before the detector sees it, so the model must be taught on parts in that
   same frame. Parts that do not align are refused, with the reason. With ``align_parts`` off
   the recipe's alignment motion is "none": the station takes parts as acquired too (aligning a
   texture to the median of other textures fails: every part would be rejected as not aligned).
3. The golden reference is the median of the aligned parts.
4. The good-set model (:func:`inspection.vision.goodset.teach`) from the aligned parts: memory
   bank of good patch features, the image-level term (pooled features of the nearest taught
   parts) and the threshold at the target false-reject rate from held-out scores (k-fold
   calibration).
5. The recipe names the detector "goodset" and carries the model (bundles store and hash it).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from calibration.part_report import PartReport
from calibration.part_set import align_set
from calibration.teach import read_good_parts
from inspection.errors import InspectionError, RecipeError
from inspection.recipe.definition import Recipe, inspect_mask
from inspection.recipe.params import AlignParams, DetectParams
from inspection.vision.goodset import (
    BANK_KNN,
    HIGHLIGHTS,
    LOOK_ALIKE_SHARE,
    TILE_KNN,
    TILE_PRIOR,
    TILE_PRIOR_KNN,
    TILE_ROWS,
    TILE_WEIGHT,
    FeatureFn,
    GoodSetModel,
    teach,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GoodSetTeachParams:
    name: str = "part"
    number: int = 0
    align: AlignParams = field(default_factory=AlignParams)
    detect: DetectParams = field(default_factory=DetectParams)
    roi: tuple[int, int, int, int] | None = None
    ignore: np.ndarray | None = field(default=None, compare=False)
    mm_per_px: float | None = None
    target_frr: float = 0.01
    folds: int = 5  # k-fold calibration of the threshold
    short_side: int = 224
    bank_size: int = 5000
    dims: int = 64
    top_k: int = 50
    contrast: str = "percentile"  # see inspection.vision.goodset.normalise_contrast
    max_patches: int = 200_000  # the coreset's pool (a seeded sample): its size sets the teach time
    min_parts: int = 5
    align_parts: bool = True  # False: the parts are already in one frame (e.g. cropped tiles)
    # channel slices with a bank each (inspection.vision.goodset.FEATURE_LAYOUTS); None: one bank
    scales: tuple[tuple[int, int], ...] | None = None
    # the image-level term of the score over this many nearest taught parts (0: the patches' alone)
    tile_knn: int = TILE_KNN
    # share of the nearest taught parts' own held-out scores taken off a part's (0: none)
    tile_prior: float = TILE_PRIOR
    tile_prior_knn: int = TILE_PRIOR_KNN
    # the image-level term's weight against the patches' score (goodset.teach's tile_weight)
    tile_weight: float = TILE_WEIGHT
    # every part also taught over-lit, up to this share of its pixels saturated (0: off)
    highlights: float = HIGHLIGHTS
    # local bank: a part's patches against those of its bank_knn nearest taught parts, tile_rows kept
    # per part (0: one coreset bank of bank_size from all taught patches)
    bank_knn: int = BANK_KNN
    tile_rows: int = TILE_ROWS
    # several images of one physical part (other lights, poses): a regular expression whose group 1
    # in a part's name names the part, so calibration keeps its images together (goodset.teach's
    # groups); None: every image its own part (a station teaching from the line images each part once)
    part_pattern: str | None = None

    @classmethod
    def like(cls, model: GoodSetModel, recipe: Recipe, *, folds: int = 5, min_parts: int = 5) -> GoodSetTeachParams:
        """The settings to teach ``recipe`` again as its ``model`` was taught (the HMI's teach from
        parts): the model's target, image size, bank, score and term settings, including those only
        the model's record shows (:meth:`GoodSetModel.teach_setting`), and the recipe's frame."""
        tile = model.tile
        return cls(
            name=recipe.name, number=recipe.number, align=recipe.align, detect=recipe.detect, roi=recipe.roi,
            ignore=recipe.ignore, mm_per_px=recipe.mm_per_px, target_frr=model.frr, folds=folds,
            short_side=model.short_side, bank_size=int(model.bank.shape[0]), dims=int(model.bank.shape[1]),
            top_k=model.top_k, contrast=model.contrast, min_parts=min_parts,
            align_parts=recipe.align.motion != "none",
            scales=tuple((sc.lo, sc.hi) for sc in model.scales) or None,
            bank_knn=model.bank_knn, tile_rows=model.tile_rows or TILE_ROWS,
            tile_knn=tile.k if tile is not None else 0, tile_prior=model.teach_setting("tile_prior"),
            tile_prior_knn=tile.prior_knn if tile is not None else TILE_PRIOR_KNN,
            tile_weight=model.teach_setting("tile_weight"), highlights=model.teach_setting("highlights"),
            max_patches=int(model.teach_setting("max_patches")) or cls.max_patches)


#: how many of the taught parts with the highest held-out scores the teach report names
UNUSUAL_PARTS = 5


@dataclass(frozen=True)
class GoodSetTeachResult:
    recipe: Recipe
    model: GoodSetModel
    parts: tuple[PartReport, ...]
    timings: dict[str, float]
    # the taught parts that looked least like the others (name, held-out score), highest first: a
    # "good" part with a flaw among them sets the threshold (the 1% quantile of a few hundred scores
    # is their few highest); an engineer should look at them and teach again without the bad ones
    unusual: tuple[tuple[str, float], ...] = ()
    # taught parts that look far more like one other taught part than like the rest (name, the
    # other's name, ratio; goodset.teach's look_alikes), lowest ratio first: several images of one
    # part, most likely, which set the threshold too low unless ``part_pattern`` names them
    look_alikes: tuple[tuple[str, str, float], ...] = ()

    @property
    def used(self) -> int:
        return sum(p.status == "good" for p in self.parts)

    def look_alike_warning(self, *, line: bool = False, label: Callable[[str], str] | None = None) -> str | None:
        """A warning for the engineer when at least :data:`LOOK_ALIKE_SHARE` of the taught parts
        have a look-alike (several images per part, most likely); None otherwise. ``line``: the
        parts were collected from the line (the HMI), not read from files; ``label``: how a part's
        name is shown (e.g. a stored result's part id)."""
        n = len(self.look_alikes)
        if not n or n < LOOK_ALIKE_SHARE * max(1, self.used):
            return None
        show = label or (lambda v: v)
        pairs = ", ".join(f"{show(a)} ~ {show(b)}" for a, b, _ in self.look_alikes[:3])
        head = (f"{n} of {self.used} taught parts look far more like one other taught part than like the rest "
                f"({pairs}{', ...' if n > 3 else ''}): ")
        risk = "the threshold then sits too low and new good parts are rejected (MTD: 48% of new tiles). "
        if line:
            return head + "the same part presented more than once? " + risk[0].upper() + risk[1:] + \
                "Teach again from different parts."
        return head + "several images of one part? Calibrated image by image, " + risk + \
            "Teach from one image per part, or name each image's part (--part-pattern REGEX) so that " \
            "calibration keeps a part's images together."

    def few_parts_warning(self) -> str | None:
        """A warning for the engineer when the threshold rests on fewer held-out scores than its
        false-reject target can be read from (n x target < 1, the empirical rule): it is then the
        largest of them; new good parts that score like the taught ones exceed it about once in
        n + 1; None otherwise."""
        m = self.model
        n = int(m.calibration_scores.size)
        if not n or m.frr <= 0 or m.threshold_rule != "empirical" or n * m.frr >= 1.0:
            return None
        need = math.ceil(1.0 / m.frr - 1e-9)
        return (f"the threshold rests on {n} held-out good scores, and a {m.frr:.0%} false-reject target needs at "
                f"least {need}: it is their largest, and how many new good parts it rejects is not known (if they "
                f"score like the taught ones, about 1 in {n + 1}, i.e. {1 / (n + 1):.0%}). Teach from at least "
                f"{need} different good parts (on MTD, a quarter of the tiles also lost 0.04 image AUROC on new "
                "tiles).")


def part_groups(names: list[str], pattern: str) -> list[tuple[str, str]]:
    """The physical part of every image name: group 1 of ``pattern`` searched in the name's stem (a
    name it does not match is a part of its own). :class:`RecipeError` for a pattern that is not a
    regular expression with a group."""
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise RecipeError(f"part pattern {pattern!r} is not a regular expression: {exc}", key="recipe_bad") from exc
    if rx.groups < 1:
        raise RecipeError(f"part pattern {pattern!r} needs a group (...) that names the part", key="recipe_bad")
    out = []
    for name in names:
        m = rx.search(Path(name).stem)
        out.append(("part", m.group(1)) if m and m.group(1) else ("image", name))
    return out


def teach_goodset(images: list[tuple[str, np.ndarray | InspectionError]], params: GoodSetTeachParams,
                  extract: FeatureFn, *, extractor: str, progress: bool = False) -> GoodSetTeachResult:
    """Teach a good-set recipe from good parts (name, image or the error reading it). Raises
    :class:`RecipeError` when fewer than ``min_parts`` usable parts remain."""
    if params.align_parts and params.align.motion == "none":
        raise RecipeError("the parts are aligned to each other for teaching (align_parts) but the recipe's "
                          "alignment motion is 'none' (the station would not align them): choose one",
                          key="recipe_bad")
    if params.part_pattern:
        part_groups([], params.part_pattern)  # a bad pattern is refused before any work
    t0 = time.perf_counter()
    reports: dict[str, PartReport] = {}
    usable = read_good_parts(images, reports, same_size=params.align_parts)
    if len(usable) < params.min_parts:
        raise RecipeError(f"{len(usable)} usable good part(s), at least {params.min_parts} needed",
                          key="too_few_good_parts")
    timings: dict[str, float] = {}
    if params.align_parts:
        aligned = align_set(usable, params.align, progress=progress)
        for name, reason in aligned.failed:
            reports[name] = PartReport(name, "unaligned", reason)
        names = list(aligned.names)
        stack = list(aligned.stack)
        if len(names) < params.min_parts:
            raise RecipeError(f"only {len(names)} of {len(usable)} parts align to each other (at least "
                              f"{params.min_parts} needed)", key="too_few_good_parts")
    else:
        names = [n for n, _ in usable]
        stack = [i for _, i in usable]
    reference = np.median(np.stack(stack), axis=0).round().astype(np.uint8)
    timings["align"] = time.perf_counter() - t0
    held: list[tuple[int, float]] = []
    alike: list[tuple[int, int, float]] = []
    groups = part_groups(names, params.part_pattern) if params.part_pattern else None
    # the area the station will inspect (ROI without ignore masks): the image-level descriptors of
    # taught parts pool the same patches as those of inspected ones
    inspect = inspect_mask(Recipe(params.name, reference, roi=params.roi, ignore=params.ignore))
    model = teach(stack, extract, extractor=extractor, short_side=params.short_side,
                  bank_size=params.bank_size, dims=params.dims, frr=params.target_frr,
                  folds=params.folds, max_patches=params.max_patches, top_k=params.top_k,
                  contrast=params.contrast, scales=params.scales, progress=progress, held_out=held,
                  tile_knn=params.tile_knn, inspect=inspect, tile_prior=params.tile_prior,
                  tile_prior_knn=params.tile_prior_knn, tile_weight=params.tile_weight,
                  highlights=params.highlights,
                  # per-block banks are coreset banks of all taught patches: no local bank with them
                  bank_knn=params.bank_knn if params.scales is None else 0, tile_rows=params.tile_rows,
                  groups=groups, look_alikes=alike)
    unusual = tuple((names[i], score) for i, score in sorted(held, key=lambda t: -t[1])[:UNUSUAL_PARTS])
    look_alikes = tuple((names[i], names[j], ratio) for i, j, ratio in alike)
    timings["model"] = time.perf_counter() - t0 - timings["align"]
    for name in names:
        reports[name] = PartReport(name, "good", "taught")
    align = params.align if params.align_parts else replace(params.align, motion="none")
    recipe = Recipe(params.name, reference, align=align, detect=params.detect, roi=params.roi,
                    ignore=params.ignore, detector="goodset", number=params.number,
                    mm_per_px=params.mm_per_px, goodset=model)
    timings["total"] = time.perf_counter() - t0
    parts = tuple(reports[n] for n, _ in images if n in reports)
    return GoodSetTeachResult(recipe, model, parts, timings, unusual, look_alikes)


def thresholds_data(result: GoodSetTeachResult) -> dict[str, object]:
    """What the bundle's thresholds.json says about a good-set recipe."""
    m = result.model
    return {"detector": "goodset", "threshold": m.threshold, "target_frr": m.frr,
            "calibration_scores": [float(s) for s in m.calibration_scores],
            "calibration_false_reject_rate": float((m.calibration_scores > m.threshold).mean())
            if m.calibration_scores.size else None,
            "extractor": m.extractor, "parts_used": result.used,
            "most_unusual_parts": [{"name": n, "score": round(v, 6), "above_threshold": v > m.threshold}
                                   for n, v in result.unusual],
            "look_alike_parts": [{"name": a, "like": b, "ratio": round(r, 4)} for a, b, r in result.look_alikes],
            "look_alike_warning": result.look_alike_warning(),
            "few_parts_warning": result.few_parts_warning(),
            "parts_set_aside": [{"name": p.name, "status": p.status, "reason": p.reason}
                                for p in result.parts if p.status != "good"],
            "timings_s": result.timings}
