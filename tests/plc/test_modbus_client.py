"""Client mode: the station writes its status block into a PLC's own registers and reads the PLC's
command block from them. The PLC is a plain pymodbus server (its memory); the PLC program is the
simulator, working on that memory."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
from plc_timing import FAST

from inspection.plc.contract import Cmd, ErrorCode, StationState, StnReg
from inspection.plc.job import ScriptedJob
from inspection.plc.station import PlcStation
from plugins.plc.modbus import create_bridge
from plugins.plc.simulator import PlcSimulator


class PlcMemory:
    """A Modbus TCP server with 300 plain holding registers (what a PLC exposes)."""

    def __init__(self) -> None:
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        memory = SimDevice(id=0, simdata=[SimData(0, count=300, datatype=DataType.REGISTERS)])
        server = ModbusTcpServer(memory, address=("127.0.0.1", 0))
        await server.serve_forever(background=True)
        self.port = server.transport.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._loop, self._done = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        await self._done.wait()
        await server.shutdown()

    def __enter__(self) -> PlcMemory:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._done.set)
        self._thread.join(10)


@pytest.fixture
def plc_memory() -> Iterator[PlcMemory]:
    with PlcMemory() as mem:
        yield mem


def test_handshake_through_the_plcs_own_registers(plc_memory):
    with PlcStation(ScriptedJob(), config=FAST) as station, \
            create_bridge(station, mode="client", host="127.0.0.1", port=plc_memory.port,
                          cmd_address=0, status_address=200, poll_ms=2) as bridge, \
            PlcSimulator(port=plc_memory.port, status_address=200) as plc:
        assert bridge.connected.wait(5)
        plc.enable()
        reports = [plc.run_part(seq, part_id=seq, part_id_str=part)
                   for seq, part in ((1, "OK"), (2, "NG"), (3, "GRABTIMEOUT:1"))]
        assert [r.ok for r in reports] == [True] * 3
        assert [r.passed for r in reports] == [True, False, False]
        assert reports[2].error_code == ErrorCode.GRAB_TIMEOUT


def test_invalid_command_block_in_the_plc_is_not_applied(plc_memory):
    with PlcStation(ScriptedJob(), config=FAST) as station, \
            create_bridge(station, mode="client", host="127.0.0.1", port=plc_memory.port,
                          poll_ms=2) as bridge, \
            PlcSimulator(port=plc_memory.port, heartbeat_s=None) as plc:
        assert bridge.connected.wait(5)
        plc.write(0, [int(Cmd.TRIGGER_ENABLE) | 0x4000])
        assert station.wait_for(lambda im: im.error_code == ErrorCode.MALFORMED_WRITE, 3)
        assert not station.machine.enabled
        plc.write(0, [int(Cmd.TRIGGER_ENABLE)])
        assert station.wait_for(lambda im: bool(station.machine.enabled) and im.state is StationState.READY, 3)
        # the bridge copies the station's registers into the PLC every poll: READY arrives there too
        deadline = time.monotonic() + 3.0
        while plc.read(StnReg.STATE, 1) != [int(StationState.READY)] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert plc.read(StnReg.STATE, 1) == [int(StationState.READY)]
