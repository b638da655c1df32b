"""Pixels to millimetres for results, PLC registers and the HMI.

A recipe taught on a calibrated station carries ``mm_per_px`` (measured by ``inspection calibrate
scale``); otherwise every figure stays in pixels. The PLC contract's registers: positions in 0.1 mm
and areas in 0.01 mm2 when calibrated, pixels otherwise, saturated to the 16-bit register range.
"""

from __future__ import annotations

import math
from typing import Any

from inspection.findings import Finding

REGISTER_MAX = 65535


def _scale(mm_per_px: float | None) -> float | None:
    if mm_per_px is None:
        return None
    if not (math.isfinite(mm_per_px) and mm_per_px > 0):
        raise ValueError(f"mm_per_px must be a positive number, got {mm_per_px}")
    return mm_per_px


def length_mm(length_px: float, mm_per_px: float | None) -> float | None:
    s = _scale(mm_per_px)
    return None if s is None else length_px * s


def area_mm2(area_px: float, mm_per_px: float | None) -> float | None:
    s = _scale(mm_per_px)
    return None if s is None else area_px * s * s


def _register(value: float) -> int:
    if not math.isfinite(value):
        return REGISTER_MAX
    return int(min(REGISTER_MAX, max(0, round(value))))


def plc_position(value_px: float, mm_per_px: float | None) -> int:
    """A coordinate for a PLC register: 0.1 mm units when calibrated, else pixels (0..65535)."""
    s = _scale(mm_per_px)
    return _register(value_px if s is None else value_px * s * 10.0)


def plc_area(area_px: float, mm_per_px: float | None) -> int:
    """An area for a PLC register: 0.01 mm2 units when calibrated, else pixels (0..65535)."""
    s = _scale(mm_per_px)
    return _register(area_px if s is None else area_px * s * s * 100.0)


def plc_units(mm_per_px: float | None) -> dict[str, str]:
    """The units the PLC registers carry, for the documentation and the HMI."""
    if _scale(mm_per_px) is None:
        return {"position": "px", "area": "px"}
    return {"position": "0.1 mm", "area": "0.01 mm2"}


def finding_geometry(finding: Finding, mm_per_px: float | None) -> dict[str, Any]:
    """Position, size and area of a finding in mm (reference-image origin, top left) when
    calibrated, for the HMI and the result store; pixel figures are always included."""
    x1, y1, x2, y2 = finding.box
    cx, cy = finding.center
    out: dict[str, Any] = {
        "unit": "mm" if mm_per_px else "px",
        "center_px": [cx, cy],
        "size_px": [x2 - x1, y2 - y1],
        "area_px": finding.area_px,
    }
    s = _scale(mm_per_px)
    if s is not None:
        out.update(
            center_mm=[cx * s, cy * s],
            size_mm=[(x2 - x1) * s, (y2 - y1) * s],
            area_mm2=finding.area_px * s * s,
            length_mm=max(x2 - x1, y2 - y1) * s,
        )
    return out
