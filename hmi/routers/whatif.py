"""What-if on stored parts, the shadow recipe and variant golden references (engineers): what
changed thresholds would have decided, a candidate run beside the active recipe on live parts
(promoted or dropped, audited), and further golden references for allowed variants of a part.

Available on a running station (``station.lifecycle``, :mod:`inspection.station.lifecycle`); an HMI
in front of another :class:`~inspection.station.port.StationPort` answers 404 ``not_available``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from pydantic import Field

from hmi.deps import Ctx, EngineerUser
from hmi.schemas import FiniteFloat, In, ResultId
from inspection.station.lifecycle import RecipeLifecycle

router = APIRouter(prefix="/api", tags=["what-if and shadow"])

Values = Annotated[dict[Annotated[str, Field(max_length=64)], FiniteFloat], Field(min_length=1, max_length=64)]


class WhatIfIn(In):
    values: Values = Field(description="candidate thresholds for the active recipe (for a good-set "
                                       "recipe also anomaly_threshold, its model's threshold)")
    last: Annotated[int, Field(ge=1, le=2000)] = Field(500, description="judge the newest N stored parts")


class ShadowIn(In):
    values: Values = Field(description="candidate thresholds run beside the active recipe")


def _lifecycle(ctx: Ctx) -> RecipeLifecycle:
    lc = getattr(ctx.station, "lifecycle", None)
    if not isinstance(lc, RecipeLifecycle):
        raise HTTPException(404, "what-if and shadow recipes need a running station")
    return lc


def _for_hmi(report: dict[str, Any]) -> dict[str, Any]:
    report = dict(report)
    report["changed"] = [{k: v for k, v in c.items() if k != "image"}  # a path on the station; the
                         for c in report["changed"][:100]]              # HMI shows /api/results/{id}/image
    report["refused"] = report.get("refused", [])[:100]
    return report


@router.post("/whatif")
def whatif(body: WhatIfIn, ctx: Ctx, user: EngineerUser) -> dict[str, Any]:
    """Judge the newest stored parts of the active recipe with candidate thresholds: which would
    change verdict, what operators had said about them, and which parts could not be judged
    (``refused``, with why). Nothing is changed on the station."""
    return _for_hmi(_lifecycle(ctx).whatif(body.values, last=body.last, user=user.username).to_dict())


@router.get("/whatif")
def whatif_state(ctx: Ctx, user: EngineerUser) -> dict[str, Any]:
    """The what-if in progress (or null), the last one with its report (or null), and the
    parameters a what-if may set beyond the thresholds (``anomaly_threshold`` for a good-set
    recipe, with its value)."""
    state = _lifecycle(ctx).whatif_state()
    if state["last"] is not None:
        state["last"] = {**state["last"], "report": _for_hmi(state["last"]["report"])}
    return state


@router.get("/shadow")
def shadow(ctx: Ctx, user: EngineerUser) -> dict[str, Any]:
    """The running shadow recipe (or none), its counts and its newest disagreements."""
    return _lifecycle(ctx).shadow_status()


@router.post("/shadow")
def start_shadow(body: ShadowIn, ctx: Ctx, user: EngineerUser) -> dict[str, Any]:
    """Run candidate thresholds as a shadow beside the active recipe (off the PLC's path). Audited."""
    lc = _lifecycle(ctx)
    lc.start_shadow(body.values, user=user.username)
    return lc.shadow_status()


@router.post("/shadow/promote")
def promote_shadow(ctx: Ctx, user: EngineerUser) -> dict[str, Any]:
    """Make the shadow's thresholds the active recipe's (applied between cycles). Audited."""
    info = _lifecycle(ctx).promote_shadow(user=user.username)
    return {"recipe_id": info.recipe_id, "thresholds": dict(info.thresholds)}


@router.delete("/shadow")
def drop_shadow(ctx: Ctx, user: EngineerUser) -> dict[str, Any]:
    """Stop the shadow recipe without changing anything. Audited."""
    run = _lifecycle(ctx).drop_shadow(user=user.username)
    return {"dropped": run.to_dict()}


# ---- variant golden references ------------------------------------------------------------------
VariantName = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
RecipeKey = Annotated[str, PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
VariantKey = Annotated[str, PathParam(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]


class VariantIn(In):
    name: VariantName
    result_id: ResultId | None = Field(None, description="teach from this part (default: the last one)")


@router.get("/recipes/{recipe_id}/variants")
def variants(recipe_id: RecipeKey, ctx: Ctx, user: EngineerUser) -> list[dict[str, Any]]:
    """The recipe's taught variant references (further goldens a part may match)."""
    return [{"name": n, "shape": [int(img.shape[0]), int(img.shape[1])]}
            for n, img in _lifecycle(ctx).variants(recipe_id)]


@router.post("/recipes/{recipe_id}/variants")
def teach_variant(recipe_id: RecipeKey, body: VariantIn, ctx: Ctx, user: EngineerUser) -> dict[str, Any]:
    """Teach a variant reference from a part; each part is then judged against the golden it
    matches best, and its result names which. A new recipe version (kept for replay). Audited."""
    return _lifecycle(ctx).teach_variant(recipe_id, body.name, user=user.username, result_id=body.result_id)


@router.delete("/recipes/{recipe_id}/variants/{name}")
def remove_variant(recipe_id: RecipeKey, name: VariantKey, ctx: Ctx, user: EngineerUser) -> dict[str, Any]:
    """Remove a variant reference (a new recipe version). Audited."""
    _lifecycle(ctx).remove_variant(recipe_id, name, user=user.username)
    return {"removed": name}
