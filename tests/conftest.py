"""Shared test set-up: explicit thread counts (the CI machines have 2 cores), synthetic parts, and a
check that tests leave no threads of ours running."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests_support import make_result

from inspection.recipe.definition import Recipe, prepare
from inspection.recipe.params import DetectParams
from inspection.result import InspectionResult
from inspection.vision.synth import make_reference


@pytest.fixture
def part_factory() -> Callable[..., tuple[InspectionResult, np.ndarray]]:
    return make_result


@pytest.fixture(autouse=True)
def no_thread_leak() -> Iterator[None]:
    """Fail a test that leaves threads of ours running (store writers, servers)."""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()
              and t.name in ("store-writer", "hmi-server", "demo-feed", "station-publish", "plc-worker",
                             "plc-supervisor", "plc-recipes", "plc-line", "config-watcher", "recipe-hashes")]
    for t in leaked:
        t.join(5.0)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"threads left running: {still}"

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


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hardware", "tests against real devices")
    group.addoption("--hardware", action="store_true", default=False,
                    help="run tests marked 'hardware' (they need a real camera or PLC)")
    group.addoption("--camera-serial", default=None,
                    help="serial of the real Basler camera for hardware tests (default: the first one)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--hardware"):
        return
    skip = pytest.mark.skip(reason="needs real hardware: run with --hardware")
    for item in items:
        if "hardware" in item.keywords:
            item.add_marker(skip)


CHROMIUM = os.environ.get("HMI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's headless Chromium driven by Playwright (never a downloaded browser)."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: install the Debian package 'chromium' (bash dev.sh test does)")
    from playwright.sync_api import sync_playwright
    from tests_support import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()
