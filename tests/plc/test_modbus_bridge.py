"""The Modbus TCP bridge on a real pymodbus server (127.0.0.1, free port): map, offset, word order,
unit id, refused functions and writes."""

from __future__ import annotations

import pytest

from inspection.errors import PlcError
from inspection.plc.contract import Cmd, PlcReg, StationState, StnReg, Sts
from inspection.plc.job import FixedTimeJob
from plugins.plc.simulator import PlcSimulator


def test_status_block_and_a_part_over_modbus(loopback):
    ls = loopback()
    with PlcSimulator(port=ls.port) as sim:
        v = sim.wait(lambda v: v.state == StationState.READY, "Ready")
        assert v[StnReg.DEADLINE_MS] == 200 and v[StnReg.ACK_TIMEOUT_MS] == 300
        assert v.has(Sts.SIMULATION) and not v.has(Sts.READY)
        sim.enable()
        r = sim.run_part(321, part_id=123_456_789, part_id_str="NG")
        assert r.ok and not r.passed and r.result_code == 2
        assert sim.read_status().u32(StnReg.COUNT_NG) == 1
        assert sim.read_plc_block()[PlcReg.TRIGGER_SEQ] == 321


@pytest.mark.parametrize("low_first", [True, False])
def test_offset_and_word_order(loopback, low_first):
    ls = loopback(address_offset=1000, low_word_first=low_first)
    with PlcSimulator(port=ls.port, address_offset=1000, low_word_first=low_first) as sim:
        sim.enable()
        r = sim.run_part(5, part_id=0x00010002)
        assert r.ok and r.passed
        echo = sim.read(StnReg.PART_ID_ECHO, 2)
        assert echo == ([2, 1] if low_first else [1, 2])
    with PlcSimulator(port=ls.port) as sim, pytest.raises(PlcError):
        sim.read_status()  # nothing at the un-offset address


def test_other_unit_id_is_refused(loopback):
    ls = loopback(unit_id=7)
    with PlcSimulator(port=ls.port, unit_id=7) as sim:
        sim.read_status()
    with PlcSimulator(port=ls.port, unit_id=8, heartbeat_s=None) as sim, pytest.raises(PlcError) as info:
        sim.read_status()
    assert getattr(info.value, "exception_code", None) == 0x0B


def test_coils_and_unmapped_reads_are_refused(loopback):
    ls = loopback()
    with PlcSimulator(port=ls.port, heartbeat_s=None) as sim:
        with pytest.raises(PlcError) as info:
            sim._call(sim._client.read_coils, 0, count=8)
        assert getattr(info.value, "exception_code", None) == 1
        with pytest.raises(PlcError) as info:
            sim.read(10, 10)
        assert getattr(info.value, "exception_code", None) == 2


def test_refused_write_changes_nothing_and_is_counted(loopback):
    ls = loopback()
    with PlcSimulator(port=ls.port, heartbeat_s=None) as sim:
        sim.set_cmd(Cmd.TRIGGER_ENABLE)
        with pytest.raises(PlcError):
            sim.write(PlcReg.CMD, [int(Cmd.TRIGGER_ENABLE | Cmd.TRIGGER) | 0x0200])
        assert sim.read_plc_block()[0] == Cmd.TRIGGER_ENABLE
        assert not sim.read_status().has(Sts.TRIG_ACK)
    assert ls.bridge.refused_writes == 1


def test_port_in_use_is_a_clear_error(loopback):
    first = loopback()
    from plugins.plc.loopback import LoopbackStation

    with pytest.raises(PlcError, match="cannot listen"):
        LoopbackStation(lambda: FixedTimeJob(), port=first.port).start()
