"""Issue #13, item 5: kill -9 right after the PLC read RESULT_VALID. Every result the PLC received
must be in the store after the restart (once), and parts run again. A real station process, the real
Modbus TCP server, the PLC simulator as the PLC, 3 rounds at line rate (up to 20 parts/s)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from inspection.cli.demo_parts import generate_parts
from inspection.plc.contract import Cmd, StationState, StnReg, Sts
from plugins.plc.simulator import PlcSimulator

HERE = Path(__file__).parent
SHAPE = (120, 160)


def _start(data: Path, folder: Path) -> tuple[subprocess.Popen[str], int]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OPENCV_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    log = data.parent / "station.log"
    with open(log, "a") as err:
        proc = subprocess.Popen([sys.executable, str(HERE / "station_child.py"), str(data), str(folder)],
                                stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        _end(proc, signal.SIGKILL)
        pytest.fail(f"station did not start: {line!r} {log.read_text()[-2000:]}")
    return proc, int(line.split()[1])


def _end(proc: subprocess.Popen[str], sig: int) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    proc.wait(30)
    if proc.stdout is not None:
        proc.stdout.close()


def _plc(port: int) -> PlcSimulator:
    sim = PlcSimulator("127.0.0.1", port, poll_s=0.001, timeout_s=10.0).connect()
    sim.set_cmd(Cmd(0))
    sim.wait(lambda v: v.state == StationState.READY, "recipe prepared", 20.0)
    sim.recipe_no = 1
    sim.enable(True)
    return sim


@pytest.mark.slow
def test_kill_9_right_after_result_valid_loses_no_result_the_plc_received(tmp_path: Path) -> None:
    folder = tmp_path / "camera"
    reference, _ = generate_parts(folder, count=6, defect_share=0.5, seed=5, shape=SHAPE)
    cv2.imwrite(str(tmp_path / "reference.png"), reference)
    data = tmp_path / "data"
    received: dict[int, bool] = {}  # part id -> PASS, as the PLC read it
    seq = 0
    for round_no in range(3):
        proc, port = _start(data, folder)
        try:
            sim = _plc(port)
            for i in range(10 + 5 * round_no):  # parts acknowledged normally (~20 parts/s)
                seq += 1
                part_id = round_no * 1000 + i
                t0 = time.perf_counter()
                r = sim.run_part(seq, part_id=part_id)
                assert r.echo_seq == seq and not r.problems
                received[part_id] = r.passed
                time.sleep(max(0.0, 0.05 - (time.perf_counter() - t0)))
            seq += 1
            part_id = round_no * 1000 + 999
            sim.wait(lambda v: v.has(Sts.READY), "READY")
            sim.write_part(seq, part_id=part_id)
            sim.set_cmd(sim.cmd | Cmd.TRIGGER)
            v = sim.wait(lambda v: v.has(Sts.RESULT_VALID), "RESULT_VALID")
            proc.send_signal(signal.SIGKILL)  # right after the PLC read the result
            assert v.u32(StnReg.PART_ID_ECHO) == part_id
            received[part_id] = v.has(Sts.PASS)
            sim.close()
        finally:
            _end(proc, signal.SIGKILL)
    # restart: recovery, then parts run again; a clean stop
    proc, port = _start(data, folder)
    try:
        sim = _plc(port)
        for i in range(3):
            seq += 1
            r = sim.run_part(seq, part_id=9000 + i)
            assert r.echo_seq == seq and not r.problems
            received[9000 + i] = r.passed
        sim.close()
    finally:
        _end(proc, signal.SIGTERM)
    with sqlite3.connect(data / "store" / "results.db") as db:
        rows = db.execute("SELECT part_id, verdict FROM results").fetchall()
    stored: dict[int, list[str]] = {}
    for part_id, verdict in rows:
        stored.setdefault(part_id, []).append(verdict)
    missing = sorted(p for p in received if p not in stored)
    twice = sorted(p for p, v in stored.items() if len(v) > 1)
    assert not missing, f"results the PLC received but the store lost: {missing}"
    assert not twice, f"stored twice: {twice}"
    wrong = [p for p, passed in received.items() if stored[p] != ["pass" if passed else "reject"]]
    assert not wrong, f"stored verdict differs from what the PLC read: {wrong}"
