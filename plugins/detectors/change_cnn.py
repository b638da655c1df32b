"""``change-cnn``: an aligned-feature change detector on ONNX Runtime.

Per part (aligned and light-corrected by the pipeline; reference frame):

1. **Inputs** (:mod:`inspection.vision.change_features`): reference and part normalised by the
   reference's local contrast, and the part's excess over the reference's tolerance band. The
   per-reference half is computed once per prepared recipe and cached.
2. **Gate**: 32-px cells where the excess, averaged over 3x3 px, reaches ``gate`` local contrasts
   (much lower than the classical threshold, so thin, low-contrast breaks become candidates; single
   noisy pixels do not open it); groups of neighbouring cells become windows (padded for context).
   Everything else is unchanged by construction.
3. **Change map**: the network (Siamese stem, feature difference, dilated context) gives per pixel a
   change probability and scores of DeepPCB's six types, for every window.
4. **Regions**: the map at the report threshold (0.5) inside the ROI minus ignore masks and inside
   the covered area, neighbours closer than the recipe's ``merge_gap_px`` merged, regions under
   ``min_area_px`` dropped. Confidence from the region's mean change probability (``mean_threshold``
   maps to the report threshold): edge residue gives thin regions of middling probability, defects
   solid ones. Weaker regions (``region_threshold`` .. 0.5, no strong pixel) are kept as
   low-confidence findings that are never reported.
5. **Typing**: recipes with ``classes: pcb``: the topology rules of the classical detector on the
   learned region (``typing="net"``: the network's type scores instead); ``generic``: missing /
   extra by polarity and material, crack, deformation (:func:`inspection.vision.classify.classify_generic`).

Everything the preprocessing needs is in the model's metadata.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from inspection.errors import DetectorError
from inspection.findings import REPORT_THRESHOLD, DefectClass, Finding, Polarity
from inspection.recipe.definition import PreparedRecipe
from inspection.vision.change import ChangeRegion, _merge_boxes
from inspection.vision.change_features import ReferenceStats, excess, network_input, reference_stats
from inspection.vision.classify import classify_generic, classify_pcb, is_missing, region_context
from inspection.vision.detector import region_box, region_contour
from plugins.detectors.onnx_runtime import OnnxModel, load_model

logger = logging.getLogger(__name__)

FORMAT = "inspection.change-map/1"
MODELS = Path(__file__).resolve().parent / "models"
SUFFIXES = {"fp32": "", "fp16": "_fp16", "int8": "_int8"}
BASE = "change_cnn"
CELL = 32
PAD = 8
_CLASSES = {"open": DefectClass.OPEN, "short": DefectClass.SHORT, "mousebite": DefectClass.MOUSEBITE,
            "spur": DefectClass.SPUR, "copper": DefectClass.COPPER, "pinhole": DefectClass.PINHOLE}


def default_model(precision: str = "fp32") -> Path:
    if precision not in SUFFIXES:
        raise DetectorError(f"precision must be one of {sorted(SUFFIXES)}, got {precision!r}",
                            key="bad_precision")
    return MODELS / f"{BASE}{SUFFIXES[precision]}.onnx"


def _windows(cells: np.ndarray, h: int, w: int) -> list[tuple[int, int, int, int]]:
    """Windows (x1, y1, x2, y2; even sizes, ``PAD`` px of context) covering the gated cells: one per
    group of neighbouring cells when the group fills at least half of its bounding box, else one
    per cell (no network time on ungated cells of L-shaped groups)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(cells, connectivity=8)
    boxes: list[tuple[int, int, int, int]] = []
    for k in range(1, n):
        cx, cy, cw, ch, count = (int(v) for v in stats[k])
        if count * 2 >= cw * ch:
            boxes.append((cx, cy, cx + cw, cy + ch))
        else:
            ys, xs = np.nonzero(labels[cy:cy + ch, cx:cx + cw] == k)
            boxes += [(cx + int(x), cy + int(y), cx + int(x) + 1, cy + int(y) + 1)
                      for x, y in zip(xs, ys, strict=True)]
    out = []
    for bx1, by1, bx2, by2 in boxes:
        x1, y1 = max(0, bx1 * CELL - PAD), max(0, by1 * CELL - PAD)
        x2, y2 = min(w, bx2 * CELL + PAD), min(h, by2 * CELL + PAD)
        if (x2 - x1) % 2:
            x1 = x1 - 1 if x1 > 0 else x1 + 1
        if (y2 - y1) % 2:
            y1 = y1 - 1 if y1 > 0 else y1 + 1
        if x2 - x1 >= 4 and y2 - y1 >= 4:
            out.append((x1, y1, x2, y2))
    return out


class ChangeCnnDetector:
    """Learned change map between the golden reference and the aligned part."""

    name = "change-cnn"

    def __init__(self, model: str | Path | None = None, *, threads: int = 1, device: str = "auto",
                 precision: str = "fp32", region_threshold: float = 0.3, min_area_px: int = 8,
                 mean_threshold: float = 0.8, typing: str = "rules") -> None:
        path = Path(model) if model is not None else default_model(precision)
        self.model: OnnxModel = load_model(path, threads=threads, device=device, expect_format=FORMAT,
                                             auto_gpu=False)  # 4.5-16x slower on CUDA (H200 bench)
        meta = dict(self.model.metadata)
        try:
            pre = json.loads(meta["preprocessing"])
            classes = json.loads(meta["classes"])
            self.gate = float(json.loads(meta["gate"]))
        except (KeyError, json.JSONDecodeError, TypeError, ValueError) as exc:
            raise DetectorError(f"model {path.name}: preprocessing/classes/gate metadata missing or bad",
                                key="model_metadata") from exc
        if not isinstance(classes, list) or any(c not in _CLASSES for c in classes):
            raise DetectorError(f"model {path.name}: unknown classes {classes}", key="model_metadata")
        self.classes = [_CLASSES[c] for c in classes]
        self.tolerance_px = float(pre.get("tolerance_px", 1.0))
        self.radius = int(pre.get("radius", 7))
        self.floor = float(pre.get("floor", 10.0))
        self.region_threshold = region_threshold
        self.min_area_px = min_area_px
        if typing not in ("rules", "net"):
            raise DetectorError(f"typing must be 'rules' or 'net', got {typing!r}", key="bad_typing")
        self.mean_threshold = mean_threshold
        self.typing = typing
        self.version = meta.get("version", "unversioned")
        self.providers = self.model.providers
        self._cache: OrderedDict[str, ReferenceStats] = OrderedDict()
        self._lock = threading.Lock()

    # -- per reference -------------------------------------------------------------------------
    def stats(self, prepared: PreparedRecipe) -> ReferenceStats:
        key = prepared.recipe_id
        with self._lock:
            got = self._cache.get(key)
            if got is not None and got.reference is prepared.change_model.reference:
                self._cache.move_to_end(key)
                return got
        st = reference_stats(prepared.change_model.reference, tolerance_px=self.tolerance_px,
                             radius=self.radius, floor=self.floor)
        with self._lock:
            self._cache[key] = st
            while len(self._cache) > 8:
                self._cache.popitem(last=False)
        return st

    # -- per part ------------------------------------------------------------------------------
    def change_map(self, prepared: PreparedRecipe, aligned: np.ndarray,
                   valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(probability, type scores (6, H, W) float16 where computed, bright, dark, inspect mask)."""
        st = self.stats(prepared)
        bright, dark = excess(st, aligned)
        inspect = cv2.bitwise_and(valid, prepared.change_model.inspect)
        h, w = aligned.shape
        prob = np.zeros((h, w), np.float32)
        want_types = self.typing == "net"
        types = np.zeros((len(self.classes), h, w) if want_types else (len(self.classes), 0, 0), np.float16)
        # the gate looks at the excess averaged over 3x3 px: sensor noise (single pixels) no longer
        # opens it, a defect (a few connected pixels of full excess) still does
        ex = cv2.blur(np.maximum(bright, dark), (3, 3))
        gate = ((ex >= self.gate) & (inspect > 0)).astype(np.uint8)
        if not gate.any():
            return prob, types, bright, dark, inspect
        ch, cw = -(-h // CELL), -(-w // CELL)
        padded = np.zeros((ch * CELL, cw * CELL), np.uint8)
        padded[:h, :w] = gate
        cells = padded.reshape(ch, CELL, cw, CELL).max(axis=(1, 3))
        for x1, y1, x2, y2 in _windows(cells, h, w):
            inp = network_input(st, aligned, bright, dark, (x1, y1, x2, y2))[None]
            out = self.model.run({"x": inp})[0]
            if out.shape != (1, 1 + len(self.classes), y2 - y1, x2 - x1) or not np.isfinite(out).all():
                raise DetectorError(f"model returned {out.shape} / non-finite values for a "
                                    f"{x2 - x1}x{y2 - y1} window", key="inference_failed")
            # windows can overlap through their padding: keep the larger probability
            sub = prob[y1:y2, x1:x2]
            better = out[0, 0] > sub
            sub[better] = out[0, 0][better]
            if want_types:
                tsub = types[:, y1:y2, x1:x2]
                tsub[:, better] = out[0, 1:][:, better]
        return prob, types, bright, dark, inspect

    def detect(self, prepared: PreparedRecipe, aligned: np.ndarray, valid: np.ndarray) -> list[Finding]:
        recipe = prepared.recipe
        params = recipe.detect
        prob, types, bright, dark, inspect = self.change_map(prepared, aligned, valid)
        # two levels: regions of the map at the report threshold (confidence = peak probability);
        # weaker regions (region_threshold .. report threshold) that hold no strong pixel are kept
        # as low-confidence findings (they are never reported, they complete the ranking)
        inside = inspect > 0
        strong = ((prob >= REPORT_THRESHOLD) & inside).astype(np.uint8)
        weak = ((prob >= self.region_threshold) & inside).astype(np.uint8)
        if not weak.any():
            return []
        boxes_l: list[tuple[int, int, int, int, int]] = []
        for level, binary in ((1, strong), (0, weak)):
            contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            for c in contours:
                x, y, bw, bh = cv2.boundingRect(c)
                if level == 0 and strong[y:y + bh, x:x + bw].any():
                    continue
                boxes_l.append((x, y, x + bw, y + bh, level))
        if not boxes_l:
            return []
        allb = np.array(boxes_l, dtype=np.int64)
        dark_material = params.material == "dark"
        mm = recipe.mm_per_px
        contrast = prepared.change_model.contrast
        out: list[Finding] = []
        groups = []
        for level in (1, 0):
            sel = np.nonzero(allb[:, 4] == level)[0]
            if len(sel):
                groups += [(level, allb[sel[gr], :4]) for gr in _merge_boxes(allb[sel, :4], params.merge_gap_px)]
        for level, g in groups:
            binary = strong if level else weak
            x1, y1 = int(g[:, 0].min()), int(g[:, 1].min())
            x2, y2 = int(g[:, 2].max()), int(g[:, 3].max())
            mask = binary[y1:y2, x1:x2] > 0
            area = int(np.count_nonzero(mask))
            if area < self.min_area_px:
                continue
            p = prob[y1:y2, x1:x2][mask]
            # confidence from the region's mean change probability: mean_threshold maps to the
            # report threshold (edge residue gives isolated high pixels, defects whole regions)
            score = float(np.clip(REPORT_THRESHOLD + (float(p.mean()) - self.mean_threshold) * 2.5, 0.0, 1.0))
            if level == 0:
                score = min(score, REPORT_THRESHOLD - 1e-3)
            b = bright[y1:y2, x1:x2][mask]
            d = dark[y1:y2, x1:x2][mask]
            polarity = Polarity.BRIGHT if float(b.sum()) >= float(d.sum()) else Polarity.DARK
            raw = (cv2.subtract(aligned[y1:y2, x1:x2], prepared.change_model.upper[y1:y2, x1:x2])
                   if polarity is Polarity.BRIGHT else
                   cv2.subtract(prepared.change_model.lower[y1:y2, x1:x2], aligned[y1:y2, x1:x2]))[mask]
            region = ChangeRegion((x1, y1, x2, y2), polarity, area, float(raw.mean()) / contrast,
                                  float(raw.max()) / contrast, mask)
            missing = is_missing(polarity, material_dark=dark_material)
            if params.classes == "pcb" and self.typing == "net":
                t = types[:, y1:y2, x1:x2][:, mask].astype(np.float32)
                cls = self.classes[int(np.argmax((t * p[None]).sum(1)))]
            else:
                ctx = region_context(region, prepared.change_model.reference, aligned,
                                     material_dark=dark_material, level=prepared.material_level,
                                     valid=valid)
                cls = (classify_pcb(ctx, missing) if params.classes == "pcb"
                       else classify_generic(region, missing, ctx))
            out.append(Finding(
                box=region_box(region, params.box_margin_px, prepared.shape), score=min(1.0, score),
                defect_class=cls, polarity=polarity, area_px=area, contrast=region.mean_excess,
                contour=region_contour(region) if score >= REPORT_THRESHOLD else None,
                area_mm2=None if mm is None else area * mm * mm,
                length_mm=None if mm is None else max(region.width, region.height) * mm))
        out.sort(key=lambda f: -f.score)
        return out[: params.max_findings]
