"""Detectors: from an aligned part image to findings.

A detector gets the prepared recipe and the aligned, light-corrected part image (reference frame)
with its validity mask, and returns findings in reference coordinates. The classical detector is
built in; others (ONNX Runtime models) are plugins found by name through :data:`detectors`.
"""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

import numpy as np

from inspection.findings import REPORT_THRESHOLD, DefectClass, Finding
from inspection.recipe.definition import PreparedRecipe
from inspection.registry import Registry
from inspection.vision.change import ChangeMap, ChangeRegion, detect_changes
from inspection.vision.classify import classify_generic, classify_pcb, features, is_missing, region_context

logger = logging.getLogger(__name__)


@runtime_checkable
class Detector(Protocol):
    """What the pipeline needs from a detector. A detector may also have
    ``detect_with_map(prepared, aligned, valid) -> (findings, HeatMap | None)``: the pipeline then
    calls that instead, and the result carries the map (see :mod:`inspection.vision.heatmap`)."""

    name: str

    def detect(self, prepared: PreparedRecipe, aligned: np.ndarray, valid: np.ndarray) -> list[Finding]:
        """Findings of one aligned part, reference coordinates."""
        ...


def region_box(region: ChangeRegion, margin: int,
               shape: tuple[int, int]) -> tuple[float, float, float, float]:
    """The region's box grown by ``margin`` and clipped to the image."""
    h, w = shape
    x1, y1, x2, y2 = region.box
    return (float(max(0, x1 - margin)), float(max(0, y1 - margin)), float(min(w, x2 + margin)),
            float(min(h, y2 + margin)))


def region_contour(region: ChangeRegion) -> np.ndarray | None:
    import cv2

    contours, _ = cv2.findContours(region.mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    c = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.float64)
    return c + np.array(region.box[:2], dtype=np.float64)


class ClassicalDetector:
    """Tolerance-band change detection, topology typing and a logistic confidence per region."""

    name = "classical"

    def regions(self, prepared: PreparedRecipe, aligned: np.ndarray, valid: np.ndarray) -> ChangeMap:
        return detect_changes(prepared.change_model, aligned, valid)

    def detect(self, prepared: PreparedRecipe, aligned: np.ndarray, valid: np.ndarray) -> list[Finding]:
        changes = self.regions(prepared, aligned, valid)
        return self.findings(prepared, changes)

    def findings(self, prepared: PreparedRecipe, changes: ChangeMap) -> list[Finding]:
        params = prepared.recipe.detect
        dark = params.material == "dark"
        out = []
        for region in changes.regions:
            ctx = region_context(region, prepared.change_model.reference, changes.aligned,
                                 material_dark=dark, level=prepared.material_level,
                                 valid=changes.valid)
            missing = is_missing(region.polarity, material_dark=dark)
            if params.classes == "pcb":
                cls = classify_pcb(ctx, missing)
            else:
                cls = classify_generic(region, missing, ctx)
            score = prepared.scorer.score(features(region, ctx))
            out.append(self.finding(prepared, region, cls, score))
        return out

    @staticmethod
    def finding(prepared: PreparedRecipe, region: ChangeRegion, cls: DefectClass, score: float) -> Finding:
        mm = prepared.recipe.mm_per_px
        return Finding(
            box=region_box(region, prepared.recipe.detect.box_margin_px, prepared.shape),
            score=float(min(1.0, max(0.0, score))),
            defect_class=cls,
            polarity=region.polarity,
            area_px=region.area_px,
            contrast=region.mean_excess,
            contour=region_contour(region) if score >= REPORT_THRESHOLD else None,
            area_mm2=None if mm is None else region.area_px * mm * mm,
            length_mm=None if mm is None else max(region.width, region.height) * mm,
        )


detectors: Registry[Detector] = Registry("detector", "inspection.detectors")
detectors.register("classical", ClassicalDetector)
# ONNX Runtime detectors live in plugins/ and are imported only when asked for by name.
detectors.register("pcb-cnn", "plugins.detectors.pcb_cnn:PcbCnnDetector", extra="cpu")
detectors.register("pcb-cnn-fast", "plugins.detectors.pcb_cnn:PcbCnnFastDetector", extra="cpu")
detectors.register("change-cnn", "plugins.detectors.change_cnn:ChangeCnnDetector", extra="cpu")
detectors.register("goodset", "plugins.detectors.goodset_detector:GoodSetDetector", extra="cpu")
