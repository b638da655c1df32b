"""``pcb-cnn``: classical candidates, typed and scored by a small CNN on ONNX Runtime.

The tolerance-band change detector proposes regions (fast, ~99% of DeepPCB's defects become a
candidate); a small CNN looks at each one (reference window, aligned part window, their difference,
plus the region's hand-made features and rule type) and outputs the probability of "no defect" and
of each DeepPCB type, and the defect's box. All candidates of one part go through the network as
one batch. The model file carries its preprocessing (window size, padding, feature names) and the
candidate settings it was trained with as ONNX metadata, so inference is identical everywhere.

``typing="topology"`` (the default of ``pcb-cnn-fast``) checks the network's type where it hesitates
between open and mouse-bite or short and spur against the connectivity rule
(:mod:`inspection.vision.topology_typing`); ``typing="cnn"`` keeps the network's type as it is.
``tta=True`` (an option, off by default) averages the type probabilities over the 8 flips and
90-degree turns of each window (one batch of 8 N windows); score and box come from the window as is.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from inspection.errors import DetectorError
from inspection.findings import REPORT_THRESHOLD, DefectClass, Finding
from inspection.recipe.definition import PreparedRecipe
from inspection.vision.change import ChangeRegion, detect_changes
from inspection.vision.classify import classify_pcb, features, is_missing, region_context
from inspection.vision.detector import region_contour
from inspection.vision.patches import (
    DIHEDRAL,
    REGION_ONLY_NAMES,
    VECTOR_NAMES,
    candidate_vector,
    dihedral_views,
    mean_type_probs,
    region_patches,
    region_vector,
    select,
)
from inspection.vision.topology_typing import TYPINGS, refine
from plugins.detectors.onnx_runtime import OnnxModel, load_model

logger = logging.getLogger(__name__)

FORMAT = "inspection.pcb-region-classifier/1"
MODELS = Path(__file__).resolve().parent / "models"
SUFFIXES = {"fp32": "", "fp16": "_fp16", "int8": "_int8"}
_CLASS_NAMES = {c.name.lower(): c for c in DefectClass}


def default_model(precision: str = "fp32", base: str = "deeppcb_cnn") -> Path:
    """The shipped model file of ``base`` in ``precision`` (fp32, fp16, int8)."""
    if precision not in SUFFIXES:
        raise DetectorError(f"precision must be one of {sorted(SUFFIXES)}, got {precision!r}",
                            key="bad_precision")
    return MODELS / f"{base}{SUFFIXES[precision]}.onnx"


def _meta_json(meta: dict[str, str], key: str, path: Path) -> object:
    try:
        return json.loads(meta[key])
    except (KeyError, json.JSONDecodeError) as exc:
        raise DetectorError(f"model {path.name}: metadata {key!r} missing or not JSON",
                            key="model_metadata") from exc


class PcbCnnDetector:
    """Golden-pair detector for PCB-like parts (DeepPCB's six defect types). The shipped model sees
    each candidate's pixels, region features, material context and rule type."""

    name = "pcb-cnn"
    base = "deeppcb_cnn"
    #: the full model already sees the rule type as an input
    default_typing = "cnn"
    default_tta = False

    def __init__(self, model: str | Path | None = None, *, threads: int = 1, device: str = "auto",
                 precision: str = "fp32", typing: str | None = None, tta: bool | None = None) -> None:
        typing = self.default_typing if typing is None else typing
        if typing not in TYPINGS:
            raise DetectorError(f"typing must be one of {list(TYPINGS)}, got {typing!r}", key="bad_typing")
        self.typing = typing
        self.tta = self.default_tta if tta is None else bool(tta)
        path = Path(model) if model is not None else default_model(precision, self.base)
        self.model: OnnxModel = load_model(path, threads=threads, device=device, expect_format=FORMAT,
                                             auto_gpu=False)  # 4.5-16x slower on CUDA (H200 bench)
        meta = dict(self.model.metadata)
        size, pad = _meta_json(meta, "patch_size", path), _meta_json(meta, "patch_pad", path)
        names = _meta_json(meta, "vector_names", path)
        classes = _meta_json(meta, "classes", path)
        cand = _meta_json(meta, "candidates", path)
        if not (isinstance(size, int) and isinstance(pad, int) and isinstance(cand, dict)):
            raise DetectorError(f"model {path.name}: bad patch_size/patch_pad/candidates metadata",
                                key="model_metadata")
        if not isinstance(names, list) or not set(names) <= set(VECTOR_NAMES):
            raise DetectorError(f"model {path.name} expects inputs {names}; this station computes "
                                f"{list(VECTOR_NAMES)}: retrain the model", key="model_metadata")
        self.vector_names: list[str] = names
        # a model that needs only region statistics skips the per-region topology work
        self.region_only = set(names) <= set(REGION_ONLY_NAMES)
        if not isinstance(classes, list) or classes[0] != "none" or any(c not in _CLASS_NAMES
                                                                         for c in classes[1:]):
            raise DetectorError(f"model {path.name}: unknown classes {classes}", key="model_metadata")
        self.size, self.pad = size, pad
        self.classes = [DefectClass.UNKNOWN] + [_CLASS_NAMES[c] for c in classes[1:]]
        self.candidate_threshold = float(cand.get("threshold", 0.35))
        self.candidate_min_area = int(cand.get("min_area_px", 12))
        self.version = meta.get("version", "unversioned")
        self.providers = self.model.providers

    def detect(self, prepared: PreparedRecipe, aligned: np.ndarray, valid: np.ndarray) -> list[Finding]:
        recipe = prepared.recipe
        params = recipe.detect
        if params.classes != "pcb":
            raise DetectorError(f"the {self.name} detector types PCB defects; recipe {recipe.name!r} "
                                "uses generic classes (use the classical detector)", key="detector_mismatch")
        cm = prepared.change_model
        cm = replace(cm, params=replace(cm.params, threshold=self.candidate_threshold,
                                        min_area_px=self.candidate_min_area))
        changes = detect_changes(cm, aligned, valid)
        regions = changes.regions
        if not regions:
            return []
        vectors = self._vectors(prepared, regions, aligned, valid)
        patches, windows = region_patches(cm.reference, aligned, [r.box for r in regions],
                                          size=self.size, pad=self.pad)
        n = len(regions)
        views = len(DIHEDRAL) if self.tta else 1
        if self.tta:
            patches, vectors = dihedral_views(patches), np.tile(vectors, (views, 1))
        probs, boxes = self.model.run({"patches": patches, "vectors": vectors})[:2]
        if probs.shape != (views * n, len(self.classes)) or boxes.shape != (views * n, 4):
            raise DetectorError(f"model returned shapes {probs.shape}, {boxes.shape} for "
                                f"{views * n} windows", key="inference_failed")
        if self.tta:
            probs, boxes = mean_type_probs(probs, n), boxes[:n]
        if not (np.isfinite(probs).all() and np.isfinite(boxes).all()):
            raise DetectorError("model returned non-finite values", key="inference_failed")
        h, w = prepared.shape
        mm = recipe.mm_per_px
        scores = np.clip(1.0 - probs[:, 0].astype(np.float64), 0.0, 1.0).tolist()
        types = (np.argmax(probs[:, 1:], axis=1) + 1).tolist()
        if self.typing == "topology":
            types = self._topology_types(prepared, regions, aligned, valid, probs, types)
        # boxes from window units to reference pixels, clipped to the image
        abs_boxes = boxes.astype(np.float64) * windows[:, 2:3] + windows[:, [0, 1, 0, 1]]
        abs_boxes = np.clip(abs_boxes, 0.0, [w, h, w, h]).tolist()
        out = []
        for i, region in enumerate(regions):
            score = scores[i]
            cls = self.classes[types[i]]
            bx1, by1, bx2, by2 = abs_boxes[i]
            x1, x2 = min(bx1, bx2), max(bx1, bx2)
            y1, y2 = min(by1, by2), max(by1, by2)
            out.append(Finding(
                box=(x1, y1, x2, y2), score=score, defect_class=cls, polarity=region.polarity,
                area_px=region.area_px, contrast=region.mean_excess,
                contour=region_contour(region) if score >= REPORT_THRESHOLD else None,
                area_mm2=None if mm is None else region.area_px * mm * mm,
                length_mm=None if mm is None else max(region.width, region.height) * mm))
        return out

    def _topology_types(self, prepared: PreparedRecipe, regions: tuple[ChangeRegion, ...],
                        aligned: np.ndarray, valid: np.ndarray, probs: np.ndarray,
                        types: list[int]) -> list[int]:
        dark = prepared.recipe.detect.material == "dark"

        def rule(i: int) -> DefectClass:
            region = regions[i]
            ctx = region_context(region, prepared.change_model.reference, aligned, material_dark=dark,
                                 level=prepared.material_level, valid=valid)
            return classify_pcb(ctx, is_missing(region.polarity, material_dark=dark))

        return refine(probs, self.classes, types, rule)

    def _vectors(self, prepared: PreparedRecipe, regions: tuple[ChangeRegion, ...], aligned: np.ndarray,
                 valid: np.ndarray) -> np.ndarray:
        if self.region_only:
            return np.stack([region_vector(r, self.vector_names, size=self.size, pad=self.pad)
                             for r in regions])
        dark = prepared.recipe.detect.material == "dark"
        full = np.empty((len(regions), len(VECTOR_NAMES)), np.float32)
        for i, region in enumerate(regions):
            ctx = region_context(region, prepared.change_model.reference, aligned, material_dark=dark,
                                 level=prepared.material_level, valid=valid)
            rule = classify_pcb(ctx, is_missing(region.polarity, material_dark=dark))
            full[i] = candidate_vector(features(region, ctx), int(rule), region.box, size=self.size,
                                       pad=self.pad)
        return select(full, self.vector_names)


class PcbCnnFastDetector(PcbCnnDetector):
    """``pcb-cnn-fast``: the same network trained on the pixels and region statistics only, so the
    per-candidate topology work (material context, rule typing) is skipped at inspection time,
    except where the network hesitates between two look-alike types (``typing="topology"``)."""

    name = "pcb-cnn-fast"
    base = "deeppcb_cnn_fast"
    default_typing = "topology"
