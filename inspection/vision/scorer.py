"""Confidence of a deviating region: a logistic model over region features.

The coefficients are data (JSON), fitted by ``inspection train scorer`` on a training split, or the
built-in default that only needs the recipe's thresholds: a region as large and strong as the
minimum counts as a coin toss (0.5), larger or stronger ones approach 1.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inspection.errors import ConfigError
from inspection.vision.classify import FEATURE_NAMES


@dataclass(frozen=True)
class Scorer:
    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...] = field(default_factory=lambda: (0.0,) * len(FEATURE_NAMES))
    scale: tuple[float, ...] = field(default_factory=lambda: (1.0,) * len(FEATURE_NAMES))
    name: str = "default"

    def __post_init__(self) -> None:
        n = len(FEATURE_NAMES)
        for attr in ("weights", "mean", "scale"):
            vals = getattr(self, attr)
            if len(vals) != n or not all(math.isfinite(v) for v in vals):
                raise ConfigError(f"scorer {attr} must be {n} finite numbers", field=attr)
        if not math.isfinite(self.bias) or any(v == 0 for v in self.scale):
            raise ConfigError("scorer bias must be finite and scales non-zero", field="bias")

    def score(self, feats: np.ndarray) -> float:
        z = (np.asarray(feats, dtype=np.float64) - np.asarray(self.mean)) / np.asarray(self.scale)
        logit = float(np.dot(z, self.weights) + self.bias)
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, logit))))

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "features": list(FEATURE_NAMES), "weights": list(self.weights),
                "bias": self.bias, "mean": list(self.mean), "scale": list(self.scale)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Scorer:
        feats = data.get("features")
        if feats != list(FEATURE_NAMES):
            raise ConfigError(f"scorer features {feats} do not match {list(FEATURE_NAMES)}",
                              field="features")
        def floats(key: str) -> tuple[float, ...]:
            value = data[key]
            if not isinstance(value, list):
                raise TypeError(f"{key} must be a list")
            return tuple(float(v) for v in value)

        try:
            bias = data["bias"]
            if not isinstance(bias, (int, float)):
                raise TypeError("bias must be a number")
            return cls(floats("weights"), float(bias), floats("mean"), floats("scale"),
                       str(data.get("name", "fitted")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"bad scorer data: {exc}", field="scorer") from exc

    @classmethod
    def load(cls, path: str | Path) -> Scorer:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read scorer {path}: {exc}", field="scorer") from exc


def default_scorer(min_area_px: int, threshold: float) -> Scorer:
    """Hand-set model: logit = 2.5 * ln(area / min_area) + 6 * (mean_excess - threshold) + 0.5 *
    (thickness - 1.5); a one-pixel line along an edge scores low, a compact blob high."""
    n = len(FEATURE_NAMES)
    weights = [0.0] * n
    mean = [0.0] * n
    weights[FEATURE_NAMES.index("log_area")] = 2.5
    mean[FEATURE_NAMES.index("log_area")] = math.log(min_area_px)
    weights[FEATURE_NAMES.index("mean_excess")] = 6.0
    mean[FEATURE_NAMES.index("mean_excess")] = threshold
    weights[FEATURE_NAMES.index("thickness")] = 0.5
    mean[FEATURE_NAMES.index("thickness")] = 1.5
    return Scorer(tuple(weights), 0.0, tuple(mean), (1.0,) * n, "default")
