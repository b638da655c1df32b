"""Shared test set-up: explicit thread counts (the CI machines have 2 cores) and synthetic parts."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from inspection.recipe import Recipe, prepare
from inspection.recipe_params import DetectParams
from inspection.synth import make_reference

cv2.setNumThreads(1)

SHAPE = (256, 256)


@pytest.fixture(scope="session")
def reference() -> np.ndarray:
    return make_reference(SHAPE, seed=3)


@pytest.fixture(scope="session")
def prepared(reference: np.ndarray):
    """The synthetic part as a recipe: bright material, a 24 px ROI margin for shifted parts."""
    return prepare(Recipe("synthetic", reference, detect=DetectParams(material="bright"),
                          roi=(24, 24, SHAPE[1] - 48, SHAPE[0] - 48)))
