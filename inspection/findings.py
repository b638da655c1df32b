"""Findings: the defects one inspection reports, in reference (part) coordinates."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

import numpy as np


class DefectClass(IntEnum):
    """Defect class codes. The numbers are stable: they go to the PLC (WORST_CLASS) and the store.

    1-6 are DeepPCB's types; 7+ are the generic classes used on other parts.
    """

    UNKNOWN = 0
    OPEN = 1
    SHORT = 2
    MOUSEBITE = 3
    SPUR = 4
    COPPER = 5  # spurious copper
    PINHOLE = 6
    MISSING = 7  # missing material (generic)
    EXTRA = 8  # extra material (generic)
    CRACK = 9
    DEFORMATION = 10

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", " ")


class Polarity(StrEnum):
    """Sign of the deviation in the acquired image relative to the reference."""

    BRIGHT = "bright"  # part brighter than reference
    DARK = "dark"  # part darker than reference


@dataclass(frozen=True)
class Finding:
    """One defect. Coordinates are reference (part) pixels; ``box`` is (x1, y1, x2, y2), x2/y2
    exclusive. ``score`` is the confidence in [0, 1]; a finding with ``score >= 0.5`` is a reported
    defect (it rejects the part). ``contour`` is an optional (N, 2) polygon of the defect outline.
    ``area_mm2``/``length_mm`` are filled when the station is calibrated.
    """

    box: tuple[float, float, float, float]
    score: float
    defect_class: DefectClass = DefectClass.UNKNOWN
    polarity: Polarity = Polarity.DARK
    area_px: int = 0
    contrast: float = 0.0
    contour: np.ndarray | None = field(default=None, compare=False, repr=False)
    area_mm2: float | None = None
    length_mm: float | None = None

    def __post_init__(self) -> None:
        if not (0.0 <= self.score <= 1.0) or math.isnan(self.score):
            raise ValueError(f"finding score must be in [0, 1], got {self.score}")
        x1, y1, x2, y2 = self.box
        if not (x2 >= x1 and y2 >= y1):
            raise ValueError(f"finding box must have x2>=x1 and y2>=y1, got {self.box}")

    @property
    def reported(self) -> bool:
        """True when this finding rejects the part."""
        return self.score >= REPORT_THRESHOLD

    @property
    def center(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.box
        return (x1 + x2) / 2.0, (y1 + y2) / 2.0

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "box": [round(v, 2) for v in self.box],
            "score": round(self.score, 4),
            "class": int(self.defect_class),
            "class_name": self.defect_class.label,
            "polarity": self.polarity.value,
            "area_px": self.area_px,
            "contrast": round(self.contrast, 2),
        }
        if self.contour is not None:
            out["contour"] = np.asarray(self.contour).round(1).tolist()
        if self.area_mm2 is not None:
            out["area_mm2"] = round(self.area_mm2, 4)
        if self.length_mm is not None:
            out["length_mm"] = round(self.length_mm, 4)
        return out


REPORT_THRESHOLD = 0.5


def reported(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that reject the part, highest score first."""
    return sorted((f for f in findings if f.reported), key=lambda f: -f.score)
