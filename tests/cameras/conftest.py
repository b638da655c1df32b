"""Camera test set-up.

The Basler tests run against the pylon camera emulator that ships with pypylon, not mocks.
PYLON_CAMEMU must be in the environment before pylon first enumerates devices in this process
(older pylon releases read it only once), so it is set here, at import: pytest imports conftest
files while collecting, before any test runs.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

EMULATED_CAMERAS = 3
if int(os.environ.get("PYLON_CAMEMU", "0") or 0) < EMULATED_CAMERAS:
    os.environ["PYLON_CAMEMU"] = str(EMULATED_CAMERAS)

cv2.setNumThreads(1)

SERIALS = [f"0815-{i:04d}" for i in range(EMULATED_CAMERAS)]


def write_png(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image), path
    return path


@pytest.fixture
def serials() -> list[str]:
    """Serial numbers of the emulated cameras."""
    return list(SERIALS)


@pytest.fixture
def png() -> Callable[[Path, np.ndarray], Path]:
    """``png(path, image)`` writes a PNG (lossless) and returns its path."""
    return write_png


@pytest.fixture
def known_images(tmp_path: Path) -> tuple[Path, list[np.ndarray]]:
    """A folder of three different 400x300 Mono8 PNGs (a, b, c) and their pixels."""
    rng = np.random.default_rng(1234)
    folder = tmp_path / "parts"
    images = [rng.integers(0, 256, (300, 400), dtype=np.uint8) for _ in range(3)]
    for name, img in zip("abc", images, strict=True):
        write_png(folder / f"{name}.png", img)
    return folder, images


@pytest.fixture
def make_camera() -> Iterator[Callable[..., Any]]:
    """Build cameras through the registry from settings; every one is closed at teardown."""
    from inspection.camera.contract import create_camera

    made: list[Any] = []

    def make(**settings: Any) -> Any:
        settings.setdefault("driver", "pylon")
        if settings["driver"] == "pylon":
            settings.setdefault("emulated", True)
            settings.setdefault("serial", SERIALS[0])
        settings.setdefault("grab_timeout_s", 5.0)
        camera = create_camera(settings)
        made.append(camera)
        return camera

    yield make
    for camera in made:
        camera.close()


class LogEvent(logging.Handler):
    """Sets ``event`` when a record at ``level`` or above arrives; keeps all records."""

    def __init__(self, level: int) -> None:
        super().__init__(logging.DEBUG)
        self.wanted = level
        self.event = threading.Event()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        if record.levelno >= self.wanted:
            self.event.set()


@pytest.fixture
def error_log() -> Iterator[LogEvent]:
    """Capture the camera loggers (DEBUG and up); ``.event`` is set by the first ERROR."""
    handler = LogEvent(logging.ERROR)
    names = ("plugins.cameras", "inspection.camera.recovery", "inspection.camera.base")
    loggers = [logging.getLogger(n) for n in names]
    old = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    yield handler
    for lg, level in old:
        lg.removeHandler(handler)
        lg.setLevel(level)
