"""Calibration and teaching tests: boards rendered through known cameras, synthetic good and defective
parts. Thread counts are explicit (the CI machines have 2 cores)."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest

from calibration.board import Board
from calibration.render import BoardRenderer, Camera, look_at_poses

cv2.setNumThreads(1)

Views = list[tuple[str, np.ndarray]]


@pytest.fixture(scope="session")
def camera() -> Camera:
    """The known camera: 640x480, f = 800 px, principal point off centre, barrel distortion."""
    return Camera.simple((640, 480), f=800.0, dist=(-0.18, 0.06, 0.0008, -0.0005, 0.0))


@pytest.fixture(scope="session")
def render(camera: Camera) -> Callable[..., Views]:
    def views(board: Board, n: int, *, seed: int, spread: float = 0.8) -> Views:
        renderer = BoardRenderer(camera, board, supersample=2)
        poses = look_at_poses(board, n, camera=camera, seed=seed, spread=spread)
        return [(f"view{i:02d}.png", renderer.render(rv, tv, seed=i)) for i, (rv, tv) in enumerate(poses)]

    return views


@pytest.fixture(scope="session")
def checkerboard() -> Board:
    return Board.parse("checkerboard:9x6", square_mm=10.0)


@pytest.fixture(scope="session")
def checker_views(checkerboard: Board, render: Callable[..., Views]) -> Views:
    return render(checkerboard, 12, seed=4)
