"""Shared pytest set-up: the ``hardware`` marker runs only with ``--hardware``."""

from __future__ import annotations

import pytest


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
