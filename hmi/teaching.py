"""Guarded teaching: which part may become a golden reference, and how it differs from the current one.

A part is refused as a golden reference when it was rejected (any NG code), when it was not aligned,
or when its alignment score is below the recipe's ``align_min_score``. An engineer may teach it anyway
with a written reason (kept with the version and in the audit log). The difference between a
candidate and the current golden is computed after registering the shift (phase correlation), and
shown as a heat map over the golden.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from hmi.context import HmiContext
from hmi.routers.live import part_dict
from hmi.teach_parts import refusals
from inspection.errors import StationError
from inspection.station.port import GoldenInfo
from inspection.vision.geometry import rigid_matrix

MIN_REASON = 3
CHANGED_FRACTION = 0.25  # a pixel "changed" when it moved by this fraction of the golden's contrast


def candidate_part(ctx: HmiContext, result_id: str | None) -> dict[str, Any]:
    """The part a teach would use: ``result_id``, or the last part."""
    if result_id is None:
        recent = ctx.station.recent_parts(1)
        if not recent:
            raise StationError("no part to teach from: run a part first or upload an image",
                               key="nothing_to_teach")
        return {**recent[0].to_dict(), "stored": False}
    found = part_dict(ctx, result_id)
    if found is None:
        raise StationError(f"no part {result_id} (not recent and not stored)", key="unknown_result")
    return found


def candidate_image(ctx: HmiContext, result_id: str) -> np.ndarray:
    image = ctx.station.part_image(result_id)
    if image is None:
        path = ctx.store.image_file(result_id)  # StoreError no_image / unknown_result
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise StationError(f"the stored image of {result_id} is unreadable", key="no_image")
    return image


def min_align_score(ctx: HmiContext, recipe_id: str) -> float | None:
    for r in ctx.station.recipes():
        if r.recipe_id == recipe_id:
            v = r.thresholds.get("align_min_score")
            return None if v is None else float(v)
    raise StationError(f"unknown recipe {recipe_id!r}", key="unknown_recipe")


def source_of(part: dict[str, Any]) -> str:
    serial = part.get("part_id_str") or part.get("part_id") or "?"
    return f"part {serial} (result {part['result_id']}, {part.get('code_name', '?')})"


def refuse_single_part_goodset(ctx: HmiContext, recipe_id: str) -> None:
    """A good-set recipe has no golden reference to take from one part: it is taught from N good
    parts (409 ``teach_unsupported`` otherwise, and the taught model stays)."""
    get = getattr(ctx.station, "teach_recipe", None)
    if get is not None and get(recipe_id).detector == "goodset":
        raise StationError(f"recipe {recipe_id!r} judges parts with a good-set model, not against a golden "
                           "reference: teach it from N good parts ('Teach from N good parts', "
                           "POST /api/recipes/{id}/teach/parts) or with 'inspection teach --detector goodset'",
                           key="teach_unsupported")


def guarded_teach(ctx: HmiContext, recipe_id: str, result_id: str | None, *, user: str,
                  override_reason: str | None) -> GoldenInfo:
    refuse_single_part_goodset(ctx, recipe_id)
    part = candidate_part(ctx, result_id)
    why = refusals(part, min_align_score(ctx, recipe_id))
    reason = (override_reason or "").strip()
    if why and len(reason) < MIN_REASON:
        raise StationError(f"part {part.get('part_id_str') or part['result_id']} is refused as a golden "
                           f"reference: {'; '.join(why)}. An engineer can teach it anyway with a reason.",
                           key="teach_refused")
    image = candidate_image(ctx, part["result_id"])
    note = f"{reason} (refused: {'; '.join(why)})" if why else ""
    return ctx.station.teach_golden(recipe_id, user=user, image=image, source=source_of(part), reason=note)


# ---- the difference view ---------------------------------------------------------------------

def _gray(img: np.ndarray) -> np.ndarray:
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY if img.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    g = img.astype(np.float32)
    if img.dtype == np.uint16:
        g /= 257.0
    return g


@dataclass(frozen=True)
class Difference:
    heat: np.ndarray  # BGR uint8, the golden's size
    changed_pct: float
    mean_pct: float
    shift_px: tuple[float, float]

    def to_dict(self) -> dict[str, object]:
        return {"changed_pct": self.changed_pct, "mean_pct": self.mean_pct,
                "shift_px": [round(self.shift_px[0], 2), round(self.shift_px[1], 2)]}


def difference(golden: np.ndarray, candidate: np.ndarray, alignment: dict[str, Any] | None = None) -> Difference:
    """|candidate - golden| after registration, as a heat map over the golden. Registration: the
    part's own alignment (rigid, from the inspection) when given, a shift by phase correlation, or
    none, whichever leaves the smallest difference (a periodic pattern can fool the correlation);
    then the candidate's brightness and contrast are matched to the golden's."""
    g = _gray(golden)
    c = _gray(candidate)
    h, w = g.shape
    if c.shape != g.shape:
        c = cv2.resize(c, (w, h), interpolation=cv2.INTER_AREA)
    win = cv2.createHanningWindow((w, h), cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(g, c, win)
    options: list[tuple[np.ndarray, tuple[float, float]]] = [
        (c, (0.0, 0.0)),
        (cv2.warpAffine(c, np.array([[1, 0, -dx], [0, 1, -dy]], np.float32), (w, h),
                        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), (float(dx), float(dy)))]
    if alignment and alignment.get("ok") and alignment.get("shift_px"):
        sx, sy = (float(v) for v in alignment["shift_px"])
        m = rigid_matrix(sx, sy, float(alignment.get("angle_deg", 0.0)))
        options.append((cv2.warpAffine(c, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                       borderMode=cv2.BORDER_REPLICATE), (sx, sy)))
    best: tuple[float, np.ndarray, tuple[float, float]] | None = None
    for moved, shift in options:
        sd = float(moved.std()) or 1.0
        norm = (moved - float(moved.mean())) * (float(g.std()) / sd) + float(g.mean())
        d = np.abs(norm - g)
        err = float(d.mean())
        if best is None or err < best[0]:
            best = (err, d, shift)
    assert best is not None
    _, d, (dx, dy) = best
    lo, hi = np.percentile(g, [1, 99])
    contrast = max(float(hi - lo), 1.0)
    rel = d / contrast
    heat = cv2.applyColorMap(np.clip(rel * 2.0 * 255.0, 0, 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    base = cv2.cvtColor(np.clip(g, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    out = cv2.addWeighted(base, 0.35, heat, 0.65, 0.0)
    return Difference(out, round(100.0 * float((rel > CHANGED_FRACTION).mean()), 3),
                      round(100.0 * float(rel.mean()), 3), (float(dx), float(dy)))
