"""Shared fixtures: synthetic parts and a check that tests leave no threads of ours running."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from tests_support import make_result

from inspection.result import InspectionResult


@pytest.fixture
def part_factory() -> Callable[..., tuple[InspectionResult, np.ndarray]]:
    return make_result


@pytest.fixture(autouse=True)
def no_thread_leak() -> Iterator[None]:
    """Fail a test that leaves threads of ours running (store writers, servers)."""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()
              and t.name in ("store-writer", "hmi-server", "demo-feed")]
    for t in leaked:
        t.join(5.0)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"threads left running: {still}"
