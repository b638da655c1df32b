"""Station state, PLC link, arm/disarm, counters and timings."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Query

from hmi.deps import Ctx, EngineerUser, OperatorUser
from hmi.schemas import CountersOut, StageOut, StatusOut, TimingsOut

router = APIRouter(prefix="/api", tags=["station"])


def _status(ctx: Ctx) -> StatusOut:
    return StatusOut(**ctx.station.status().to_dict())  # type: ignore[arg-type]


@router.get("/station", response_model=StatusOut)
def station(ctx: Ctx, user: OperatorUser) -> StatusOut:
    """State (PLC contract codes), armed, active recipe, PLC connection."""
    return _status(ctx)


@router.get("/station/store", response_model=dict[str, Any])
def store_stats(ctx: Ctx, user: OperatorUser) -> dict[str, Any]:
    """The result store: writer queue and counters (dropped records/images), disk state, size."""
    w = ctx.store.stats()
    last = ctx.store.writer.last_retention
    return {**dataclasses.asdict(w), "db_bytes": ctx.store.db_bytes(),
            "free_bytes": None if last is None else last.free_bytes,
            "save_pass_every": ctx.store.config.save_pass_every}


@router.post("/station/arm", response_model=StatusOut)
def arm(ctx: Ctx, user: EngineerUser) -> StatusOut:
    """Let the station accept triggers. Audited."""
    ctx.station.arm(user=user.username)
    return _status(ctx)


@router.post("/station/disarm", response_model=StatusOut)
def disarm(ctx: Ctx, user: EngineerUser) -> StatusOut:
    """Stop accepting triggers (the PLC gets no PASS while disarmed). Audited."""
    ctx.station.disarm(user=user.username)
    return _status(ctx)


@router.get("/stats/counters", response_model=CountersOut)
def counters(ctx: Ctx, user: OperatorUser) -> CountersOut:
    return CountersOut(**ctx.station.counters().to_dict())  # type: ignore[arg-type]


@router.post("/stats/counters/clear", response_model=CountersOut)
def clear_counters(ctx: Ctx, user: EngineerUser) -> CountersOut:
    """Start counting from zero (the stored history stays). Audited."""
    return CountersOut(**ctx.station.clear_counters(user=user.username).to_dict())  # type: ignore[arg-type]


@router.get("/stats/timings", response_model=TimingsOut)
def timings(ctx: Ctx, user: OperatorUser, n: Annotated[int, Query(ge=1, le=1000)] = 120) -> TimingsOut:
    """Per-stage P50/P99 over the station's window and the last ``n`` parts' times (for the plot)."""
    hub = getattr(ctx.station, "hub", None)
    series = hub.timing_series(n) if hub is not None else [
        {"result_id": p.result_id, "cycle_ms": round(p.cycle_ms, 3), "timings_ms": p.result.timings_ms}
        for p in reversed(ctx.station.recent_parts(n))]
    stages = {k: StageOut(**v.to_dict()) for k, v in ctx.station.stage_stats().items()}  # type: ignore[arg-type]
    return TimingsOut(stages=stages, series=series)
