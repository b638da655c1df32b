"""The station's active recipe: loading by number, engineers' threshold overrides, taught golden
references, and the swap between cycles.

Preparation (pyramids, tolerance bands) happens in whatever thread asks for a change (the PLC's
recipe thread, an HMI request); the inspection job only picks up the prepared result at the start
of its next cycle, so a part is never inspected with half a recipe.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from inspection.recipe.catalog import LoadedRecipe, Preprocess, RecipeCatalog
from inspection.recipe.definition import PreparedRecipe, Recipe, prepare
from inspection.recipe.params import AlignParams, DetectParams
from inspection.vision.detector import Detector, detectors
from inspection.vision.goodset import GoodSetModel

logger = logging.getLogger(__name__)

#: the good-set model's threshold on its image score (a what-if and shadow parameter; a recipe
#: without a good-set model has none)
ANOMALY_THRESHOLD = "anomaly_threshold"


def recipe_thresholds(recipe: Recipe) -> dict[str, float]:
    """The recipe's own values of the tunable thresholds."""
    return {"threshold": recipe.detect.threshold, "tolerance_px": float(recipe.detect.tolerance_px),
            "min_area_px": float(recipe.detect.min_area_px), "align_min_score": recipe.align.min_score}


def with_thresholds(recipe: Recipe, values: Mapping[str, float]) -> Recipe:
    """``recipe`` with threshold overrides applied (unknown names are ignored, and so is
    ``anomaly_threshold`` for a recipe without a good-set model: callers that must not ignore it
    check :data:`ANOMALY_THRESHOLD` themselves)."""
    if ANOMALY_THRESHOLD in values and recipe.goodset is not None:
        recipe = dataclasses.replace(recipe, goodset=dataclasses.replace(
            recipe.goodset, threshold=float(values[ANOMALY_THRESHOLD])))
    detect: DetectParams = recipe.detect
    align: AlignParams = recipe.align
    if "threshold" in values:
        detect = dataclasses.replace(detect, threshold=float(values["threshold"]))
    if "tolerance_px" in values:
        detect = dataclasses.replace(detect, tolerance_px=float(values["tolerance_px"]))
    if "min_area_px" in values:
        detect = dataclasses.replace(detect, min_area_px=int(values["min_area_px"]))
    if "align_min_score" in values:
        align = dataclasses.replace(align, min_score=float(values["align_min_score"]))
    return dataclasses.replace(recipe, detect=detect, align=align)


Variation = tuple[np.ndarray, np.ndarray]  # (spread_dark, spread_bright) of a taught golden reference


def with_golden(recipe: Recipe, golden: np.ndarray, variation: Variation | None = None) -> Recipe:
    """``recipe`` with a newly taught golden reference and the variation model (tolerance band)
    taught with it. A golden taught without one (a single part, an uploaded image) drops the
    recipe's band, which belongs to the old reference; the recipe's own reference keeps its band."""
    if variation is not None:
        dark, bright = variation
        return dataclasses.replace(recipe, reference=golden, spread_dark=dark, spread_bright=bright)
    if recipe.spread_dark is None and recipe.spread_bright is None:
        return dataclasses.replace(recipe, reference=golden)
    ref = recipe.reference
    grey = golden if golden.ndim == 2 else None
    if grey is not None and grey.shape == ref.shape and grey.dtype == ref.dtype and np.array_equal(grey, ref):
        return recipe  # the recipe's own reference (e.g. a rollback to it): its band stays
    logger.warning("recipe %s: new golden reference without a variation model; the old one is dropped",
                   recipe.name)
    return dataclasses.replace(recipe, reference=golden, spread_dark=None, spread_bright=None)


def with_goodset(recipe: Recipe, model: GoodSetModel) -> Recipe:
    """``recipe`` with a good-set model taught on the station (from N good parts); a recipe whose
    detector is not "goodset" does not use one: it stays as it is (logged)."""
    if recipe.detector != "goodset":
        logger.warning("recipe %s: a good-set model was taught for it but its detector is %r: not used",
                       recipe.name, recipe.detector)
        return recipe
    return dataclasses.replace(recipe, goodset=model)


def compose(recipe: Recipe, *, thresholds: Mapping[str, float] | None = None,
            golden: np.ndarray | None = None, variation: Variation | None = None,
            variants: Sequence[tuple[str, np.ndarray]] = (), goodset: GoodSetModel | None = None) -> Recipe:
    """The recipe the station runs: the recipe file's, with the taught golden (and its variation
    model, or a good-set recipe's good-set model taught with it), the taught variant references and
    the engineers' threshold overrides."""
    if golden is not None:
        recipe = with_golden(recipe, golden, variation)
    if goodset is not None:
        recipe = with_goodset(recipe, goodset)
    if variants:  # taught variant references (allowed variants of the part) join the recipe's own
        recipe = dataclasses.replace(recipe, variants=(*recipe.variants, *(v for _, v in variants)),
                                     variant_names=(*recipe.variant_names, *(n for n, _ in variants)))
    if thresholds:
        recipe = with_thresholds(recipe, thresholds)
    return recipe


def make_detector(recipe: Recipe) -> Detector:
    """The detector the recipe names; the good-set one gets the recipe's taught model and runs the
    feature extractor the model was taught with (by name: ``effnet-lite0@2.0.0`` -> ``effnet-lite0``;
    the detector refuses another version of it)."""
    if recipe.detector == "goodset":
        assert recipe.goodset is not None  # Recipe refuses a good-set recipe without its model
        return detectors.create("goodset", recipe.goodset, extractor=recipe.goodset.extractor.partition("@")[0])
    return detectors.create(recipe.detector)


@dataclass(frozen=True)
class ActiveRecipe:
    """Everything the job needs for one recipe, prepared."""

    loaded: LoadedRecipe
    prepared: PreparedRecipe
    detector: Detector

    @property
    def number(self) -> int:
        return self.loaded.entry.number

    @property
    def recipe_id(self) -> str:
        return self.loaded.entry.recipe_id

    @property
    def preprocess(self) -> Preprocess | None:
        return self.loaded.preprocess

    @property
    def model_hash(self) -> str:
        return self.prepared.recipe_id


class RecipeSlot:
    """The active recipe and the next one. ``stage()`` prepares and parks a recipe; the job calls
    ``take()`` at the start of each cycle and gets the newest one staged (swap between cycles)."""

    def __init__(self, catalog: RecipeCatalog) -> None:
        self.catalog = catalog
        self._lock = threading.Lock()
        self._active: ActiveRecipe | None = None
        self._next: ActiveRecipe | None = None

    def build(self, loaded: LoadedRecipe, *, thresholds: Mapping[str, float] | None = None,
              golden: np.ndarray | None = None, variation: Variation | None = None,
              variants: Sequence[tuple[str, np.ndarray]] = (),
              goodset: GoodSetModel | None = None) -> ActiveRecipe:
        recipe = compose(loaded.recipe, thresholds=thresholds, golden=golden, variation=variation,
                         variants=variants, goodset=goodset)
        detector = make_detector(recipe)
        return ActiveRecipe(dataclasses.replace(loaded, recipe=recipe), prepare(recipe), detector)

    def stage(self, active: ActiveRecipe) -> None:
        with self._lock:
            self._next = active

    def take(self) -> ActiveRecipe | None:
        """The recipe for the cycle that starts now."""
        with self._lock:
            if self._next is not None:
                self._active, self._next = self._next, None
            return self._active

    @property
    def current(self) -> ActiveRecipe | None:
        """The newest recipe (staged, else active): what the next part will use."""
        with self._lock:
            return self._next or self._active
