"""Commissioning view of the camera: the newest image with a focus measure and its exposure."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from fastapi import APIRouter

from hmi.deps import Ctx, OperatorUser

router = APIRouter(prefix="/api/camera", tags=["station"])


def image_quality(image: np.ndarray) -> dict[str, float]:
    """Focus (variance of the Laplacian: higher is sharper, compare between settings of one part),
    mean brightness (0-255) and the share of saturated and of black pixels."""
    g = image
    if g.ndim == 3:
        g = cv2.cvtColor(g, cv2.COLOR_BGRA2GRAY if g.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    if g.dtype == np.uint16:
        g = (g // 257).astype(np.uint8)
    g = g.astype(np.uint8, copy=False)
    lap = cv2.Laplacian(g, cv2.CV_64F)
    return {"focus": round(float(lap.var()), 2), "brightness": round(float(g.mean()), 2),
            "saturated_pct": round(100.0 * float((g >= 255).mean()), 3),
            "black_pct": round(100.0 * float((g == 0).mean()), 3)}


@router.get("/focus", response_model=dict[str, Any])
def focus(ctx: Ctx, user: OperatorUser) -> dict[str, Any]:
    """The newest part image still in the station's memory and its focus and exposure measures
    (``result_id`` null when no image is held: no part yet)."""
    for rec in ctx.station.recent_parts(16):
        image = ctx.station.part_image(rec.result_id)
        if image is not None:
            return {"result_id": rec.result_id, "decided_ns": rec.decided_ns,
                    "shape": [int(image.shape[0]), int(image.shape[1])], **image_quality(image)}
    return {"result_id": None}
