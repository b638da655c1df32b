"""What teaching concluded about each image, and the result of a teaching run."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from calibration.scoring import PartScore
from calibration.threshold import ThresholdChoice
from calibration.variation import VariationModel, VariationParams
from inspection.recipe.definition import Recipe

Box = tuple[float, float, float, float]


def describe_box(box: Box | None) -> str:
    if box is None:
        return ""
    x1, y1, x2, y2 = box
    return f"{x2 - x1:.0f}x{y2 - y1:.0f} px at ({(x1 + x2) / 2:.0f}, {(y1 + y2) / 2:.0f})"


@dataclass(frozen=True)
class PartReport:
    """One taught image. ``status``: "good" (in the model), "outlier" (set aside), "unaligned",
    "unreadable". ``score``: its cross-validated good-part score (the smallest band multiplier at
    which the station passes it; inf: rejected whatever the band). ``worst_box``: where the last
    deviation that failed it lies (reference pixels)."""

    name: str
    status: str
    reason: str = ""
    score: float | None = None
    fold: int | None = None
    align_score: float | None = None
    shift_px: tuple[float, float] | None = None
    angle_deg: float | None = None
    worst_box: Box | None = None

    @classmethod
    def scored(cls, name: str, status: str, ps: PartScore, fold: int, reason: str = "") -> PartReport:
        return cls(
            name,
            status,
            reason or ps.reason,
            ps.score,
            fold,
            ps.align_score,
            ps.shift,
            ps.angle_deg,
            ps.worst_box,
        )

    def to_dict(self) -> dict[str, object]:
        s = self.score
        return {
            "name": self.name,
            "status": self.status,
            "reason": self.reason,
            "score": None if s is None else (s if math.isfinite(s) else "inf"),
            "fold": self.fold,
            "align_score": self.align_score,
            "shift_px": None if self.shift_px is None else list(self.shift_px),
            "angle_deg": self.angle_deg,
            "worst_box": None if self.worst_box is None else [round(v, 1) for v in self.worst_box],
        }


@dataclass(frozen=True)
class TeachResult:
    recipe: Recipe
    variation: VariationModel
    variation_params: VariationParams  # as taught: rel_* include the chosen multiplier
    threshold: ThresholdChoice
    parts: tuple[PartReport, ...]
    roi_note: str
    timings_s: dict[str, float]

    @property
    def good(self) -> tuple[PartReport, ...]:
        return tuple(p for p in self.parts if p.status == "good")

    @property
    def set_aside(self) -> tuple[PartReport, ...]:
        return tuple(p for p in self.parts if p.status != "good")

    @property
    def scores(self) -> np.ndarray:
        return np.array([p.score for p in self.good if p.score is not None], np.float64)

    def highest(self, n: int = 3) -> list[PartReport]:
        """The good parts that needed the widest band: the ones to look at first."""
        scored = [p for p in self.good if p.score is not None]
        return sorted(scored, key=lambda p: -(p.score or 0.0))[:n]
