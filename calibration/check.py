"""Checking a taught recipe on parts it has not seen, through the station's pipeline.

Good parts: how many are rejected (the false-reject rate, with the upper bound N parts can prove).
Bad parts (optional): how many are rejected (the detection rate). What an engineer runs before
releasing a recipe to production. Each part is judged as the station judges it: undistorted when the
recipe was taught so, by the detector the recipe names (a good-set recipe by its taught model).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calibration.bundle import RecipeBundle
from calibration.images import image_files, read_all
from calibration.threshold import frr_upper_bound
from inspection.pipeline import inspect
from inspection.progress import Progress
from inspection.recipe.definition import prepare
from inspection.result import InspectionResult
from inspection.station.recipes import make_detector


@dataclass(frozen=True)
class CheckResult:
    good_total: int = 0
    good_rejected: int = 0
    bad_total: int = 0
    bad_rejected: int = 0
    codes: dict[str, dict[str, int]] = field(default_factory=dict)  # "good"/"bad" -> code name -> count
    false_rejects: tuple[tuple[str, str], ...] = ()  # (file, message)
    missed: tuple[str, ...] = ()
    confidence: float = 0.95

    @property
    def frr(self) -> float:
        return self.good_rejected / self.good_total if self.good_total else 0.0

    @property
    def frr_upper(self) -> float:
        return (
            frr_upper_bound(self.good_rejected, self.good_total, self.confidence) if self.good_total else 1.0
        )

    @property
    def detection_rate(self) -> float | None:
        return self.bad_rejected / self.bad_total if self.bad_total else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "good_total": self.good_total,
            "good_rejected": self.good_rejected,
            "frr": self.frr,
            "frr_upper": self.frr_upper,
            "confidence": self.confidence,
            "bad_total": self.bad_total,
            "bad_rejected": self.bad_rejected,
            "detection_rate": self.detection_rate,
            "codes": self.codes,
            "false_rejects": [list(x) for x in self.false_rejects],
            "missed": list(self.missed),
        }


def check_recipe(
    bundle: RecipeBundle,
    good: Path,
    bad: Path | None = None,
    *,
    progress: bool = False,
    confidence: float = 0.95,
) -> CheckResult:
    prepared = prepare(bundle.recipe)
    detector = make_detector(bundle.recipe)
    undistort = bundle.undistorter()
    counts: dict[str, Counter[str]] = {"good": Counter(), "bad": Counter()}
    false_rejects: list[tuple[str, str]] = []
    missed: list[str] = []
    for kind, folder in (("good", good), ("bad", bad)):
        if folder is None:
            continue
        files = image_files(folder)
        bar = Progress(len(files), f"inspecting {kind} parts", enabled=progress)
        for name, image in read_all(files, transform=undistort):
            if isinstance(image, Exception):
                counts[kind]["UNREADABLE"] += 1
                if kind == "good":
                    false_rejects.append((name, str(image)))
                bar.update(note=name)
                continue
            result: InspectionResult = inspect(prepared, image, detector=detector)
            counts[kind][result.code.name] += 1
            if kind == "good" and result.code.name != "OK":
                false_rejects.append((name, result.message))
            if kind == "bad" and result.code.name == "OK":
                missed.append(name)
            bar.update(note=name)
    g, b = counts["good"], counts["bad"]
    return CheckResult(
        sum(g.values()),
        sum(g.values()) - g["OK"],
        sum(b.values()),
        sum(b.values()) - b["OK"],
        {k: dict(v) for k, v in counts.items() if v},
        tuple(false_rejects),
        tuple(missed),
        confidence,
    )
