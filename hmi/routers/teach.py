"""The teach view (candidate beside the current golden, with the difference) and golden versions
with rollback. The guarded teach itself is ``POST /api/recipes/{recipe_id}/teach`` (recipes router)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response
from pydantic import Field

from hmi.deps import Ctx, EngineerUser, OperatorUser
from hmi.imaging import encode_jpeg
from hmi.routers.live import JPEG
from hmi.schemas import GoldenOut, In, ResultId, RollbackIn
from hmi.teach_parts import MAX_PARTS, MIN_PARTS, TeachPartsJob, min_parts, read_stored_image, stored_parts
from hmi.teaching import candidate_image, candidate_part, difference, min_align_score, refusals
from inspection.errors import InspectionError, StationError

router = APIRouter(prefix="/api/recipes", tags=["recipes"])

job_router = APIRouter(prefix="/api/teach", tags=["recipes"])

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
    taught), the current golden, and how much the part differs from it. ``heat_map``: what the
    part's result keeps of its heat map (a good-set result's: kind, the judging model's threshold,
    the map's peak; see ``GET /api/parts/{id}/heatmap``), null when it has none or no image kept."""
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
            "has_image": has_image, "golden_version": _current(ctx, recipe_id), "difference": diff,
            "heat_map": part.get("heat_map") if has_image else None}


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
    # never taught on the station ("recipe": the recipe file's reference): its own reference is current
    return [{**v.to_dict(), "current": v.version == cur or (cur == "recipe" and v.taught_by == "recipe")}
            for v in kept]


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


class TeachPartsIn(In):
    source: Literal["stored", "selection", "line"] = Field(
        "stored", description="stored: the recipe's most recent stored good parts; selection: the parts "
                              "named in result_ids; line: the next good parts the station inspects")
    count: Annotated[int, Field(ge=MIN_PARTS, le=MAX_PARTS)] = Field(10, description="N good parts to teach from")
    result_ids: Annotated[list[ResultId], Field(max_length=MAX_PARTS)] | None = Field(
        None, description="with source=selection: the parts (each must be a stored good part)")
    timeout_s: Annotated[float, Field(ge=5, le=7200)] = Field(
        900, description="with source=line: give up after this long")


def _teach_recipe(ctx: Ctx, recipe_id: str) -> Any:
    info = next((r for r in ctx.station.recipes() if r.recipe_id == recipe_id), None)
    if info is None:
        raise StationError(f"unknown recipe {recipe_id!r}", key="unknown_recipe")
    get = getattr(ctx.station, "teach_recipe", None)
    if get is None:
        raise StationError("teaching from good parts needs the running station's recipes; use "
                           "'inspection teach'", key="teach_unsupported")
    return info, get(recipe_id)


@router.post("/{recipe_id}/teach/parts", response_model=dict[str, Any], status_code=202,
             responses={404: {}, 409: {}})
def teach_parts(recipe_id: RecipePath, body: TeachPartsIn, ctx: Ctx, user: EngineerUser) -> dict[str, Any]:
    """Teach the recipe from N good parts in the background, like ``inspection teach``: golden
    reference, variation model (tolerance band) and its widening; for a good-set recipe, a new
    good-set model with the settings of its current one. NG, unaligned parts and parts below the
    recipe's alignment score are refused and counted. Fewer usable parts than needed: 409
    ``too_few_good_parts``; a job already running: 409 ``teach_busy``. The result is a new golden
    version (audited) carrying the model, applied between cycles; a rollback restores the previous
    one. Follow it with ``GET /api/teach/job``."""
    info, recipe = _teach_recipe(ctx, recipe_id)
    cur = ctx.teach_jobs.current()
    if cur is not None and cur.running:
        raise StationError(f"a teach job for {cur.recipe_id} is running ({cur.phase}): wait for it or cancel it",
                           key="teach_busy")
    if body.source == "selection":
        if not body.result_ids:
            raise StationError("source 'selection' needs result_ids", key="no_parts_selected")
        ids = list(dict.fromkeys(body.result_ids))
        needed = len(ids)
    else:
        if body.result_ids:
            raise StationError("result_ids go with source 'selection'", key="no_parts_selected")
        ids, needed = [], body.count
    min_score = info.thresholds.get("align_min_score")
    job = TeachPartsJob(recipe_id, info.number, recipe, user.username, body.source, needed,
                        None if min_score is None else float(min_score), timeout_s=body.timeout_s)
    if body.source != "line":
        stored_parts(ctx.store, job, image=read_stored_image(ctx.store),
                     ids=ids if body.source == "selection" else None)
        fewest = min_parts(recipe)
        want = fewest if body.source == "selection" else max(needed, fewest)
        if len(job.parts) < want:
            kinds = job.to_dict()["refused_by_reason"]
            why = ", ".join(f"{n} {k}" for k, n in kinds.items()) or "none refused"
            raise StationError(f"{len(job.parts)} usable good part(s) of recipe {recipe_id!r}, {want} needed "
                               f"(refused: {why})", key="too_few_good_parts")
        job.needed = len(job.parts)
        job.phase = "teaching"
    ctx.teach_jobs.start(job, ctx.station, collect_line=body.source == "line")
    return job.to_dict()


@job_router.get("/job", response_model=dict[str, Any])
def teach_job(ctx: Ctx, user: EngineerUser) -> dict[str, Any]:
    """The teach-from-parts job: phase (collecting, teaching, done, failed, cancelled), parts
    collected of needed, refused parts counted by reason, the result (``job`` null: none yet)."""
    job = ctx.teach_jobs.current()
    return {"job": None if job is None else job.to_dict()}


@job_router.post("/job/cancel", response_model=dict[str, Any], responses={409: {}})
def cancel_teach_job(ctx: Ctx, user: EngineerUser) -> dict[str, Any]:
    """Cancel the running teach job (409 ``no_teach_job`` when none runs); the golden stays."""
    job = ctx.teach_jobs.cancel()
    ctx.store.audit(user=user.username, action="teach_parts_cancel", target=f"recipe:{job.recipe_id}",
                    old=job.phase, new="cancelled", detail=f"{len(job.parts)} of {job.needed} parts collected")
    return {"job": job.to_dict()}
