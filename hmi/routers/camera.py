"""Commissioning view of the camera: the newest image with a focus measure and its exposure, and
exposure and gain tried on the device before they are saved (engineers; refused while armed)."""

from __future__ import annotations

from typing import Annotated, Any

import cv2
import numpy as np
from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import Field

from hmi.deps import Ctx, EngineerUser, OperatorUser
from hmi.imaging import encode_jpeg
from hmi.routers.live import JPEG
from hmi.schemas import In
from inspection.station.camera_setup import CameraSetup

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


# ---- exposure and gain, tried on the device before saving (engineers) ---------------------------

class CameraTryIn(In):
    exposure_us: Annotated[float, Field(gt=0, le=10_000_000)] | None = Field(None, description="exposure time, µs")
    gain_db: Annotated[float, Field(ge=0, le=48)] | None = Field(None, description="gain, dB")


def _setup(ctx: Ctx) -> CameraSetup:
    cs = getattr(ctx.station, "camera_setup", None)
    if not isinstance(cs, CameraSetup):
        raise HTTPException(404, "camera settings need a running station with a camera")
    return cs


def _with_quality(cs: CameraSetup, out: dict[str, Any]) -> dict[str, Any]:
    img = cs.last_image
    return {**out, "quality": None if img is None else image_quality(img)}


@router.get("/settings", response_model=dict[str, Any], responses={404: {}})
def camera_settings(ctx: Ctx, user: EngineerUser) -> dict[str, Any]:
    """Exposure and gain: what the camera runs now, what is saved, and the last trial frame."""
    cs = _setup(ctx)
    return _with_quality(cs, cs.state())


@router.post("/try", response_model=dict[str, Any], responses={404: {}, 409: {}, 422: {}})
def camera_try(body: CameraTryIn, ctx: Ctx, user: EngineerUser) -> dict[str, Any]:
    """Apply exposure and/or gain to the camera now and grab the next image (``/api/camera/trial.jpg``)
    with its focus and brightness; not saved. Refused while the station is armed (409 ``station_armed``).
    Audited (old -> new)."""
    values = {k: v for k, v in body.model_dump().items() if v is not None}
    cs = _setup(ctx)
    return _with_quality(cs, cs.trial(values, user=user.username))


@router.post("/save", response_model=dict[str, Any], responses={404: {}, 409: {}})
def camera_save(ctx: Ctx, user: EngineerUser) -> dict[str, Any]:
    """Keep the exposure and gain the camera runs now (re-applied when the station starts). Audited."""
    cs = _setup(ctx)
    return _with_quality(cs, cs.save(user=user.username))


@router.post("/revert", response_model=dict[str, Any], responses={404: {}, 409: {}})
def camera_revert(ctx: Ctx, user: EngineerUser) -> dict[str, Any]:
    """Give the camera the saved exposure and gain back (and grab an image with them). Audited."""
    cs = _setup(ctx)
    return _with_quality(cs, cs.revert(user=user.username))


@router.get("/trial.jpg", response_class=Response, responses={**JPEG, 404: {}})
def camera_trial_image(ctx: Ctx, user: EngineerUser,
                       width: Annotated[int, Query(ge=32, le=4096)] = 800) -> Response:
    """The image grabbed by the last try or revert."""
    img = _setup(ctx).last_image
    if img is None:
        raise HTTPException(404, "no trial image yet: try a setting first")
    data = encode_jpeg(img, max_width=width, quality=ctx.settings.jpeg_quality)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
