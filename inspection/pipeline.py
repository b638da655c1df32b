"""One inspection: align -> detect -> decide, fail-safe.

:func:`inspect` never raises for a bad part or a bad image and never returns a PASS for a part it
did not completely inspect: an incomplete frame, an image of the wrong size, a part that cannot be
aligned, an ROI not fully covered, or any error inside a detector all give a REJECT with the
matching result code and a message.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from inspection.errors import ImageError, InspectionError
from inspection.findings import Finding
from inspection.frame import Frame
from inspection.imageio import to_grey8
from inspection.recipe.definition import PreparedRecipe
from inspection.result import InspectionResult, ResultCode
from inspection.vision.change import warp_to_reference
from inspection.vision.detector import ClassicalDetector, Detector
from inspection.vision.geometry import Alignment
from inspection.vision.heatmap import HeatMap

logger = logging.getLogger(__name__)

_CLASSICAL = ClassicalDetector()


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1e3


def inspect(prepared: PreparedRecipe, image: np.ndarray | Frame, *,
            detector: Detector | None = None) -> InspectionResult:
    """Inspect one part image (or frame) against a prepared recipe."""
    detector = detector or _CLASSICAL
    variants = bool(prepared.variants)
    timings: dict[str, float] = {}
    recipe_id = prepared.recipe_id

    def reject(code: ResultCode, message: str, alignment: Alignment | None = None,
               findings: tuple[Finding, ...] = (), shape: tuple[int, int] | None = None,
               heat: HeatMap | None = None) -> InspectionResult:
        return InspectionResult(code, findings, alignment, message, timings, recipe_id,
                                prepared.shape if shape is None else shape,
                                max((f.score for f in findings), default=0.0), prepared.recipe.mm_per_px,
                                heat_map=heat)

    if isinstance(image, Frame):
        if not image.complete:
            return reject(ResultCode.NG_ACQUISITION, "frame is incomplete: part not inspected")
        pixels = image.pixels
    else:
        pixels = image
    try:
        grey = to_grey8(pixels, what="part image")
    except ImageError as exc:
        return reject(ResultCode.NG_ACQUISITION, str(exc))
    if grey.shape != prepared.shape:
        return reject(ResultCode.NG_ACQUISITION,  # stored with the frame's own size (issue #13)
                      f"part image is {grey.shape[1]}x{grey.shape[0]} px, the recipe expects "
                      f"{prepared.shape[1]}x{prepared.shape[0]} px", shape=(grey.shape[0], grey.shape[1]))
    t0 = time.perf_counter()
    try:
        prepared, alignment = _best_reference(prepared, grey)
        recipe = prepared.recipe
        timings["align"] = _ms(t0)
        if not alignment.ok:
            return reject(ResultCode.NG_ALIGNMENT, f"cannot align: {alignment.reason}", alignment)
        t1 = time.perf_counter()
        aligned, valid = warp_to_reference(grey, alignment, prepared.shape)
        with_map = getattr(detector, "detect_with_map", None)
        heat: HeatMap | None = None
        if with_map is not None:  # a detector that also says where it saw the part deviate
            found, heat = with_map(prepared, aligned, valid)
            findings = tuple(found)
        else:
            findings = tuple(detector.detect(prepared, aligned, valid))
        timings["detect"] = _ms(t1)
        if alignment.coverage < recipe.min_coverage - 1e-9:
            # what was seen is reported, but a part not seen completely is never a pass
            return reject(ResultCode.NG_ALIGNMENT,
                          f"part not completely inspected: the image covers {alignment.coverage:.1%} "
                          f"of the inspection region (required {recipe.min_coverage:.1%})", alignment,
                          findings, heat=heat)
    except InspectionError as exc:
        logger.warning("inspection failed: %s", exc)
        return reject(ResultCode.NG_RUNTIME, f"{exc.key}: {exc}")
    except Exception as exc:  # a detector bug must reject the part, not crash the station
        logger.exception("detector error")
        return reject(ResultCode.NG_RUNTIME, f"detector error: {type(exc).__name__}: {exc}")
    t2 = time.perf_counter()
    reported = [f for f in findings if f.reported]
    code = ResultCode.NG_DEFECT if reported else ResultCode.OK
    message = f"{len(reported)} defect(s)" if reported else "no defect"
    reference = ""
    if variants:  # judged against the reference it matches best: the result names which
        reference = prepared.reference_name
        message += f" (reference: {reference})"
    timings["decide"] = _ms(t2)
    return InspectionResult(code, findings, alignment, message, timings, recipe_id, prepared.shape,
                            max((f.score for f in findings), default=0.0), prepared.recipe.mm_per_px,
                            reference, heat)


def _best_reference(prepared: PreparedRecipe, grey: np.ndarray) -> tuple[PreparedRecipe, Alignment]:
    """The golden reference (of the recipe's main golden and its variants) the part matches best:
    the highest alignment score among those it aligns to (ties: the first, main golden first)."""
    best = prepared
    best_al = _align(prepared, grey)
    for variant in prepared.variants:
        al = _align(variant, grey)
        if (al.ok, al.score) > (best_al.ok, best_al.score):
            best, best_al = variant, al
    return best, best_al


def _align(prepared: PreparedRecipe, grey: np.ndarray) -> Alignment:
    from inspection.vision.align import align

    return align(prepared.align_model, grey, prepared.recipe.align, roi=prepared.recipe.roi_rect)
