"""The teach view (candidate beside the current golden, with the difference) and golden versions
with rollback. The guarded teach itself is ``POST /api/recipes/{recipe_id}/teach`` (recipes router)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response

from hmi.deps import Ctx, EngineerUser, OperatorUser
from hmi.imaging import encode_jpeg
from hmi.routers.live import JPEG
from hmi.schemas import GoldenOut, ResultId, RollbackIn
from hmi.teaching import candidate_image, candidate_part, difference, min_align_score, refusals
from inspection.errors import InspectionError

router = APIRouter(prefix="/api/recipes", tags=["recipes"])

RecipePath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
VersionPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")]


def _current(ctx: Ctx, recipe_id: str) -> str | None:
    for r in ctx.station.recipes():
        if r.recipe_id == recipe_id:
            return None if r.golden is None else r.golden.version
    return None


@router.get("/{recipe_id}/teach/candidate", response_model=dict[str, Any], responses={404: {}, 409: {}})
def candidate(recipe_id: RecipePath, ctx: Ctx, user: EngineerUser,
              result_id: Annotated[ResultId | None, Query(description="default: the last part")] = None,
              ) -> dict[str, Any]:
    """What teaching this part would do: the part, why it would be refused (empty: it may be
    taught), the current golden, and how much the part differs from it."""
    part = candidate_part(ctx, result_id)
    min_score = min_align_score(ctx, recipe_id)
    why = refusals(part, min_score)
    golden = ctx.station.golden_image(recipe_id)
    diff = None
    has_image = True
    try:
        image = candidate_image(ctx, part["result_id"])
    except InspectionError:  # no image kept for this part: it cannot be taught at all
        has_image = False
    else:
        if golden is not None:
            diff = difference(golden, image, part.get("alignment")).to_dict()
    al = part.get("alignment") or {}
    return {"result_id": part["result_id"], "part_id_str": part.get("part_id_str", ""),
            "decided_ns": part.get("decided_ns"), "verdict": part.get("verdict"),
            "code_name": part.get("code_name"), "alignment_score": al.get("score"),
            "align_min_score": min_score, "refusals": why, "allowed": not why and has_image,
            "has_image": has_image, "golden_version": _current(ctx, recipe_id), "difference": diff}


@router.get("/{recipe_id}/teach/diff", response_class=Response, responses={**JPEG, 404: {}})
def diff_image(recipe_id: RecipePath, ctx: Ctx, user: EngineerUser,
               result_id: Annotated[ResultId | None, Query(description="default: the last part")] = None,
               width: Annotated[int, Query(ge=32, le=4096)] = 800) -> Response:
    """Heat map of |candidate - current golden| after registering the shift (bright: different)."""
    part = candidate_part(ctx, result_id)
    golden = ctx.station.golden_image(recipe_id)
    if golden is None:
        raise HTTPException(404, f"recipe {recipe_id!r} has no golden reference yet")
    d = difference(golden, candidate_image(ctx, part["result_id"]), part.get("alignment"))
    data = encode_jpeg(d.heat, max_width=width, quality=ctx.settings.jpeg_quality)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-cache"})


@router.get("/{recipe_id}/difference", response_class=Response, responses={**JPEG, 404: {}})
def part_difference(recipe_id: RecipePath, result_id: Annotated[ResultId, Query()], ctx: Ctx, user: OperatorUser,
                    width: Annotated[int, Query(ge=32, le=4096)] = 800) -> Response:
    """For review: heat map of where a part differs from the recipe's golden (bright: differs),
    registered like the teach view's."""
    part = candidate_part(ctx, result_id)
    golden = ctx.station.golden_image(recipe_id)
    if golden is None:
        raise HTTPException(404, f"recipe {recipe_id!r} has no golden reference yet")
    d = difference(golden, candidate_image(ctx, part["result_id"]), part.get("alignment"))
    data = encode_jpeg(d.heat, max_width=width, quality=ctx.settings.jpeg_quality)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/{recipe_id}/golden/versions", response_model=list[dict[str, Any]], responses={404: {}})
def versions(recipe_id: RecipePath, ctx: Ctx, user: OperatorUser) -> list[dict[str, Any]]:
    """Every golden reference the recipe had, newest first; ``current`` marks the one in use."""
    kept = ctx.station.golden_versions(recipe_id)
    cur = _current(ctx, recipe_id)
    return [{**v.to_dict(), "current": v.version == cur} for v in kept]


@router.get("/{recipe_id}/golden/versions/{version}/image", response_class=Response,
            responses={**JPEG, 404: {}})
def version_image(recipe_id: RecipePath, version: VersionPath, ctx: Ctx, user: OperatorUser,
                  width: Annotated[int, Query(ge=32, le=8192)] = 800) -> Response:
    img = ctx.station.golden_version_image(recipe_id, version)
    if img is None:
        raise HTTPException(404, f"recipe {recipe_id!r} has no golden version {version!r}")
    data = encode_jpeg(img, max_width=width, quality=ctx.settings.jpeg_quality)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


@router.post("/{recipe_id}/golden/rollback", response_model=GoldenOut, responses={404: {}})
def rollback(recipe_id: RecipePath, body: RollbackIn, ctx: Ctx, user: EngineerUser) -> GoldenOut:
    """Make a kept earlier golden reference current again (applied between cycles). Audited."""
    info = ctx.station.rollback_golden(recipe_id, body.version, user=user.username)
    return GoldenOut(**info.to_dict())  # type: ignore[arg-type]
