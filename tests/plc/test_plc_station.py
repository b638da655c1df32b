"""The threaded station runner: the job runs in a worker, the deadline is enforced around it, job
exceptions become rejects, recipes are prepared off the caller's thread, stop() joins everything."""

from __future__ import annotations

import threading

from inspection.errors import GrabTimeout
from inspection.plc.contract import ErrorCode, StationState, Sts
from inspection.plc.job import FixedTimeJob, RecipeOutcome, ScriptedJob
from inspection.plc.record import ResultRecord, TriggerRequest
from inspection.plc.station import PlcStation
from inspection.result import InspectionResult, ResultCode
from inspection.station.timing import MachineConfig

CFG = MachineConfig(deadline_ms=150, plc_heartbeat_timeout_ms=5000)


def _collect(station: PlcStation) -> list[ResultRecord]:
    records: list[ResultRecord] = []
    station.on_result(records.append)
    return records


def _run_one(station: PlcStation, seq: int, part: str = "", recipe: int = 0) -> None:
    station.command("trigger", TriggerRequest(seq, part_id_str=part, recipe_no=recipe))
    assert station.wait_for(lambda im: im.presented is not None, 3.0)
    station.command("release_trigger")
    station.command("acknowledge")
    station.command("release_ack")


def test_hung_job_is_answered_by_the_deadline_and_never_passes():
    release = threading.Event()

    def hung(request, exposure_done):
        release.wait(5.0)
        return InspectionResult(code=ResultCode.OK)

    with PlcStation(hung, config=CFG) as station:
        records = _collect(station)
        station.command("enable", True)
        assert station.wait_for(lambda im: Sts.READY in im.sts, 2.0)
        station.command("trigger", TriggerRequest(1))
        assert station.wait_for(lambda im: im.presented is not None, 2.0)
        rec = records[0]
        assert rec.timeout_reject and not rec.passed and rec.cycle_ms >= 150
        assert station.image().sts & Sts.BUSY  # the late job still runs
        release.set()
        assert station.wait_for(lambda im: not im.sts & Sts.BUSY, 2.0)
        assert len(records) == 1  # the late OK was discarded


def test_job_exception_is_a_reject_not_a_crash():
    def camera_down(request, exposure_done):
        raise GrabTimeout("no frame", camera="cam0")

    with PlcStation(camera_down, config=CFG) as station:
        records = _collect(station)
        station.command("enable", True)
        assert station.wait_for(lambda im: Sts.READY in im.sts, 2.0)
        for seq in (1, 2, 3):
            _run_one(station, seq)
        assert [r.error_code for r in records] == [ErrorCode.GRAB_TIMEOUT] * 3
        assert station.image().state is StationState.ERROR  # 3 failures in a row


def test_exposure_done_drops_acq_active_before_the_result():
    with PlcStation(FixedTimeJob(inspect_ms=200, exposure_ms=5),
                    config=MachineConfig(deadline_ms=1000)) as station:
        station.command("enable", True)
        assert station.wait_for(lambda im: Sts.READY in im.sts, 2.0)
        station.command("trigger", TriggerRequest(1))
        assert station.image().sts & Sts.ACQ_ACTIVE
        assert station.wait_for(lambda im: not im.sts & Sts.ACQ_ACTIVE, 2.0)
        assert station.image().presented is None and station.image().sts & Sts.BUSY


def test_recipe_preparer_runs_and_its_exception_is_a_recipe_fail():
    calls = []

    def preparer(recipe_no):
        calls.append(recipe_no)
        if recipe_no == 13:
            raise OSError("reference image missing")
        return RecipeOutcome(True)

    with PlcStation(ScriptedJob(), config=CFG, preparer=preparer, initial_recipe=2) as station:
        assert station.wait_for(lambda im: im.state is StationState.READY and im.active_recipe == 2, 2.0)
        station.command("select_recipe", 13)
        assert station.wait_for(lambda im: im.state is StationState.INITIALIZED, 2.0)
        assert station.image().error_code is ErrorCode.RECIPE_PREPARE_FAILED
        station.command("select_recipe", 4)
        assert station.wait_for(lambda im: im.state is StationState.READY and im.active_recipe == 4, 2.0)
    assert calls == [2, 13, 4]


def test_listener_sees_heartbeat_changes():
    seen = threading.Event()
    with PlcStation(ScriptedJob(), config=MachineConfig(heartbeat_period_ms=20)) as station:
        station.add_listener(seen.set)
        assert seen.wait(2.0)
        assert station.wait_for(lambda im: im.heartbeat >= 3, 2.0)


def test_unknown_command_is_refused():
    import pytest

    with PlcStation(ScriptedJob()) as station, pytest.raises(ValueError, match="unknown station command"):
        station.command("warp_speed")


def test_sts_seen_keeps_bits_that_came_and_went_for_its_window():
    """READY and TRIG_ACK last milliseconds at line rate; the commissioning view names every bit set
    during its window, and forgets them once the window has passed."""
    import time

    offset = [0.0]
    release = threading.Event()

    def slow(request, exposure_done):
        release.wait(5.0)
        return InspectionResult(code=ResultCode.OK)

    with PlcStation(slow, config=MachineConfig(deadline_ms=10_000, plc_heartbeat_timeout_ms=60_000),
                    clock=lambda: time.monotonic() + offset[0]) as station:
        station.command("enable", True)
        assert station.wait_for(lambda im: Sts.READY in im.sts, 2.0)
        station.command("trigger", TriggerRequest(1))
        station.command("release_trigger")
        now = station.image().sts
        assert Sts.BUSY in now and Sts.READY not in now and Sts.TRIG_ACK not in now
        seen = Sts(station.sts_seen(1.0))
        assert Sts.READY in seen and Sts.TRIG_ACK in seen and Sts.BUSY in seen
        offset[0] += 2.0  # the part is still in work two seconds later
        assert Sts(station.sts_seen(1.0)) == station.image().sts
        release.set()
        assert station.wait_for(lambda im: im.presented is not None, 2.0)
        assert Sts.RESULT_VALID in Sts(station.sts_seen(1.0))
