"""Issue #13, item 1: a PLC that restarts before RESULT_ACK must never read the dead session's
result, and READY comes back within 10 s. From outside: the real pymodbus server of the station,
two independent PLC simulators (the dead PLC and the restarted one)."""

from __future__ import annotations

import time

import pytest

from inspection.plc.contract import Cmd, StnReg, Sts
from plugins.plc.simulator import PlcSimulator


def _dead_plc_leaves_a_pass(port: int) -> None:
    plc1 = PlcSimulator("127.0.0.1", port, poll_s=0.001).connect()
    plc1.set_cmd(Cmd(0))
    plc1.enable(True)
    plc1.wait(lambda v: v.has(Sts.READY), "READY", 5.0)
    plc1.write_part(1, part_id=111, part_id_str="OK")
    plc1.set_cmd(plc1.cmd | Cmd.TRIGGER)
    v = plc1.wait(lambda v: v.has(Sts.RESULT_VALID), "RESULT_VALID", 5.0)
    assert v.has(Sts.PASS) and v[StnReg.TRIGGER_SEQ_ECHO] == 1
    plc1.close()  # dies before RESULT_ACK (TRIGGER still high in the station's last image)


@pytest.mark.parametrize("reset_first", [True, False], ids=["cmd0-then-enable", "heartbeat-lost-only"])
def test_restarted_plc_never_reads_the_dead_sessions_pass(loopback, reset_first):
    ls = loopback()
    _dead_plc_leaves_a_pass(ls.port)
    if not reset_first:
        time.sleep(0.5)  # a PLC restart takes longer than the heartbeat timeout (300 ms here)
    with PlcSimulator("127.0.0.1", ls.port, poll_s=0.001) as plc2:
        if reset_first:
            plc2.set_cmd(Cmd(0))  # docs/plc.md: after a restart write CMD = 0, then enable
        t0 = time.perf_counter()
        plc2.enable(True)
        plc2.wait(lambda v: v.has(Sts.READY), "READY for the restarted PLC", 10.0)
        assert time.perf_counter() - t0 < 10.0
        first = plc2.read_status()
        assert not first.has(Sts.RESULT_VALID) and not first.has(Sts.PASS)
        report = plc2.run_part(1, part_id=222, part_id_str="OK")  # its counter starts over at 1
        assert report.echo_seq == 1 and report.problems == (), report.problems
        assert report.passed
        assert ls.station.machine.buffer.waiting == 0 and not plc2.read_status().has(Sts.RESULT_VALID)
        plc2.set_cmd(Cmd(0))


def test_dropping_trigger_enable_discards_unacknowledged_results_and_reports_them(loopback):
    ls = loopback()
    discarded: list[tuple[int, str]] = []
    ls.station.on_discard(lambda rec, why: discarded.append((rec.request.trigger_seq, why)))
    _dead_plc_leaves_a_pass(ls.port)
    with PlcSimulator("127.0.0.1", ls.port, poll_s=0.001) as plc2:
        plc2.set_cmd(Cmd(0))
        plc2.wait(lambda v: not v.has(Sts.RESULT_VALID), "RESULT_VALID to fall", 2.0)
    assert discarded and discarded[0][0] == 1
