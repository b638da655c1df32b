"""``goodset``: good-set mode as a station detector (learned from good parts only).

Wraps a taught :class:`~inspection.vision.goodset.GoodSetModel` (``inspection bench mtd`` writes one as
``goodset_model.npz``; :func:`inspection.vision.goodset.teach` makes one from any set of good images) and
the feature extractor it was taught with. A part whose score (:meth:`GoodSetModel.part_score`: the
patches' image score, plus the model's image-level term when it has one) exceeds the model's threshold
gets one finding per connected area of the anomaly map above the threshold (at least the most
anomalous one), all with the part's confidence: a logistic of the score's distance to the threshold
in units of the spread of the good parts' scores, so that a score at the threshold is 0.5. A part at
or below the threshold gets no finding. The decision therefore follows the image score exactly.
Only inspected pixels (covered by the part image, inside the recipe's ROI, outside its ignore
masks) count. Every part's result carries the anomaly map as a :class:`~inspection.vision.heatmap.HeatMap`
(reduced, 8 bits, the threshold at level 128), which the store keeps with the part's image.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import cv2
import numpy as np

from inspection.errors import CalibrationError, DetectorError
from inspection.findings import DefectClass, Finding, Polarity
from inspection.recipe.definition import PreparedRecipe
from inspection.vision.goodset import GoodSetModel, feature_extractors, patch_cover, pixel_map
from inspection.vision.heatmap import MAX_SIDE, HeatMap

logger = logging.getLogger(__name__)


def extractor_matches(taught: str, running: str) -> bool:
    """Whether a model taught with extractor ``taught`` (name@version) may run with ``running``:
    same name and same version; the precision variant (fp32/fp16/int8 of one export) does not
    count, the variants of one version share it."""
    return taught == running


class GoodSetDetector:
    name = "goodset"

    def __init__(self, model: str | Path | GoodSetModel, *, threads: int = 1, device: str = "auto",
                 precision: str = "fp32", extractor: str = "effnet-lite0") -> None:
        if isinstance(model, GoodSetModel):
            self.model = model
        else:
            try:
                self.model = GoodSetModel.load(Path(model))
            except CalibrationError as exc:
                raise DetectorError(str(exc), key="model_corrupt") from exc
        self.extract = feature_extractors.create(extractor, threads=threads, device=device,
                                                 precision=precision)
        # name and version must both match: a bank of another extractor version is meaningless
        have = str(getattr(self.extract, "name", extractor))
        if not extractor_matches(self.model.extractor, have):
            raise DetectorError(f"model was taught with extractor {self.model.extractor!r}, this "
                                f"station runs {have!r}: re-teach the recipe", key="model_mismatch")
        cal = self.model.calibration_scores
        self.scale = float(max(np.std(cal) if cal.size > 1 else 0.0, 1e-3 * max(1.0, self.model.threshold)))
        self.providers = tuple(getattr(self.extract, "providers", ()))
        self.version = self.model.extractor

    def confidence(self, score: float) -> float:
        z = (score - self.model.threshold) / self.scale
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))

    def detect(self, prepared: PreparedRecipe, aligned: np.ndarray, valid: np.ndarray) -> list[Finding]:
        return self.detect_with_map(prepared, aligned, valid)[0]

    def detect_with_map(self, prepared: PreparedRecipe, aligned: np.ndarray,
                        valid: np.ndarray) -> tuple[list[Finding], HeatMap]:
        """The findings and the anomaly map (what the findings were cut from, at reduced size)."""
        try:
            feats = self.model.features(aligned, self.extract)
        except CalibrationError as exc:
            raise DetectorError(str(exc), key="model_mismatch") from exc
        # only what is inspected counts: the part's valid pixels inside the ROI, minus ignore masks
        seen = (valid > 0) & (prepared.change_model.inspect > 0)
        cover = patch_cover(seen, feats.shape[:2])
        near = self.model.neighbours(feats, cover)  # one search for the local bank and the term
        amap = self.model.patch_map(feats, self.extract, cover, near)
        amap = np.where(cover >= 0.5, amap, 0.0).astype(np.float32)
        score = self.model.part_score(amap, feats, cover, near)
        # what the operator sees and the findings are cut from: each patch against what good parts
        # show at its distance from the side (the verdict's score above uses the map as it is)
        shown = np.where(cover >= 0.5, self.model.display_map(amap, cover), 0.0).astype(np.float32)
        heat = self._heat_map(shown, cover, aligned.shape[:2], score)
        if score <= self.model.threshold:
            return [], heat
        conf = self.confidence(score)
        full = pixel_map(shown, aligned.shape[:2])
        full[~seen] = 0.0
        above = (full > self.model.threshold).astype(np.uint8)
        if not above.any():  # top-k mean above, no single pixel of the smoothed map: mark the peak
            py, px = np.unravel_index(int(np.argmax(full)), full.shape)
            above[py, px] = 1
        n, labels, stats, _ = cv2.connectedComponentsWithStats(above, connectivity=8)
        order = sorted(range(1, n), key=lambda i: -float(full[labels == i].max()))
        mm = prepared.recipe.mm_per_px
        out = []
        for i in order[: prepared.recipe.detect.max_findings]:
            x, y, w, h, area = (int(v) for v in stats[i])
            # the region's outline, so that overlays draw where the anomaly map points
            contours, _ = cv2.findContours((labels == i).astype(np.uint8), cv2.RETR_EXTERNAL,
                                           cv2.CHAIN_APPROX_SIMPLE)
            outline = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.float64)
            out.append(Finding(box=(float(x), float(y), float(x + w), float(y + h)), score=conf,
                               contour=outline if len(outline) >= 3 else None,
                               defect_class=DefectClass.UNKNOWN, polarity=Polarity.DARK, area_px=area,
                               contrast=float(full[labels == i].max()),
                               area_mm2=None if mm is None else area * mm * mm,
                               length_mm=None if mm is None else max(w, h) * mm))
        return out, heat

    def _heat_map(self, amap: np.ndarray, cover: np.ndarray, shape: tuple[int, int],
                  score: float) -> HeatMap:
        """The map the findings are cut from (:func:`pixel_map`, its blur scaled along) at most
        ``MAX_SIDE`` px, zero where less than half a patch is inspected (``cover``, at the map's
        size): well under a millisecond, whatever the image size. It keeps the image ``score`` the
        verdict compared with the threshold."""
        h, w = shape
        s = min(1.0, MAX_SIDE / max(h, w))
        small = (max(1, round(h * s)), max(1, round(w * s)))
        values = pixel_map(amap, small, sigma=4.0 * s)
        inside = cv2.resize(cover, (small[1], small[0]), interpolation=cv2.INTER_LINEAR) >= 0.5
        values[~inside] = 0.0
        return HeatMap.from_values(values, threshold=max(self.model.threshold, 1e-6), kind="anomaly",
                                   ref_shape=(h, w), score=score)
