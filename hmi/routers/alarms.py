"""Process alarms (N rejects in a row, yield over a window): the banner's state and acknowledge."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from hmi.deps import Ctx, OperatorUser

router = APIRouter(prefix="/api/alarms", tags=["alarms"])

AlarmName = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[a-z_]+$")]


@router.get("", response_model=list[dict[str, Any]])
def alarms(ctx: Ctx, user: OperatorUser) -> list[dict[str, Any]]:
    """Every alarm: active (raised, not both cleared and acknowledged), its condition now, who
    acknowledged it and when, and its value (rejects in a row; yield % over the window)."""
    return [a.to_dict() for a in ctx.station.alarms()]


@router.post("/{name}/ack", response_model=dict[str, Any], responses={404: {}})
def acknowledge(name: AlarmName, ctx: Ctx, user: OperatorUser) -> dict[str, Any]:
    """Acknowledge an alarm (any signed-in user; audited). It clears when its condition has cleared."""
    return ctx.station.acknowledge_alarm(name, user=user.username).to_dict()
