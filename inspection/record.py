"""Part records: one inspection result together with what the station knows about the part.

A :class:`PartRecord` is what leaves the hot path: the store keeps it, the HMI shows it. It is
built from the pipeline's :class:`~inspection.result.InspectionResult` plus a :class:`PartInfo`
(the PLC's trigger data and the station's metadata), and gets its result id at creation, so the
HMI can name a part before the store has committed it.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from dataclasses import dataclass, field

from inspection.result import InspectionResult
from inspection.vision.overlay import overlay_shapes

_ID_COUNTER = itertools.count()
_ID_SALT = os.getpid() & 0xFF
RESULT_ID_PATTERN = r"^[0-9a-f]{20}$"
_RESULT_ID_RE = re.compile(RESULT_ID_PATTERN)

# The stages the station times, in pipeline order (PLC contract, issue #6).
STAGES = ("acquire", "align", "detect", "decide", "publish")


def new_result_id(now_ns: int | None = None) -> str:
    """A unique, time-sortable result id: 16 hex digits of wall-clock ns, 2 of process salt, 2 of
    a per-process counter (20 lower-case hex characters)."""
    ns = time.time_ns() if now_ns is None else now_ns
    return f"{ns & 0xFFFF_FFFF_FFFF_FFFF:016x}{_ID_SALT:02x}{next(_ID_COUNTER) & 0xFF:02x}"


def is_result_id(text: str) -> bool:
    return bool(_RESULT_ID_RE.match(text))


@dataclass(frozen=True)
class PartInfo:
    """What the station knows about a part besides the inspection: the PLC's trigger data
    (sequence number, numeric and string part id, recipe number) and the station's metadata."""

    trigger_seq: int = 0
    part_id: int = 0
    part_id_str: str = ""
    recipe_number: int = 0
    model_hash: str = ""
    camera_id: str = ""
    station_id: str = ""
    trigger_ns: int = field(default_factory=time.time_ns)

    def __post_init__(self) -> None:
        if not 0 <= self.trigger_seq <= 0xFFFF:
            raise ValueError(f"trigger_seq must be 0..65535, got {self.trigger_seq}")
        if not 0 <= self.part_id <= 0xFFFF_FFFF:
            raise ValueError(f"part_id must be 0..2**32-1, got {self.part_id}")
        if not 0 <= self.recipe_number <= 999:
            raise ValueError(f"recipe_number must be 0..999, got {self.recipe_number}")
        clean = self.part_id_str.replace("\x00", "").strip()
        if len(clean) > 64 or not clean.isprintable():
            raise ValueError(f"part_id_str must be up to 64 printable characters, got {self.part_id_str!r}")
        if clean != self.part_id_str:
            object.__setattr__(self, "part_id_str", clean)


@dataclass(frozen=True)
class PartRecord:
    """One inspected part: the result, the part info, its id and when it was decided."""

    result: InspectionResult
    part: PartInfo = field(default_factory=PartInfo)
    result_id: str = field(default_factory=new_result_id)
    decided_ns: int = field(default_factory=time.time_ns)

    def __post_init__(self) -> None:
        if not is_result_id(self.result_id):
            raise ValueError(f"result_id must be 20 lower-case hex characters, got {self.result_id!r}")

    @property
    def verdict(self) -> str:
        return self.result.verdict.value

    @property
    def cycle_ms(self) -> float:
        """Trigger-to-decision time: the pipeline's ``total`` timing when it has one, else the
        wall-clock difference between trigger and decision."""
        total = self.result.timings_ms.get("total")
        if total is not None:
            return float(total)
        return max(0.0, (self.decided_ns - self.part.trigger_ns) / 1e6)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready view for the HMI and the store: the result's own ``to_dict`` plus the part
        info and the overlay shapes in acquired-image coordinates."""
        out = self.result.to_dict()
        worst = self.result.worst
        out.update({
            "result_id": self.result_id,
            "trigger_seq": self.part.trigger_seq,
            "part_id": self.part.part_id,
            "part_id_str": self.part.part_id_str,
            "recipe_number": self.part.recipe_number,
            "model_hash": self.part.model_hash,
            "camera_id": self.part.camera_id,
            "station_id": self.part.station_id,
            "trigger_ns": self.part.trigger_ns,
            "decided_ns": self.decided_ns,
            "cycle_ms": round(self.cycle_ms, 3),
            "worst_class": None if worst is None else int(worst.defect_class),
            "overlay": overlay_shapes(self.result),
        })
        return out
