"""Scoring a good part: the narrowest tolerance band through which the station passes it.

The taught band at each pixel is ``[erode(reference) - w_dark, dilate(reference) + w_bright]`` with
``w = max(abs, k x spread)`` (:class:`calibration.variation.VariationModel`). A part's score is the
smallest ``k`` at which the station passes it: the part goes through the station's own steps
(alignment with the recipe's model, warp to the reference, the coverage rule, the classical detector
and its confidence model) and ``k`` is bisected (a wider band only shrinks the deviating regions).
A part the pipeline cannot judge (not aligned, inspection region not covered) scores inf: it is
rejected whatever ``k``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from calibration.variation import VariationModel, VariationParams
from inspection.recipe.definition import PreparedRecipe
from inspection.vision.align import align
from inspection.vision.change import warp_to_reference
from inspection.vision.detector import ClassicalDetector

_DETECTOR = ClassicalDetector()


@dataclass(frozen=True)
class PartScore:
    score: float  # smallest passing k; inf: never passes
    reason: str = ""  # why it never passes
    align_score: float = 0.0
    shift: tuple[float, float] = (0.0, 0.0)
    angle_deg: float = 0.0
    worst_box: tuple[float, float, float, float] | None = None  # the finding that failed it last


class BandScorer:
    """Scores parts against one model. ``plain`` is the prepared recipe of the model's reference
    without widening (its band is the bare erode/dilate one); the widening for each ``k`` is added
    exactly as :func:`inspection.vision.change.build_change_model` adds a recipe's spreads."""

    def __init__(self, plain: PreparedRecipe, model: VariationModel, params: VariationParams) -> None:
        if plain.recipe.spread_dark is not None or plain.recipe.spread_bright is not None:
            raise ValueError("the plain recipe must not be widened already")
        self.plain = plain
        self.params = params
        unit = replace(params, rel_dark=1.0, rel_bright=1.0, abs_dark=0.0, abs_bright=0.0)
        self._sd, self._sb = model.widening(unit)  # smoothed spreads; widening(k) = max(abs, k x these)

    def widening(self, k: float) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        return (
            np.maximum(np.float32(p.abs_dark), np.float32(k * p.rel_dark) * self._sd),
            np.maximum(np.float32(p.abs_bright), np.float32(k * p.rel_bright) * self._sb),
        )

    def prepared_at(self, k: float) -> PreparedRecipe:
        dark, bright = self.widening(k)
        cm = self.plain.change_model
        lower = cv2.subtract(cm.lower, np.clip(dark, 0, 255).astype(np.uint8))
        upper = cv2.add(cm.upper, np.clip(bright, 0, 255).astype(np.uint8))
        return replace(self.plain, change_model=replace(cm, lower=lower, upper=upper))

    def _worst(
        self, k: float, aligned: np.ndarray, valid: np.ndarray
    ) -> tuple[float, float, float, float] | None:
        found = [f for f in _DETECTOR.detect(self.prepared_at(k), aligned, valid) if f.reported]
        return max(found, key=lambda f: f.score).box if found else None

    def _bracket(self, aligned: np.ndarray, valid: np.ndarray) -> float:
        """The ``min_area``-th largest per-pixel critical k: above it fewer than ``min_area`` pixels
        deviate, so no region can be reported (a pixel deviates at k exactly when its excess over
        the bare band, less the level threshold, is an integer E > max(abs, k x spread))."""
        cm = self.plain.change_model
        p = self.params
        thr = float(cm.level_threshold)
        a = aligned.astype(np.float32)
        eb = a - cm.upper.astype(np.float32) - thr
        ed = cm.lower.astype(np.float32) - a - thr
        with np.errstate(divide="ignore", invalid="ignore"):
            kb = np.where(eb > p.abs_bright, eb / np.maximum(1e-6, p.rel_bright * self._sb), 0.0)
            kd = np.where(ed > p.abs_dark, ed / np.maximum(1e-6, p.rel_dark * self._sd), 0.0)
        kc = np.maximum(kb, kd)
        kc = kc[(kc > 0) & (cm.inspect > 0) & (valid > 0)]
        m = self.plain.recipe.detect.min_area_px
        if kc.size < m:
            return 0.0
        return float(np.partition(kc, kc.size - m)[kc.size - m])

    def score(
        self, image: np.ndarray, *, lowest: float = 0.1, highest: float = 40.0, rel_resolution: float = 0.03
    ) -> PartScore:
        """The smallest k in [lowest, highest] (to ``rel_resolution``) at which ``image`` passes."""
        prepared = self.plain
        recipe = prepared.recipe
        al = align(prepared.align_model, image, recipe.align, roi=recipe.roi_rect)
        h, w = prepared.shape
        shift = al.shift_about(((w - 1) / 2, (h - 1) / 2))

        def result(
            score: float, reason: str = "", box: tuple[float, float, float, float] | None = None
        ) -> PartScore:
            return PartScore(score, reason, al.score, shift, al.angle_deg, box)

        if not al.ok:
            return result(math.inf, f"cannot align: {al.reason}")
        if al.coverage < recipe.min_coverage - 1e-9:
            return result(math.inf, f"the image covers {al.coverage:.1%} of the inspection region")
        aligned, valid = warp_to_reference(image, al, prepared.shape)
        hi = min(highest, max(lowest, 1.05 * self._bracket(aligned, valid) + 1e-3))
        box = self._worst(hi, aligned, valid)
        if box is not None:  # the bound is approximate (integer grey levels): fall back to the top
            hi = highest
            box = self._worst(hi, aligned, valid)
            if box is not None:
                return result(math.inf, f"rejected even with the band widened {highest:g} x", box)
        # step down until it fails (the detector is fast near the score, slow far below it)
        lo = hi
        worst = None
        while True:
            if lo <= lowest:
                return result(lowest if worst is None else hi, box=worst)
            lo = max(lowest, lo * 0.7)
            b = self._worst(lo, aligned, valid)
            if b is not None:
                worst = b
                break
            hi = lo
        while hi / lo > 1 + rel_resolution:  # fails at lo, passes at hi
            mid = math.sqrt(lo * hi)
            b = self._worst(mid, aligned, valid)
            if b is None:
                hi = mid
            else:
                lo, worst = mid, b
        return result(hi, box=worst)
