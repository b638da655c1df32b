"""Finding the parts that do not belong in a set of "good" parts, and saying why.

Two tests against the robust statistics of the whole set (median and order-statistic spreads, which
one bad part barely moves):

- *local*: the station's own change detection, with the band widened by the set's variation and the
  untaught default sensitivity, finds a defect-like region in the part (a defective part slipped
  into the good set: a crack, missing or extra material);
- *global*: the part differs from the median everywhere far more than the others do (a different
  part type or revision, wrong light, out of focus): robust z-score of its mean absolute deviation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from calibration.part_set import AlignedSet
from inspection.recipe.definition import PreparedRecipe
from inspection.vision.detector import ClassicalDetector

_DETECTOR = ClassicalDetector()


@dataclass(frozen=True)
class Outlier:
    index: int  # in the aligned set
    reason: str


def _mad_z(values: np.ndarray) -> np.ndarray:
    med = float(np.median(values))
    mad = float(np.median(np.abs(values - med))) * 1.4826
    return (values - med) / max(mad, 1e-6)


def find_outliers(
    parts: AlignedSet,
    screen: PreparedRecipe,
    *,
    max_z: float = 6.0,
    min_ratio: float = 3.0,
    min_excess: float = 6.0,
) -> list[Outlier]:
    """Outliers of ``parts`` given a prepared recipe built from the whole set (``screen``: the set's
    median, its variation, the ROI, the screening threshold). ``max_z``/``min_excess``: a part is
    globally different when its mean absolute deviation from the median is more than ``max_z``
    robust standard deviations above the others', ``min_ratio`` x theirs and ``min_excess`` grey
    levels more."""
    ref = screen.recipe.reference.astype(np.int16)
    inspect = screen.change_model.inspect > 0
    deviation = np.empty(len(parts.names))
    for i in range(len(parts.names)):
        region = inspect & (parts.valid[i] > 0)
        diff = np.abs(parts.stack[i].astype(np.int16) - ref)
        deviation[i] = float(diff[region].mean()) if region.any() else 0.0
    z = _mad_z(deviation)
    typical = float(np.median(deviation))
    flagged: dict[int, str] = {}
    far = (z > max_z) & (deviation > min_ratio * typical) & (deviation > typical + min_excess)
    for j in np.nonzero(far)[0]:
        i = int(j)
        flagged[i] = (
            f"differs from the other parts everywhere: mean deviation {deviation[i]:.1f} grey levels, "
            f"typical {typical:.1f} (another part type, the light or the focus changed?)"
        )
    for i in range(len(parts.names)):
        if i in flagged:
            continue
        found = sorted(
            (f for f in _DETECTOR.detect(screen, parts.stack[i], parts.valid[i]) if f.reported),
            key=lambda f: -f.score,
        )
        if found:
            f = found[0]
            x1, y1, x2, y2 = f.box
            more = f" and {len(found) - 1} more" if len(found) > 1 else ""
            flagged[i] = (
                f"{f.polarity.value} {f.defect_class.label} region of {f.area_px} px at "
                f"({(x1 + x2) / 2:.0f}, {(y1 + y2) / 2:.0f}) (score {f.score:.2f}){more} that the other "
                "parts do not show: a defective part in the good set?"
            )
    return [Outlier(i, flagged[i]) for i in sorted(flagged)]


def score_outliers(scores: dict[int, float], *, alpha: float = 0.01) -> dict[int, float]:
    """Parts whose held-out score (the band multiplier they need to pass) lies far beyond what good
    parts need: e.g. a defect too faint for the screening. A Gumbel tail is fitted robustly to the
    set's median and 90th percentile; a part is an outlier when fewer than ``alpha`` good parts of a
    set this size would score as high (``score > mu + beta x ln(N / alpha)``), and it also needs more
    than twice the 90th percentile (and 0.25 more). Returns index -> the cut it exceeded."""
    finite = np.array([v for v in scores.values() if np.isfinite(v)], np.float64)
    if finite.size < 8:
        return {}
    q50, q90 = (float(v) for v in np.quantile(finite, [0.5, 0.9]))
    beta = max((q90 - q50) / 1.8839, 0.02 * q90, 1e-3)  # ln(-ln 0.5) - ln(-ln 0.9) = 1.8839
    mu = q50 - 0.3665 * beta
    cut = max(mu + beta * math.log(finite.size / alpha), 2.0 * q90, q90 + 0.25)
    return {i: cut for i, v in scores.items() if v > cut}
