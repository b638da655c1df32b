"""The conformance suite against the real pymodbus server on 127.0.0.1, one fresh station per case,
with the scripted job (each case sets the job's behaviour through PART_ID_STR)."""

from __future__ import annotations

import pytest

from inspection.plc.job import FixedTimeJob
from plugins.plc.conformance import Target, run_conformance
from plugins.plc.conformance_cases import CASES


@pytest.mark.parametrize("name", list(CASES))
def test_case_passes(loopback, name):
    ls = loopback()
    target = Target(port=ls.port, restart=ls.restart, heartbeat_timeout_ms=300, parts=40)
    [result] = run_conformance(target, {name: CASES[name]})
    assert result.status == "pass", result.detail
    assert result.results >= 1 or name == "station_heartbeat"


def test_scripted_cases_skip_on_a_production_station(loopback):
    ls = loopback(job_factory=lambda: FixedTimeJob(inspect_ms=5))  # SIMULATION, but not scripted
    target = Target(port=ls.port, heartbeat_timeout_ms=300, parts=10)
    results = {r.name: r.status for r in run_conformance(target, CASES)}
    assert results.pop("slow_detector") == "skip"
    assert results.pop("camera_timeout") == "skip" and results.pop("incomplete_frame") == "skip"
    assert results.pop("station_restart") == "skip"  # no restart callable given
    assert set(results.values()) == {"pass"}, results


def test_suite_detects_a_station_that_breaks_the_contract(loopback):
    """A station whose deadline is longer than the PLC waits must fail, not pass silently."""
    from inspection.station.timing import MachineConfig

    ls = loopback(config=MachineConfig(deadline_ms=200, ack_timeout_ms=300, plc_heartbeat_timeout_ms=300,
                                       simulation=True, check_recipe_no=False))
    target = Target(port=ls.port, heartbeat_timeout_ms=300, parts=5)
    [result] = run_conformance(target, {"burst_buffered": CASES["burst_buffered"]})
    assert result.status == "pass"
    ls.station.machine.buffer.depth = 1  # sabotage: a station that cannot queue
    [result] = run_conformance(target, {"burst_buffered": CASES["burst_buffered"]})
    assert result.status == "fail"
