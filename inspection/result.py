"""The result of one inspection: verdict, result code, findings, timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from inspection.findings import Finding
from inspection.vision.geometry import Alignment
from inspection.vision.heatmap import HeatMap


class Verdict(StrEnum):
    PASS = "pass"
    REJECT = "reject"


class ResultCode(IntEnum):
    """Result codes on the wire (PLC RESULT_CODE). Only OK may be treated as a pass; 0 means
    'no valid result' and is never produced for a finished inspection."""

    NONE = 0
    OK = 1
    NG_DEFECT = 2
    NG_ALIGNMENT = 3
    NG_DEADLINE = 4
    NG_ACQUISITION = 5
    NG_RUNTIME = 6
    NG_RECIPE = 7

    @property
    def verdict(self) -> Verdict:
        return Verdict.PASS if self is ResultCode.OK else Verdict.REJECT


@dataclass(frozen=True)
class InspectionResult:
    """Everything one inspection concluded. Built only by the pipeline (or the station for
    results that never reached it: deadline, acquisition error); frozen afterwards.

    ``verdict`` is derived from ``code``, so a PASS cannot exist without ``ResultCode.OK``.
    """

    code: ResultCode
    findings: tuple[Finding, ...] = ()
    alignment: Alignment | None = None
    message: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)
    recipe_id: str = ""
    image_shape: tuple[int, int] = (0, 0)
    max_score: float = 0.0
    mm_per_px: float | None = None  # the recipe's scale: positions and sizes convert to mm with it
    reference: str = ""  # which golden reference judged the part, for a recipe with variant references
    #: where the detector saw the part deviate (good-set: its anomaly map), stored with the image
    heat_map: HeatMap | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.code is ResultCode.NONE:
            raise ValueError("an inspection result cannot have code NONE")
        if self.code is ResultCode.OK and any(f.reported for f in self.findings):
            raise ValueError("a result with reported findings cannot be OK")

    @property
    def verdict(self) -> Verdict:
        return self.code.verdict

    @property
    def reported(self) -> tuple[Finding, ...]:
        return tuple(sorted((f for f in self.findings if f.reported), key=lambda f: -f.score))

    @property
    def worst(self) -> Finding | None:
        rep = self.reported
        return rep[0] if rep else None

    def to_dict(self) -> dict[str, object]:
        al = self.alignment
        return {
            "verdict": self.verdict.value,
            "code": int(self.code),
            "code_name": self.code.name,
            "message": self.message,
            "recipe_id": self.recipe_id,
            "image_shape": list(self.image_shape),
            "max_score": round(self.max_score, 4),
            "mm_per_px": self.mm_per_px,
            "defect_count": len(self.reported),
            "findings": [f.to_dict() for f in self.findings],
            "alignment": None if al is None else {
                "ok": al.ok,
                "reason": al.reason,
                "score": round(al.score, 4),
                "coverage": round(al.coverage, 4),
                "shift_px": [round(v, 3) for v in al.shift],
                "angle_deg": round(al.angle_deg, 4),
                "gain": round(al.gain, 4),
                "offset": round(al.offset, 3),
            },
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
            **({"reference": self.reference} if self.reference else {}),
            **({"heat_map": self.heat_map.meta()} if self.heat_map is not None else {}),
        }
