"""Modbus TCP client mode: the station writes the status block into the PLC's own holding registers
and reads the PLC's command block from them (for PLCs that are Modbus servers only).

Each cycle: read the command block (validated like a server-mode write: a block the contract does
not allow is not applied, is logged once and sets ERROR_CODE), then, if the status block changed,
write the result part (HR104-126) first and the header with STS/RESULT_VALID (HR100-103) last, in a
separate write. A status change wakes the cycle at once; otherwise it runs every ``poll_ms``.
A lost connection is logged once at ERROR, retried every second, and the whole status block is
written again after reconnecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

from inspection.errors import PlcError, PlcWriteRefused
from inspection.plc.codec import PlcWords, validate_plc_write
from inspection.plc.contract import (
    PLC_BLOCK_LEN,
    RESULT_BLOCK_START,
    STN_BLOCK_START,
    ErrorCode,
)
from inspection.plc.station import PlcStation
from plugins.plc import require_pymodbus

logger = logging.getLogger(__name__)

HEADER = RESULT_BLOCK_START - STN_BLOCK_START  # STS, STN_HEARTBEAT, STATE, ACTIVE_RECIPE


class ModbusClientBridge:
    def __init__(self, station: PlcStation, *, host: str, port: int = 502, unit_id: int = 1,
                 cmd_address: int = 0, status_address: int = STN_BLOCK_START, poll_ms: float = 10.0,
                 timeout_s: float = 1.0) -> None:
        require_pymodbus()
        if poll_ms <= 0:
            raise PlcError(f"poll_ms must be > 0, got {poll_ms}")
        self.station, self.host, self.port, self.unit_id = station, host, port, unit_id
        self.cmd_address, self.status_address = cmd_address, status_address
        self.poll_s, self.timeout_s = poll_ms / 1000.0, timeout_s
        self.connected = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stop = threading.Event()
        self._refused: list[int] | None = None

    def _changed(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            loop.call_soon_threadsafe(wake.set)

    async def _cycle(self, client: Any, pushed: list[int] | None) -> list[int]:
        rr = await client.read_holding_registers(self.cmd_address, count=PLC_BLOCK_LEN,
                                                 device_id=self.unit_id)
        if rr.isError():
            raise PlcError(f"PLC refused reading its command block: {rr}")
        block = list(rr.registers)
        try:
            validate_plc_write(0, block)
        except PlcWriteRefused as exc:
            if block != self._refused:
                logger.warning("PLC command block not applied: %s", exc)
                self.station.command("note_error", ErrorCode.MALFORMED_WRITE)
                self._refused = block
        else:
            self._refused = None
            self.station.apply_plc_words(PlcWords.decode(block, low_word_first=self.station.low_word_first))
        regs = self.station.registers()
        if regs != pushed:
            for start, words in ((HEADER, regs[HEADER:]), (0, regs[:HEADER])):  # results, then STS
                wr = await client.write_registers(self.status_address + start, words, device_id=self.unit_id)
                if wr.isError():
                    raise PlcError(f"PLC refused the status write at {self.status_address + start}: {wr}")
        return regs

    async def _run(self) -> None:
        from pymodbus.client import AsyncModbusTcpClient
        from pymodbus.exceptions import ModbusException

        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        self.station.add_listener(self._changed)
        client = AsyncModbusTcpClient(self.host, port=self.port, timeout=self.timeout_s, retries=0,
                                      reconnect_delay=0)
        pushed: list[int] | None = None
        down_logged = False
        try:
            while not self._stop.is_set():
                try:
                    if not client.connected and not await client.connect():
                        raise PlcError(f"cannot connect to the PLC at {self.host}:{self.port}")
                    self.connected.set()
                    if down_logged:
                        logger.warning("PLC link to %s:%d back", self.host, self.port)
                        down_logged = False
                    pushed = await self._cycle(client, pushed)
                except (TimeoutError, PlcError, ModbusException, OSError) as exc:
                    self.connected.clear()
                    pushed = None
                    client.close()
                    (logger.debug if down_logged else logger.error)("PLC link down: %s", exc)
                    down_logged = True
                    await asyncio.sleep(1.0)
                    continue
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_s)
                self._wake.clear()
        finally:
            self.station.remove_listener(self._changed)
            client.close()

    def start(self) -> ModbusClientBridge:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="modbus-client",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._changed()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> ModbusClientBridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
