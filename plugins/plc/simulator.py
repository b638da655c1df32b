"""A PLC simulator: a pymodbus client that runs the PLC side of the handshake step by step, checks
the echoes, and measures per-part latency. Used by ``inspection plc-sim``, the conformance suite and
the benchmark.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from inspection.errors import PlcError
from inspection.plc.codec import ascii_to_words, u32_to_words
from inspection.plc.contract import (
    PLC_BLOCK_LEN,
    STN_BLOCK_LEN,
    STN_BLOCK_START,
    Cmd,
    PlcReg,
    StnReg,
    Sts,
)
from plugins.plc.station_view import PartReport, StationView, report

logger = logging.getLogger(__name__)


class PlcSimulator:
    """The PLC side. ``poll_s`` is the pause between status reads while waiting (a PLC's cycle).
    ``status_address``: where the station's block is read (HR100; in client mode wherever the
    station writes it into the PLC's memory)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 502, *, unit_id: int = 1,
                 address_offset: int = 0, low_word_first: bool = True, poll_s: float = 0.0005,
                 timeout_s: float = 3.0, heartbeat_s: float | None = 0.05,
                 status_address: int = STN_BLOCK_START) -> None:
        from pymodbus.client import ModbusTcpClient

        self.host, self.port, self.unit_id, self.offset = host, port, unit_id, address_offset
        self.low_word_first = low_word_first
        self.status_address = status_address  # where the status block is (another in client mode)
        self.poll_s, self.timeout_s, self.heartbeat_s = poll_s, timeout_s, heartbeat_s
        self._client = ModbusTcpClient(host, port=port, timeout=timeout_s, retries=0)
        self._lock = threading.Lock()
        self.cmd = Cmd(0)
        self.recipe_no = 0
        self._hb = 0
        self._hb_stop = threading.Event()
        self._hb_thread: threading.Thread | None = None

    # ----------------------------------------------------------------- connection and heartbeat
    def connect(self) -> PlcSimulator:
        with self._lock:
            if not self._client.connect():
                raise PlcError(f"cannot connect to the station at {self.host}:{self.port}")
        if self.heartbeat_s and self._hb_thread is None:
            self.start_heartbeat()
        return self

    def close(self) -> None:
        self.stop_heartbeat()
        with self._lock:
            self._client.close()

    def drop_connection(self) -> None:
        """Close the socket abruptly (the heartbeat keeps trying and fails until reconnect)."""
        with self._lock:
            self._client.close()

    def reconnect(self) -> None:
        with self._lock:
            self._client.close()
            if not self._client.connect():
                raise PlcError(f"cannot reconnect to {self.host}:{self.port}")

    def __enter__(self) -> PlcSimulator:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start_heartbeat(self) -> None:
        self._hb_stop.clear()
        self._hb_thread = threading.Thread(target=self._beat, name="plc-sim-heartbeat", daemon=True)
        self._hb_thread.start()

    def stop_heartbeat(self) -> None:
        self._hb_stop.set()
        if self._hb_thread is not None:
            self._hb_thread.join(2.0)
            self._hb_thread = None

    def _beat(self) -> None:
        assert self.heartbeat_s
        while not self._hb_stop.wait(self.heartbeat_s):
            try:
                self.beat()
            except (PlcError, OSError) as exc:  # a station killed under it: keep beating, reconnect later
                logger.debug("heartbeat write failed: %s", exc)

    def beat(self) -> None:
        self._hb = (self._hb + 1) & 0xFFFF
        self.write(PlcReg.PLC_HEARTBEAT, [self._hb])

    # ----------------------------------------------------------------- raw access
    def _call(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        from pymodbus.exceptions import ModbusException

        with self._lock:
            try:
                response = fn(*args, device_id=self.unit_id, **kw)
            except ModbusException as exc:
                raise PlcError(f"Modbus request failed: {exc}") from exc
        if response.isError():
            code = getattr(response, "exception_code", None)
            err = PlcError(f"station answered Modbus exception {code}")
            err.exception_code = code  # type: ignore[attr-defined]
            raise err
        return response

    def write(self, reg: int, values: list[int]) -> None:
        """Write contract register ``reg`` (offset added here); FC6 for one word, FC16 for more."""
        if len(values) == 1:
            self._call(self._client.write_register, self.offset + reg, values[0])
        else:
            self._call(self._client.write_registers, self.offset + reg, values)

    def read(self, reg: int, count: int) -> list[int]:
        return list(self._call(self._client.read_holding_registers, self.offset + reg,
                               count=count).registers)

    def read_status(self) -> StationView:
        words = self.read(self.status_address, STN_BLOCK_LEN)
        return StationView(tuple(words), time.perf_counter(), self.low_word_first)

    def read_plc_block(self) -> list[int]:
        return self.read(0, PLC_BLOCK_LEN)

    def set_cmd(self, cmd: Cmd) -> float:
        """Write the CMD word; returns perf_counter() just before the write was sent."""
        self.cmd = cmd
        t = time.perf_counter()
        self.write(PlcReg.CMD, [int(cmd)])
        return t

    def wait(self, predicate: Callable[[StationView], bool], what: str,
             timeout: float | None = None) -> StationView:
        end = time.perf_counter() + (self.timeout_s if timeout is None else timeout)
        while True:
            view = self.read_status()
            if predicate(view):
                return view
            if view.at > end:
                raise PlcError(f"timeout waiting for {what} (STS={view[StnReg.STS]:#06x}, "
                               f"state {view.state_name}, error {view.error})")
            time.sleep(self.poll_s)

    # ----------------------------------------------------------------- handshake steps
    def enable(self, on: bool = True, *, buffer: bool | None = None) -> None:
        cmd = self.cmd | Cmd.TRIGGER_ENABLE if on else self.cmd & ~Cmd.TRIGGER_ENABLE
        if buffer is not None:
            cmd = cmd | Cmd.BUFFER_ENABLE if buffer else cmd & ~Cmd.BUFFER_ENABLE
        self.set_cmd(cmd)

    def write_part(self, seq: int, *, part_id: int = 0, part_id_str: str = "",
                   recipe_no: int | None = None) -> None:
        """Step 3a: RECIPE_NO, PART_ID, PART_ID_STR and TRIGGER_SEQ in one write."""
        recipe = self.recipe_no if recipe_no is None else recipe_no
        block = [recipe, *u32_to_words(part_id, low_word_first=self.low_word_first),
                 *ascii_to_words(part_id_str), seq & 0xFFFF]
        self.write(PlcReg.RECIPE_NO, block)

    def pulse_trigger(self, seq: int, **part: Any) -> tuple[float, StationView]:
        """Write the part data, raise TRIGGER, wait for TRIG_ACK, drop TRIGGER, wait TRIG_ACK=0.
        Returns the trigger time and the view that showed TRIG_ACK."""
        self.write_part(seq, **part)
        t0 = self.set_cmd(self.cmd | Cmd.TRIGGER)
        acked = self.wait(lambda v: v.has(Sts.TRIG_ACK), "TRIG_ACK")
        self.set_cmd(self.cmd & ~Cmd.TRIGGER)
        self.wait(lambda v: not v.has(Sts.TRIG_ACK), "TRIG_ACK to fall")
        return t0, acked

    def take_result(self, timeout: float | None = None) -> StationView:
        """Wait for RESULT_VALID, copy it, acknowledge it (RESULT_ACK until RESULT_VALID falls)."""
        view = self.wait(lambda v: v.has(Sts.RESULT_VALID), "RESULT_VALID", timeout)
        self.set_cmd((self.cmd | Cmd.RESULT_ACK) & ~Cmd.TRIGGER)
        self.wait(lambda v: not v.has(Sts.RESULT_VALID), "RESULT_VALID to fall")
        self.set_cmd(self.cmd & ~Cmd.RESULT_ACK)
        return view

    def run_part(self, seq: int, *, part_id: int = 0, part_id_str: str = "",
                 recipe_no: int | None = None, wait_ready: bool = True,
                 result_timeout: float | None = None) -> PartReport:
        """One part, steps 2-7 of the contract, with checks of every echo."""
        if wait_ready:
            self.wait(lambda v: v.has(Sts.READY), "READY")
        self.write_part(seq, part_id=part_id, part_id_str=part_id_str, recipe_no=recipe_no)
        t0 = self.set_cmd(self.cmd | Cmd.TRIGGER)
        acked = self.wait(lambda v: v.has(Sts.TRIG_ACK), "TRIG_ACK")
        view = acked if acked.has(Sts.RESULT_VALID) else self.wait(
            lambda v: v.has(Sts.RESULT_VALID), "RESULT_VALID", result_timeout)
        self.set_cmd((self.cmd | Cmd.RESULT_ACK) & ~Cmd.TRIGGER)
        self.wait(lambda v: not v.has(Sts.RESULT_VALID) and not v.has(Sts.TRIG_ACK),
                  "RESULT_VALID and TRIG_ACK to fall")
        self.set_cmd(self.cmd & ~Cmd.RESULT_ACK)
        return report(view, seq=seq, part_id=part_id, t0=t0, ack_at=acked.at)
