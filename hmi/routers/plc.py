"""Commissioning view of the PLC link: the station's status block as the PLC reads it (with the STS
bits named, and the bits seen during the last second: READY, TRIG_ACK and RESULT_VALID last a few
milliseconds at line rate) and the last handshakes (answers given to the PLC)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from hmi.deps import Ctx, OperatorUser
from inspection.plc.contract import StnReg, Sts

router = APIRouter(prefix="/api/plc", tags=["station"])
STS_SEEN_S = 1.0  # the page refreshes every second: nothing set in between goes unseen


def _names(sts: int | None) -> list[str]:
    return [] if sts is None else [b.name for b in Sts if sts & b and b.name]


@router.get("/registers", response_model=dict[str, Any])
def registers(ctx: Ctx, user: OperatorUser, n: Annotated[int, Query(ge=1, le=50)] = 10) -> dict[str, Any]:
    """HR100-126 (address, name, value), the STS bits that are set, and the last ``n`` handshakes,
    newest first. Empty lists when the station runs without a PLC (the demo's in-process feed)."""
    regs = ctx.station.plc_registers()
    sts = next((v for a, _, v in regs if a == StnReg.STS), None)
    seen = ctx.station.plc_sts_seen(STS_SEEN_S)
    return {"registers": [{"address": a, "name": name, "value": v, "hex": f"0x{v:04X}"} for a, name, v in regs],
            "sts_bits": _names(sts), "sts_seen_bits": _names(seen), "sts_seen_s": STS_SEEN_S,
            "handshakes": ctx.station.plc_handshakes(n), "plc": ctx.station.status().plc.to_dict()}
