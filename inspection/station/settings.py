"""Recipes and the station's persistent settings (active recipe, thresholds, golden references).

Settings live in one JSON file written atomically (temporary file + rename), so a station killed
while saving keeps the previous settings.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspection.errors import ConfigError
from inspection.station.port import ThresholdSpec

logger = logging.getLogger(__name__)

# The thresholds an engineer tunes on the HMI: each maps onto a recipe parameter.
DEFAULT_THRESHOLD_SPECS: tuple[ThresholdSpec, ...] = (
    ThresholdSpec("threshold", "Deviation threshold", 0.02, 1.0, 0.25, unit="x contrast", step=0.01,
                  help="a pixel deviates when it leaves the good-part band by this fraction of the "
                  "reference contrast"),
    ThresholdSpec("tolerance_px", "Edge tolerance", 0.0, 5.0, 0.7, unit="px", step=0.1,
                  help="edges may move this far (sub-pixel jitter, residual misregistration)"),
    ThresholdSpec("min_area_px", "Minimum defect area", 1, 100_000, 8, unit="px", step=1, integer=True,
                  help="smaller deviations are ignored"),
    ThresholdSpec("align_min_score", "Minimum alignment score", 0.0, 1.0, 0.5, step=0.01,
                  help="below this the part is rejected as not recognisable (result code 3)"),
)


@dataclass(frozen=True)
class RecipeDef:
    recipe_id: str
    number: int
    name: str
    model_hash: str = ""
    detector: str = "classical"

    def __post_init__(self) -> None:
        if not self.recipe_id or not self.recipe_id.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"recipe id must be letters, digits, '-' or '_', got {self.recipe_id!r}",
                              field="recipe_id")
        if not 0 <= self.number <= 999:
            raise ConfigError(f"recipe number must be 0..999, got {self.number}", field="number")


def load_settings(path: Path) -> dict[str, Any]:
    """The saved settings, or {} when there are none (an unreadable file is logged and ignored)."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError) as exc:
        logger.error("ignoring unreadable %s: %s", path, exc)
        return {}


def save_settings(path: Path, **settings: object) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(settings, indent=2, sort_keys=True))
    os.replace(tmp, path)
