"""The S7 bridge against snap7's own server on loopback: the PLC's data block is a buffer registered
with snap7.server.Server; the PLC program is the simulator, reading and writing that buffer with the
layout of docs/plc.md (contract register N = the big-endian WORD at byte 2*N)."""

from __future__ import annotations

import ctypes
from collections.abc import Iterator

import pytest
import snap7
from plc_timing import FAST
from tests_support import free_port

from inspection.plc.bridge import plc_bridges
from inspection.plc.contract import STN_BLOCK_START, Cmd, ErrorCode, StnReg
from inspection.plc.job import ScriptedJob
from inspection.plc.station import PlcStation
from plugins.plc.s7 import DB_SIZE, bytes_to_words, words_to_bytes
from plugins.plc.simulator import PlcSimulator

DB = 100


class S7Plc:
    """snap7's server with DB100 (the PLC's memory)."""

    def __init__(self) -> None:
        self.buffer = (ctypes.c_uint8 * DB_SIZE)()
        self.server = snap7.server.Server(log=False)
        self.server.register_area(snap7.type.SrvArea.DB, DB, self.buffer)
        self.port = free_port()

    def __enter__(self) -> S7Plc:
        self.server.start(tcp_port=self.port)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        self.server.destroy()


class DbProgram(PlcSimulator):
    """The PLC program: the simulator's handshake steps, on the data block's memory."""

    def __init__(self, plc: S7Plc, **kw: object) -> None:
        super().__init__(status_address=STN_BLOCK_START, **kw)  # type: ignore[arg-type]
        self.mem = plc.buffer

    def connect(self) -> DbProgram:
        if self.heartbeat_s and self._hb_thread is None:
            self.start_heartbeat()
        return self

    def close(self) -> None:
        self.stop_heartbeat()

    def write(self, reg: int, values: list[int]) -> None:
        data = words_to_bytes(values)
        with self._lock:
            ctypes.memmove(ctypes.addressof(self.mem) + 2 * reg, bytes(data), len(data))

    def read(self, reg: int, count: int) -> list[int]:
        with self._lock:
            return bytes_to_words(bytes(self.mem[2 * reg: 2 * (reg + count)]))


@pytest.fixture
def s7_plc() -> Iterator[S7Plc]:
    with S7Plc() as plc:
        yield plc


def test_handshake_through_the_plcs_data_block(s7_plc: S7Plc) -> None:
    with PlcStation(ScriptedJob(), config=FAST) as station, \
            plc_bridges.create("s7", station, host="127.0.0.1", port=s7_plc.port, db=DB, poll_ms=2) as bridge, \
            DbProgram(s7_plc) as plc:
        assert bridge.connected.wait(5)
        plc.enable()
        reports = [plc.run_part(seq, part_id=seq, part_id_str=part)
                   for seq, part in ((1, "OK"), (2, "NG"), (3, "GRABTIMEOUT:1"))]
        assert [r.problems for r in reports] == [()] * 3
        assert [r.passed for r in reports] == [True, False, False]
        assert reports[2].error_code == ErrorCode.GRAB_TIMEOUT
        assert plc.read_status()[StnReg.STATE] == 6  # Ready, at DB100.DBW204


def test_an_invalid_command_block_in_the_data_block_is_not_applied(s7_plc: S7Plc) -> None:
    with PlcStation(ScriptedJob(), config=FAST) as station, \
            plc_bridges.create("s7", station, host="127.0.0.1", port=s7_plc.port, db=DB, poll_ms=2) as bridge, \
            DbProgram(s7_plc, heartbeat_s=None) as plc:
        assert bridge.connected.wait(5)
        plc.write(0, [int(Cmd.TRIGGER_ENABLE) | 0x4000])
        assert station.wait_for(lambda im: im.error_code == ErrorCode.MALFORMED_WRITE, 3)
        assert not station.machine.enabled


def test_the_bridge_reconnects_after_the_plc_was_away(s7_plc: S7Plc) -> None:
    with PlcStation(ScriptedJob(), config=FAST) as station, \
            plc_bridges.create("s7", station, host="127.0.0.1", port=s7_plc.port, db=DB, poll_ms=2) as bridge:
        assert bridge.connected.wait(5)
        s7_plc.server.stop()
        assert _wait(lambda: not bridge.connected.is_set(), 5)
        s7_plc.server.start(tcp_port=s7_plc.port)
        assert bridge.connected.wait(5)


def _wait(pred, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return False
