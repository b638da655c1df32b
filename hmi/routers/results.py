"""Result history (filters, paging, stored images) and the operator review of rejects."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import FileResponse

from hmi.auth.roles import Role
from hmi.deps import Ctx, OperatorUser
from hmi.routers.live import ResultIdPath
from hmi.schemas import ResultPage, ReviewIn
from inspection.store import ResultQuery, ReviewStatus

router = APIRouter(prefix="/api/results", tags=["history"])

MAX_NS = 2**63 - 1
COUNT_CAP = 10_000  # a page's total counts at most this many (then "10000+"): cheap at any store size


def _ns(when: datetime | None, name: str) -> int | None:
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.astimezone()  # a time without zone is local time (what the operator typed)
    try:
        ns = int(when.timestamp() * 1e9)
    except (OverflowError, OSError, ValueError) as exc:
        raise HTTPException(422, f"{name}: time out of range") from exc
    return max(0, min(ns, MAX_NS))


def result_filters(
    verdict: Literal["pass", "reject"] | None = None,
    code: Annotated[int | None, Query(ge=1, le=255)] = None,
    recipe_id: Annotated[str | None, Query(max_length=64)] = None,
    review: Literal["none", "confirmed", "overridden", "pending"] | None = Query(
        None, description="pending: rejects not reviewed yet"),
    part: Annotated[str | None, Query(max_length=64, description=(
        "the part id, or the start of the serial; '*text' finds text anywhere in the serial "
        "(slow on a large store: no index can help)"))] = None,
    trigger_seq: Annotated[int | None, Query(ge=0, le=65535)] = None,
    since: Annotated[datetime | None,
                     Query(description="ISO 8601; without a zone: station local time")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601, exclusive")] = None,
    has_image: bool | None = None,
) -> ResultQuery:
    """The history's filters (shared by /api/results, /api/results.csv and the bulk review)."""
    return ResultQuery(verdict=verdict, code=code, recipe_id=recipe_id, review=review, part=part,
                       trigger_seq=trigger_seq, since_ns=_ns(since, "since"), until_ns=_ns(until, "until"),
                       has_image=has_image)


Filters = Annotated[ResultQuery, Depends(result_filters)]


@router.get("", response_model=ResultPage)
def history(
    ctx: Ctx, user: OperatorUser, filters: Filters,
    before_seq: Annotated[int | None, Query(ge=1, le=MAX_NS)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ResultPage:
    """Stored results, newest first, filtered; page with ``before_seq``."""
    q = dataclasses.replace(filters, before_seq=before_seq, limit=limit)
    items = ctx.store.query(q)
    total = ctx.store.count(filters, cap=COUNT_CAP + 1)
    nxt = items[-1].seq if len(items) == limit else None
    return ResultPage(items=[r.to_dict() for r in items], total=min(total, COUNT_CAP), next_before_seq=nxt,
                      next_after_seq=None, total_capped=total > COUNT_CAP)


@router.get("/{result_id}", response_model=dict[str, Any], responses={404: {}})
def result(result_id: ResultIdPath, ctx: Ctx, user: OperatorUser) -> dict[str, Any]:
    return ctx.store.require(result_id).to_dict()


@router.get("/{result_id}/image", response_class=FileResponse,
            responses={200: {"content": {"image/png": {}, "image/jpeg": {}}}, 404: {}})
def result_image(result_id: ResultIdPath, ctx: Ctx, user: OperatorUser,
                 overlay: bool = False) -> FileResponse:
    """The stored image file: the raw PNG, or with ``overlay`` the JPEG with the findings drawn."""
    path = ctx.store.image_file(result_id, overlay=overlay)
    return FileResponse(path, media_type="image/jpeg" if overlay else "image/png",
                        headers={"Cache-Control": "private, max-age=86400"})


@router.post("/{result_id}/review", response_model=dict[str, Any],
             responses={404: {}, 409: {"description": "not a reject, or reviewed already"}})
def review(result_id: ResultIdPath, body: ReviewIn, ctx: Ctx, user: OperatorUser) -> dict[str, Any]:
    """Review a reject: ``confirmed`` (it is bad) or ``overridden`` (it is good; a reason is
    required). An operator reviews once; an engineer may change a review. Audited."""
    if ctx.store.get(result_id) is None and any(p.result_id == result_id
                                                for p in ctx.station.recent_parts(64)):
        ctx.store.flush(2.0)  # a part this new may still be on its way to the database
    stored = ctx.store.review(result_id, decision=ReviewStatus(body.decision), user=user.username,
                              reason=body.reason, may_change=user.role.allows(Role.ENGINEER))
    return stored.to_dict()


review_router = APIRouter(prefix="/api/review", tags=["history"])


@review_router.get("/pending", response_model=ResultPage)
def pending(ctx: Ctx, user: OperatorUser, filters: Filters,
            limit: Annotated[int, Query(ge=1, le=500)] = 50,
            order: Literal["oldest", "newest"] = "oldest",
            before_seq: Annotated[int | None, Query(ge=1, le=MAX_NS, description="newest first: page")] = None,
            after_seq: Annotated[int | None, Query(ge=0, le=MAX_NS, description="oldest first: page")] = None,
            ) -> ResultPage:
    """Rejects waiting for an operator's review (with the history's filters), oldest first by
    default: page with ``after_seq`` (oldest first) or ``before_seq`` (newest first)."""
    base = dataclasses.replace(filters, review="pending")
    oldest = order == "oldest"
    q = dataclasses.replace(base, limit=limit, oldest_first=oldest,
                            after_seq=after_seq if oldest else None, before_seq=None if oldest else before_seq)
    items = ctx.store.query(q)
    total = ctx.store.count(base, cap=COUNT_CAP + 1)
    full = len(items) == limit
    return ResultPage(items=[r.to_dict() for r in items], total=min(total, COUNT_CAP),
                      total_capped=total > COUNT_CAP,
                      next_before_seq=items[-1].seq if full and not oldest else None,
                      next_after_seq=items[-1].seq if full and oldest else None)


@review_router.post("/confirm", response_model=dict[str, Any])
def confirm_filtered(ctx: Ctx, user: OperatorUser, filters: Filters,
                     limit: Annotated[int, Query(ge=1, le=5000, description="at most this many")] = 500,
                     ) -> dict[str, Any]:
    """Bulk review: confirm as NG the pending rejects that match the history's filters (oldest
    first, at most ``limit``). Each is audited like a single review."""
    ids = ctx.store.confirm_pending(dataclasses.replace(filters, review="pending"), user=user.username,
                                    limit=limit)
    left = ctx.store.count(dataclasses.replace(filters, review="pending"), cap=COUNT_CAP)
    return {"confirmed": len(ids), "result_ids": ids, "pending_left": left}
