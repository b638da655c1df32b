"""Commissioning view of the PLC link: the station's status block as the PLC reads it (with the STS
bits named) and the last handshakes (answers given to the PLC)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from hmi.deps import Ctx, OperatorUser
from inspection.plc.contract import StnReg, Sts

router = APIRouter(prefix="/api/plc", tags=["station"])


@router.get("/registers", response_model=dict[str, Any])
def registers(ctx: Ctx, user: OperatorUser, n: Annotated[int, Query(ge=1, le=50)] = 10) -> dict[str, Any]:
    """HR100-126 (address, name, value), the STS bits that are set, and the last ``n`` handshakes,
    newest first. Empty lists when the station runs without a PLC (the demo's in-process feed)."""
    regs = ctx.station.plc_registers()
    sts = next((v for a, _, v in regs if a == StnReg.STS), None)
    bits = [] if sts is None else [b.name for b in Sts if sts & b and b.name]
    return {"registers": [{"address": a, "name": name, "value": v, "hex": f"0x{v:04X}"} for a, name, v in regs],
            "sts_bits": bits, "handshakes": ctx.station.plc_handshakes(n), "plc": ctx.station.status().plc.to_dict()}
