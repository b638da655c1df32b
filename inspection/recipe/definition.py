"""Recipes: what a good part looks like and how to inspect it.

A :class:`Recipe` holds the golden reference, its inspection region and ignore masks, an optional
per-pixel variation model, and the tuning values. :func:`prepare` turns it into a
:class:`PreparedRecipe` (pyramids, tolerance bands, Jacobians): done once when the recipe is
loaded or selected, never per part. Bundles on disk (versioned, hashed) are read and written by
``calibration.bundle``; this module is the in-memory contract.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass, field

import numpy as np

from inspection.errors import ConfigError, RecipeError
from inspection.imageio import to_grey8
from inspection.recipe.params import AlignParams, DetectParams
from inspection.vision.align import AlignModel, build_align_model
from inspection.vision.change import ChangeModel, build_change_model
from inspection.vision.goodset import GoodSetModel
from inspection.vision.scorer import Scorer, default_scorer

#: detectors that judge a part without comparing it with the golden pixel by pixel: a recipe with
#: one of them may take parts as acquired (alignment motion "none")
UNALIGNED_DETECTORS = ("goodset",)


@dataclass(frozen=True)
class Recipe:
    """One part type. ``roi`` is (x, y, w, h) in reference pixels (None: the whole image);
    ``ignore`` is a mask (nonzero = not inspected); ``spread_dark``/``spread_bright`` widen the
    tolerance band per pixel (grey levels, from a taught variation model); ``min_coverage`` is the
    fraction of the ROI the acquired image must cover after alignment for a part to be judged at
    all (1.0: every ROI pixel must be seen, otherwise the part is rejected as not inspected)."""

    name: str
    reference: np.ndarray
    align: AlignParams = field(default_factory=AlignParams)
    detect: DetectParams = field(default_factory=DetectParams)
    roi: tuple[int, int, int, int] | None = None
    ignore: np.ndarray | None = None
    spread_dark: np.ndarray | None = None
    spread_bright: np.ndarray | None = None
    scorer: Scorer | None = None
    min_coverage: float = 1.0
    detector: str = "classical"
    number: int = 0
    mm_per_px: float | None = None
    variants: tuple[np.ndarray, ...] = ()  # further golden references: allowed variants of the part
    variant_names: tuple[str, ...] = ()
    #: the good-set model of a recipe whose detector is "goodset" (taught from good parts)
    goodset: GoodSetModel | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        ref = to_grey8(self.reference, what=f"recipe {self.name!r} reference")
        object.__setattr__(self, "reference", ref)
        h, w = ref.shape
        self._check_variants(h, w)
        if min(h, w) < 32:
            raise RecipeError(f"recipe {self.name!r}: reference {w}x{h} px is too small (min 32x32)")
        if self.roi is not None:
            x, y, rw, rh = self.roi
            if rw <= 0 or rh <= 0 or x < 0 or y < 0 or x + rw > w or y + rh > h:
                raise ConfigError(f"ROI {self.roi} is not inside the {w}x{h} reference", field="roi")
        for name in ("ignore", "spread_dark", "spread_bright"):
            arr = getattr(self, name)
            if arr is not None and arr.shape != (h, w):
                raise ConfigError(f"shape {arr.shape} differs from the reference ({h}, {w})", field=name)
        if not (0.0 < self.min_coverage <= 1.0) or math.isnan(self.min_coverage):
            raise ConfigError(f"must be in (0, 1], got {self.min_coverage}", field="min_coverage")
        if not (0 <= self.number <= 999):
            raise ConfigError(f"must be 0..999, got {self.number}", field="number")
        if self.detector == "goodset" and self.goodset is None:
            raise RecipeError(f"recipe {self.name!r}: detector 'goodset' needs a taught good-set model",
                              key="recipe_bad")
        if self.align.motion == "none" and self.detector not in UNALIGNED_DETECTORS:
            raise RecipeError(f"recipe {self.name!r}: alignment motion 'none' (parts inspected as acquired) "
                              f"needs a detector that does not compare parts with a golden pixel by pixel "
                              f"({', '.join(UNALIGNED_DETECTORS)}); detector {self.detector!r} needs parts "
                              f"aligned to the golden", key="recipe_bad")
        if self.align.motion == "none" and self.variants:
            raise RecipeError(f"recipe {self.name!r}: variant references are chosen by alignment, which "
                              f"alignment motion 'none' does not do", key="recipe_bad")
        if self.mm_per_px is not None and not (self.mm_per_px > 0 and math.isfinite(self.mm_per_px)):
            raise ConfigError(f"must be a positive number, got {self.mm_per_px}", field="mm_per_px")

    def _check_variants(self, h: int, w: int) -> None:
        variants = tuple(to_grey8(v, what=f"recipe {self.name!r} variant {k + 1}") for k, v in
                         enumerate(self.variants))
        names = tuple(self.variant_names) or tuple(f"variant-{k + 1}" for k in range(len(variants)))
        if len(names) != len(variants):
            raise ConfigError(f"{len(variants)} variant references but {len(names)} names", field="variants")
        if len(set(names)) != len(names) or "golden" in names or not all(names):
            raise ConfigError(f"variant names must be unique, non-empty and not 'golden': {names}",
                              field="variant_names")
        for name, v in zip(names, variants, strict=True):
            if v.shape != (h, w):
                raise ConfigError(f"variant {name!r} is {v.shape[1]}x{v.shape[0]} px, the golden reference "
                                  f"{w}x{h} px", field="variants")
        object.__setattr__(self, "variants", variants)
        object.__setattr__(self, "variant_names", names)

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.reference.shape[0]), int(self.reference.shape[1])

    @property
    def roi_rect(self) -> tuple[int, int, int, int]:
        h, w = self.shape
        return self.roi if self.roi is not None else (0, 0, w, h)

    def content_hash(self) -> str:
        """SHA-256 over the images and parameters: identifies exactly what inspected a part."""
        h = hashlib.sha256()
        for arr in (self.reference, self.ignore, self.spread_dark, self.spread_bright):
            if arr is None:
                h.update(b"-")
            else:
                h.update(np.ascontiguousarray(arr).data)
                h.update(str((arr.shape, arr.dtype.str)).encode())
        h.update(repr((self.align, self.detect, self.roi, self.min_coverage, self.detector,
                       self.scorer.to_dict() if self.scorer else None, self.mm_per_px)).encode())
        if self.variants:  # only then: the hash of a recipe without variants is what it always was
            for name, v in zip(self.variant_names, self.variants, strict=True):
                h.update(b"variant:" + name.encode() + b"\0")
                h.update(np.ascontiguousarray(v).data)
        if self.goodset is not None:  # only then: older recipes keep their hashes
            h.update(b"goodset:" + self.goodset.digest().encode())
        return h.hexdigest()


@dataclass(frozen=True)
class PreparedRecipe:
    """A recipe with everything precomputed that inspection needs per part."""

    recipe: Recipe
    align_model: AlignModel
    change_model: ChangeModel
    scorer: Scorer
    material_level: float
    recipe_id: str
    reference_name: str = "golden"
    variants: tuple[PreparedRecipe, ...] = ()  # one per variant reference, same recipe_id

    @property
    def shape(self) -> tuple[int, int]:
        return self.recipe.shape


def inspect_mask(recipe: Recipe) -> np.ndarray | None:
    """uint8 mask (255 = inspect) from the ROI and ignore mask, or None for the whole image."""
    if recipe.roi is None and recipe.ignore is None:
        return None
    h, w = recipe.shape
    mask = np.zeros((h, w), np.uint8)
    x, y, rw, rh = recipe.roi_rect
    mask[y:y + rh, x:x + rw] = 255
    if recipe.ignore is not None:
        mask[recipe.ignore > 0] = 0
    return mask


def _spread(recipe: Recipe) -> tuple[np.ndarray | None, np.ndarray | None]:
    return recipe.spread_dark, recipe.spread_bright


def model_hash(recipe: Recipe) -> str:
    """What results judged with ``recipe`` carry as its model hash (the prepared recipe's id):
    its name and the start of its content hash."""
    return f"{recipe.name}@{recipe.content_hash()[:12]}"


def prepare(recipe: Recipe) -> PreparedRecipe:
    """Precompute a recipe (pyramids, tolerance bands); raises RecipeError when it cannot be used.
    Each variant reference is prepared too (same ROI, ignore mask and tuning; the variation model
    belongs to the main golden and is not used for variants)."""
    main = _prepare_one(recipe, model_hash(recipe), "golden")
    if not recipe.variants:
        return main
    variants = tuple(
        _prepare_one(dataclasses.replace(recipe, reference=v, spread_dark=None, spread_bright=None, variants=(),
                                         variant_names=()), main.recipe_id, name)
        for name, v in zip(recipe.variant_names, recipe.variants, strict=True))
    return dataclasses.replace(main, variants=variants)


def _prepare_one(recipe: Recipe, recipe_id: str, reference_name: str) -> PreparedRecipe:
    spread_dark, spread_bright = _spread(recipe)
    align_model = build_align_model(recipe.reference, recipe.align)
    change_model = build_change_model(recipe.reference, recipe.detect, inspect_mask=inspect_mask(recipe),
                                      spread_dark=spread_dark, spread_bright=spread_bright)
    scorer = recipe.scorer or default_scorer(recipe.detect.min_area_px, recipe.detect.threshold)
    return PreparedRecipe(recipe, align_model, change_model, scorer, change_model.material_level,
                          recipe_id, reference_name)
