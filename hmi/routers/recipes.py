"""Recipes, golden references (view, teach) and detection thresholds."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from hmi.deps import Ctx, EngineerUser, OperatorUser
from hmi.imaging import decode_upload, encode_jpeg
from hmi.routers.live import JPEG
from hmi.schemas import (
    GoldenOut,
    RecipeId,
    RecipeOut,
    RecipeSelectIn,
    TeachIn,
    ThresholdsIn,
    ThresholdsOut,
    ThresholdSpecOut,
)
from hmi.teaching import guarded_teach, refuse_single_part_goodset
from inspection.errors import StationError

router = APIRouter(prefix="/api", tags=["recipes"])

RecipePath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def _recipe_out(ctx: Ctx, recipe_id: str) -> RecipeOut:
    for r in ctx.station.recipes():
        if r.recipe_id == recipe_id:
            return RecipeOut(**r.to_dict())  # type: ignore[arg-type]
    raise StationError(f"unknown recipe {recipe_id!r}", key="unknown_recipe")


@router.get("/recipes", response_model=list[RecipeOut])
def recipes(ctx: Ctx, user: OperatorUser) -> list[RecipeOut]:
    return [RecipeOut(**r.to_dict()) for r in ctx.station.recipes()]  # type: ignore[arg-type]


@router.post("/recipes/active", response_model=RecipeOut, responses={404: {}})
def select(body: RecipeSelectIn, ctx: Ctx, user: EngineerUser) -> RecipeOut:
    """Make a recipe active (applied between cycles). Audited."""
    return RecipeOut(**ctx.station.select_recipe(body.recipe_id, user=user.username).to_dict())  # type: ignore[arg-type]


@router.get("/recipes/{recipe_id}/golden", response_class=Response, responses={**JPEG, 404: {}})
def golden(recipe_id: RecipePath, ctx: Ctx, user: OperatorUser,
           width: Annotated[int, Query(ge=32, le=8192)] = 1200) -> Response:
    """The recipe's golden reference image as JPEG."""
    img = ctx.station.golden_image(recipe_id)
    if img is None:
        raise HTTPException(404, f"recipe {recipe_id!r} has no golden reference yet")
    data = encode_jpeg(img, max_width=width, quality=ctx.settings.jpeg_quality)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-cache"})


@router.post("/recipes/{recipe_id}/teach", response_model=GoldenOut, responses={404: {}, 409: {}})
def teach(recipe_id: RecipePath, body: TeachIn, ctx: Ctx, user: EngineerUser) -> GoldenOut:
    """Teach the golden reference from a part (default: the last one). A part that was NG, not
    aligned, or below the recipe's alignment score is refused (409 ``teach_refused``) unless
    ``override_reason`` says why it is taught anyway. The old golden stays as a version. A good-set
    recipe: 409 ``teach_unsupported`` (taught from N good parts). Audited."""
    info = guarded_teach(ctx, recipe_id, body.result_id, user=user.username,
                         override_reason=body.override_reason)
    return GoldenOut(**info.to_dict())  # type: ignore[arg-type]


_HEAVY = threading.BoundedSemaphore(1)  # image decodes from the HMI: one at a time


@router.post("/recipes/{recipe_id}/teach/upload", response_model=GoldenOut,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                 "image/png": {"schema": {"type": "string", "format": "binary"}},
                 "image/jpeg": {"schema": {"type": "string", "format": "binary"}}}}},
             responses={404: {}, 409: {}, 413: {}, 422: {}})
async def teach_upload(recipe_id: RecipePath, request: Request, ctx: Ctx, user: EngineerUser) -> GoldenOut:
    """Teach the golden reference from an uploaded image file (PNG, JPEG, BMP, TIFF as the request
    body). A good-set recipe: 409 ``teach_unsupported`` (taught from N good parts). Audited."""
    refuse_single_part_goodset(ctx, recipe_id)
    limit = ctx.settings.max_upload_bytes
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"the image is larger than {limit // 1024**2} MB")
        chunks.append(chunk)
    data = b"".join(chunks)

    def work() -> GoldenOut:  # decoding and re-preparing the recipe: off the event loop, one at a time
        with _HEAVY:
            image = decode_upload(data, max_pixels=ctx.settings.max_upload_pixels)
            info = ctx.station.teach_golden(recipe_id, user=user.username, image=image)
        return GoldenOut(**info.to_dict())  # type: ignore[arg-type]

    return await run_in_threadpool(work)


@router.get("/settings/thresholds", response_model=ThresholdsOut, responses={404: {}})
def get_thresholds(ctx: Ctx, user: EngineerUser,
                   recipe_id: Annotated[RecipeId | None, Query()] = None) -> ThresholdsOut:
    """The thresholds of a recipe (default: the active one) with their ranges."""
    rid = recipe_id or ctx.station.status().active_recipe
    r = _recipe_out(ctx, rid)
    return ThresholdsOut(recipe_id=rid, values=r.thresholds,
                         specs=[ThresholdSpecOut(**s.to_dict()) for s in ctx.station.threshold_specs()])  # type: ignore[arg-type]


@router.put("/settings/thresholds", response_model=ThresholdsOut, responses={404: {}})
def put_thresholds(body: ThresholdsIn, ctx: Ctx, user: EngineerUser) -> ThresholdsOut:
    """Change thresholds (each checked against its range; applied between cycles). Audited."""
    info = ctx.station.set_thresholds(body.values, user=user.username, recipe_id=body.recipe_id)
    return ThresholdsOut(recipe_id=info.recipe_id, values=dict(info.thresholds),
                         specs=[ThresholdSpecOut(**s.to_dict()) for s in ctx.station.threshold_specs()])  # type: ignore[arg-type]
