"""The station runtime end to end on loopback: a real camera driver (file replay), the real Modbus
TCP server with the PLC simulator as the PLC, real recipes, the real SQLite store."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspection.camera.settings import CameraSettings
from inspection.cli.demo_parts import generate_parts, generated_recipe
from inspection.errors import StationError
from inspection.plc.contract import ErrorCode, StationState, Sts
from inspection.recipe.catalog import MemoryCatalog
from inspection.station.config import PlcSection, StationConfig, StationSection
from inspection.station.runtime import Station
from inspection.store import ResultQuery, ResultStore, StoreConfig
from plugins.plc.simulator import PlcSimulator

SHAPE = (240, 320)


@dataclasses.dataclass
class Line:
    station: Station
    sim: PlcSimulator
    planted: list[bool]
    reference: np.ndarray
    folder: Path


def _config(tmp: Path, folder: Path, **camera: object) -> StationConfig:
    return StationConfig(
        station=StationSection(id="test-station", data_dir=tmp / "data"),
        camera=CameraSettings(driver="replay", image_file=folder, grab_timeout_s=2.0, **camera),  # type: ignore[arg-type]
        plc=PlcSection(host="127.0.0.1", port=0, deadline_ms=3000, plc_heartbeat_timeout_ms=5000),
    )


@pytest.fixture
def line(tmp_path: Path) -> Iterator[Line]:
    folder = tmp_path / "camera"
    reference, planted = generate_parts(folder, count=6, defect_share=0.5, seed=11, shape=SHAPE)
    catalog = MemoryCatalog([generated_recipe(reference, number=1)])
    station = Station(_config(tmp_path, folder), catalog).start()
    sim = PlcSimulator("127.0.0.1", station.modbus_port, poll_s=0.002, timeout_s=10.0).connect()
    try:
        sim.wait(lambda v: v.state == StationState.READY, "recipe prepared", 20.0)
        sim.recipe_no = 1
        sim.enable(True)
        yield Line(station, sim, planted, reference, folder)
    finally:
        sim.close()
        station.stop()


def test_parts_are_judged_and_published_in_order(line: Line, tmp_path: Path) -> None:
    reports = [line.sim.run_part(k + 1, part_id=100 + k, part_id_str=f"SN{k:03d}") for k in range(6)]
    for k, r in enumerate(reports):
        assert r.ok, r.problems
        assert r.passed is (not line.planted[k]), f"part {k}: planted={line.planted[k]}, code {r.result_code}"
    recent = _wait_recent(line.station, 6)
    assert [p.part.trigger_seq for p in reversed(recent)] == [1, 2, 3, 4, 5, 6]
    for rec in recent:
        assert {"acquire", "align", "detect", "decide", "publish", "total"} <= set(rec.result.timings_ms)
        assert rec.part.part_id_str.startswith("SN")
    stats = line.station.stage_stats()
    assert {"acquire", "align", "detect", "cycle"} <= set(stats)
    line.station.store.flush(10.0)
    with ResultStore(StoreConfig(tmp_path / "data" / "store")) as store:
        rows = store.query(ResultQuery(limit=10))
        assert len(rows) == 6
        assert sum(r.verdict == "reject" for r in rows) == sum(line.planted)


def test_thresholds_from_the_hmi_apply_between_cycles(line: Line) -> None:
    bad = line.planted.index(True)
    for k in range(bad):
        line.sim.run_part(k + 1)
    assert not line.sim.run_part(bad + 1).passed
    line.station.set_thresholds({"min_area_px": 100_000}, user="erik")
    # the same defective image comes round again: now too small to count
    for k in range(len(line.planted) - bad - 1):
        line.sim.run_part(50 + k)
    r = line.sim.run_part(99)
    assert r.passed, "a defect smaller than the minimum area must not reject"
    entries = line.station.store.audit_log(limit=10)
    assert any(e.action == "set_thresholds" and e.user == "erik" for e in entries)


def test_disarmed_station_refuses_plc_triggers(line: Line) -> None:
    line.station.disarm(user="erik")
    assert line.station.status().state is StationState.OPERATOR_ACCESS
    view = line.sim.run_part(1, wait_ready=False)
    assert not view.passed and view.error_code == ErrorCode.OPERATOR_ACCESS
    line.station.arm(user="erik")
    line.sim.wait(lambda v: v.has(Sts.READY), "READY again")
    assert line.sim.run_part(2).ok


def test_teaching_a_golden_reference_swaps_the_recipe(line: Line) -> None:
    other = np.full(SHAPE, 90, np.uint8)
    cv2.circle(other, (160, 120), 60, 200, -1)
    line.station.teach_golden(line.station.status().active_recipe, user="erik", image=other)
    r = line.sim.run_part(1)
    assert not r.passed  # the parts no longer look like the golden reference
    info = line.station.recipes()[0]
    assert info.golden is not None and info.golden.taught_by == "erik"


def test_deadline_exceeded_is_a_timeout_reject(tmp_path: Path) -> None:
    folder = tmp_path / "camera"
    reference, _ = generate_parts(folder, count=2, defect_share=0.0, seed=3, shape=SHAPE)
    config = _config(tmp_path, folder, replay_delay_s=1.5)
    config = config.model_copy(update={"plc": config.plc.model_copy(update={"deadline_ms": 300})})
    station = Station(config, MemoryCatalog([generated_recipe(reference)])).start()
    try:
        with PlcSimulator("127.0.0.1", station.modbus_port, poll_s=0.002, timeout_s=10.0) as sim:
            sim.wait(lambda v: v.state == StationState.READY, "ready", 20.0)
            sim.recipe_no = 1
            sim.enable(True)
            r = sim.run_part(7)
            assert not r.passed and r.result_code == 4 and r.timeout_reject
        (rec,) = _wait_recent(station, 1)
        assert rec.result.code.name == "NG_DEADLINE" and rec.part.trigger_seq == 7
    finally:
        station.stop()


def test_corrupt_camera_image_is_a_reject_not_a_crash(tmp_path: Path) -> None:
    folder = tmp_path / "camera"
    reference, _ = generate_parts(folder, count=2, defect_share=0.0, seed=3, shape=SHAPE)
    (folder / "part-0000.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    station = Station(_config(tmp_path, folder), MemoryCatalog([generated_recipe(reference)])).start()
    try:
        with PlcSimulator("127.0.0.1", station.modbus_port, poll_s=0.002, timeout_s=10.0) as sim:
            sim.wait(lambda v: v.state == StationState.READY, "ready", 20.0)
            sim.recipe_no = 1
            sim.enable(True)
            first = sim.run_part(1)
            second = sim.run_part(2)
        assert not first.passed and first.result_code == 5  # NG acquisition error
        assert second.passed  # the next, readable image is inspected normally
    finally:
        station.stop()


def test_recipe_change_from_the_plc(tmp_path: Path) -> None:
    folder = tmp_path / "camera"
    ref_a, _ = generate_parts(folder, count=3, defect_share=0.0, seed=5, shape=SHAPE)
    ref_b = np.full(SHAPE, 60, np.uint8)
    cv2.rectangle(ref_b, (40, 40), (280, 200), 190, 8)
    catalog = MemoryCatalog([generated_recipe(ref_a, number=1),
                             dataclasses.replace(generated_recipe(ref_b, number=2), name="Frame part")])
    station = Station(_config(tmp_path, folder), catalog).start()
    try:
        with PlcSimulator("127.0.0.1", station.modbus_port, poll_s=0.002, timeout_s=10.0) as sim:
            sim.wait(lambda v: v.state == StationState.READY, "ready", 20.0)
            sim.recipe_no = 1
            sim.enable(True)
            assert sim.run_part(1).passed
            from plugins.plc.line import SimulatedLine

            SimulatedLine._select(SimulatedLine("127.0.0.1", 0), sim, 2)  # the RECIPE_REQ handshake
            assert station.plc.image().active_recipe == 2
            assert station.status().active_recipe == "frame-part"
            assert not sim.run_part(2).passed  # a part of recipe 1 under recipe 2
            with pytest.raises(StationError):
                station.select_recipe("no-such-recipe", user="erik")
    finally:
        station.stop()


def _wait_recent(station: Station, n: int, timeout: float = 10.0) -> list:
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        recent = station.recent_parts(n)
        if len(recent) >= n:
            return recent
        time.sleep(0.02)
    raise AssertionError(f"only {len(station.recent_parts(n))} of {n} parts published")


def test_calibrated_recipe_reports_millimetres_to_the_plc(tmp_path: Path) -> None:
    from inspection.plc.contract import StnReg

    folder = tmp_path / "camera"
    reference, _ = generate_parts(folder, count=4, defect_share=1.0, seed=13, shape=SHAPE)
    recipe = dataclasses.replace(generated_recipe(reference), mm_per_px=0.05)
    station = Station(_config(tmp_path, folder), MemoryCatalog([recipe])).start()
    try:
        with PlcSimulator("127.0.0.1", station.modbus_port, poll_s=0.002, timeout_s=10.0) as sim:
            sim.wait(lambda v: v.state == StationState.READY, "ready", 20.0)
            sim.recipe_no = 1
            sim.enable(True)
            sim.write_part(1)
            sim.set_cmd(sim.cmd | 2)  # TRIGGER
            view = sim.wait(lambda v: v.has(Sts.RESULT_VALID), "RESULT_VALID")
            sim.set_cmd(4)  # RESULT_ACK, TRIGGER dropped
        (rec,) = _wait_recent(station, 1)
        worst = rec.result.worst
        assert worst is not None and rec.result.mm_per_px == 0.05
        cx, cy = worst.center
        assert view[StnReg.WORST_X] == round(cx * 0.05 * 10)  # 0.1 mm
        assert view[StnReg.WORST_Y] == round(cy * 0.05 * 10)
        assert view[StnReg.WORST_SIZE] == round(worst.area_px * 0.05 * 0.05 * 100)  # 0.01 mm2
    finally:
        station.stop()


def test_changing_the_recipe_folder_is_logged_and_needs_a_restart(line: Line, tmp_path: Path, caplog) -> None:
    """Issue #13, item 6: it did nothing and logged nothing."""
    import logging

    old = line.station.config
    new = old.model_copy(update={"recipes": old.recipes.model_copy(update={"folder": tmp_path / "other"})})
    with caplog.at_level(logging.WARNING, logger="inspection.station.runtime"):
        restart = line.station.reload(new)
    assert restart == ["recipes.folder"]
    assert "recipes.folder changed" in caplog.text
    assert line.station.config.recipes.folder == old.recipes.folder
    assert [a.action for a in line.station.store.audit_log(user="config")] == ["recipes_folder_pending"]
    r = line.sim.run_part(1, part_id=1)  # still inspecting with the old folder's recipe
    assert r.echo_seq == 1 and not r.problems


def test_a_process_alarm_sets_the_plc_warning_bit(line: Line) -> None:
    """5 rejects in a row (the default) raise the consecutive-NG alarm: the PLC reads STS WARNING
    over Modbus until the alarm is acknowledged on the HMI (its condition cleared)."""
    from tests_support import make_result

    from inspection.result import ResultCode

    line.sim.wait(lambda v: Sts.WARNING not in v.sts, "no warning at the start", 5.0)
    for k in range(5):
        result, image = make_result(k, defective=True, size=SHAPE, recipe_id="")
        line.station.inject(dataclasses.replace(result, code=ResultCode.NG_DEFECT), image)
    line.sim.wait(lambda v: Sts.WARNING in v.sts, "WARNING after 5 NG in a row", 5.0)
    assert [a.active for a in line.station.alarms() if a.name == "consecutive_ng"] == [True]
    line.station.acknowledge_alarm("consecutive_ng", user="op")
    line.sim.wait(lambda v: Sts.WARNING not in v.sts, "WARNING gone after the acknowledge", 5.0)


def test_plc_registers_and_handshakes_over_http(line: Line, tmp_path: Path) -> None:
    """The commissioning view: the status block the PLC reads, with STS bits named, and the last
    handshakes, from the running station through the HMI."""
    from fastapi.testclient import TestClient

    from hmi.app import create_app
    from hmi.auth.roles import Role
    from hmi.auth.users import UserStore

    for k in range(2):
        assert line.sim.run_part(k + 1, part_id=500 + k, part_id_str=f"SN-PLC-{k}").ok
    _wait_recent(line.station, 2)
    users = UserStore(tmp_path / "users.db")
    users.create("olga", Role.OPERATOR, "pass-word-1")
    try:
        with TestClient(create_app(line.station, line.station.store, users, announce=lambda _t: None)) as c:
            tok = c.post("/api/auth/login", json={"username": "olga", "password": "pass-word-1"}).json()["token"]
            d = c.get("/api/plc/registers?n=5", headers={"Authorization": f"Bearer {tok}"}).json()
    finally:
        users.close()
    regs = {r["name"]: r["value"] for r in d["registers"]}
    assert len(d["registers"]) == 27 and d["registers"][0]["address"] == 100
    assert regs["STATE"] == int(StationState.READY) and regs["ACTIVE_RECIPE"] == 1
    assert regs["TRIGGER_SEQ_ECHO"] == 2 and "READY" in d["sts_bits"]
    assert set(d["sts_bits"]) <= set(d["sts_seen_bits"]) and d["sts_seen_s"] == 1.0
    assert [h["part_id_str"] for h in d["handshakes"]] == ["SN-PLC-1", "SN-PLC-0"]
    assert d["handshakes"][0]["trigger_seq"] == 2 and d["handshakes"][0]["code"] in ("OK", "NG_DEFECT")
