"""Fixtures of the PLC tests: a real station (state machine + pymodbus server on 127.0.0.1, free
port, stopped by its handle) and a guard that fails a test which leaves threads running."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from plc_timing import FAST

from inspection.plc.job import InspectionJob, ScriptedJob
from inspection.station.timing import MachineConfig


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    leaked = []
    for t in set(threading.enumerate()) - before:
        t.join(3.0)
        if t.is_alive():
            leaked.append(t.name)
    assert not leaked, f"threads left running: {leaked}"


@pytest.fixture
def loopback() -> Iterator[Callable[..., object]]:
    """``loopback(job_factory=ScriptedJob, config=FAST, **bridge options)`` -> a started
    LoopbackStation; every one made is stopped after the test."""
    from plugins.plc.loopback import LoopbackStation

    made: list[LoopbackStation] = []

    def make(job_factory: Callable[[], InspectionJob] = ScriptedJob, config: MachineConfig = FAST,
             **options: object) -> LoopbackStation:
        station = LoopbackStation(job_factory, config=config, **options)  # type: ignore[arg-type]
        made.append(station)
        return station.start()

    yield make
    for station in made:
        station.stop()
