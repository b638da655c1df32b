"""Issue #13, item 7: a PLC that leaves RECIPE_NO at 0 means "the active recipe" (configurable);
any other number must still match ACTIVE_RECIPE. Real pymodbus client against the station's server."""

from __future__ import annotations

import dataclasses

from inspection.plc.contract import Cmd, ErrorCode, ResultCode, StnReg, Sts
from inspection.station.timing import MachineConfig
from plugins.plc.simulator import PlcSimulator

FAST = MachineConfig(deadline_ms=200, ack_timeout_ms=300, plc_heartbeat_timeout_ms=300, simulation=True)


def _run(port: int, recipe_no: int, seq: int) -> tuple[int, int, bool]:
    with PlcSimulator("127.0.0.1", port, poll_s=0.001) as sim:
        sim.set_cmd(Cmd(0))
        sim.enable(True)
        sim.wait(lambda v: v.has(Sts.READY), "READY", 5.0)
        r = sim.run_part(seq, part_id=seq, part_id_str="OK", recipe_no=recipe_no)
        v = sim.read_status()
        sim.set_cmd(Cmd(0))
        assert v[StnReg.ACTIVE_RECIPE] == 7
        return r.result_code, r.echo_seq, r.passed


def test_recipe_no_zero_means_the_active_recipe(loopback):
    ls = loopback(initial_recipe=7)
    assert _run(ls.port, 0, 1) == (ResultCode.OK, 1, True)
    code, _, passed = _run(ls.port, 3, 2)  # another product: still refused
    assert code == ResultCode.NG_RECIPE and not passed
    assert ls.station.machine.error_code is ErrorCode.RECIPE_MISMATCH


def test_recipe_zero_rule_can_be_switched_off(loopback):
    ls = loopback(initial_recipe=7, config=dataclasses.replace(FAST, recipe_zero_is_active=False))
    code, _, passed = _run(ls.port, 0, 1)
    assert code == ResultCode.NG_RECIPE and not passed
