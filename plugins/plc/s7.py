"""Siemens S7 bridge (python-snap7; the only module that imports it): the Modbus handshake of
docs/plc.md mapped onto one data block of the PLC, which the station reads and writes as an S7
client (PUT/GET), like the Modbus client mode.

DB layout (docs/plc.md "Siemens S7"): contract register N is the WORD at byte ``2 * N`` of the data
block, big-endian as S7 stores it. The PLC's block (CMD .. PART_ID_STR, registers 0-13) is at bytes
0-27, written by the PLC program; the station's block (STS .. registers 100-126) at bytes 200-253,
written by the station. 32-bit values keep the word order of ``low_word_first`` (default: low word
first, like the Modbus map); set it False for an S7 DWORD/DINT at that offset.

Each cycle: read bytes 0-27 (validated like a Modbus write: a block the contract does not allow is
not applied, logged once, ERROR_CODE set), then, when the station's block changed, write the result
part (bytes 208-253) first and the header with STS/RESULT_VALID (bytes 200-207) last. A status change
wakes the cycle at once; otherwise it runs every ``poll_ms``. A lost connection is logged once at
ERROR, retried every second; the whole status block is written again after reconnecting.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from inspection.errors import MissingDependency, PlcError, PlcWriteRefused
from inspection.plc.codec import PlcWords, validate_plc_write
from inspection.plc.contract import PLC_BLOCK_LEN, RESULT_BLOCK_START, STN_BLOCK_START, ErrorCode
from inspection.plc.station import PlcStation

logger = logging.getLogger(__name__)

HEADER = RESULT_BLOCK_START - STN_BLOCK_START  # STS, STN_HEARTBEAT, STATE, ACTIVE_RECIPE
DB_DEFAULT = 100
STATUS_BYTE = 2 * STN_BLOCK_START  # 200
DB_SIZE = STATUS_BYTE + 2 * 27  # 254 bytes


def require_snap7() -> Any:
    try:
        import snap7
    except ModuleNotFoundError as exc:
        raise MissingDependency("python-snap7", extra="s7", purpose="the Siemens S7 PLC bridge") from exc
    return snap7


def words_to_bytes(words: list[int]) -> bytearray:
    out = bytearray()
    for w in words:
        out += int(w & 0xFFFF).to_bytes(2, "big")
    return out


def bytes_to_words(data: bytes | bytearray) -> list[int]:
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data) - 1, 2)]


class S7ClientBridge:
    def __init__(self, station: PlcStation, *, host: str, port: int = 102, rack: int = 0, slot: int = 1,
                 db: int = DB_DEFAULT, poll_ms: float = 10.0) -> None:
        self.snap7 = require_snap7()
        if poll_ms <= 0:
            raise PlcError(f"poll_ms must be > 0, got {poll_ms}")
        self.station, self.host, self.port = station, host, port
        self.rack, self.slot, self.db = rack, slot, db
        self.poll_s = poll_ms / 1000.0
        self.connected = threading.Event()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._refused: list[int] | None = None

    def _changed(self) -> None:
        self._wake.set()

    def _cycle(self, client: Any, pushed: list[int] | None) -> list[int]:
        block = bytes_to_words(client.db_read(self.db, 0, 2 * PLC_BLOCK_LEN))
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
            client.db_write(self.db, STATUS_BYTE + 2 * HEADER, words_to_bytes(regs[HEADER:]))  # results first
            client.db_write(self.db, STATUS_BYTE, words_to_bytes(regs[:HEADER]))  # then STS
        return regs

    def _run(self) -> None:
        client = self.snap7.client.Client()
        pushed: list[int] | None = None
        down_logged = False
        self.station.add_listener(self._changed)
        try:
            while not self._stop.is_set():
                try:
                    if not client.get_connected():
                        client.connect(self.host, self.rack, self.slot, tcp_port=self.port)
                    self.connected.set()
                    if down_logged:
                        logger.warning("S7 link to %s:%d back", self.host, self.port)
                        down_logged = False
                    pushed = self._cycle(client, pushed)
                except Exception as exc:  # snap7 raises RuntimeError / S7 errors; the link is down
                    self.connected.clear()
                    pushed = None
                    try:
                        client.disconnect()
                    except Exception:
                        logger.debug("S7 disconnect failed", exc_info=True)
                    (logger.debug if down_logged else logger.error)("S7 link down: %s", exc)
                    down_logged = True
                    self._stop.wait(1.0)
                    continue
                self._wake.wait(self.poll_s)
                self._wake.clear()
        finally:
            self.station.remove_listener(self._changed)
            try:
                client.disconnect()
                client.destroy()
            except Exception:
                logger.debug("S7 client close failed", exc_info=True)

    def start(self) -> S7ClientBridge:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="s7-client", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> S7ClientBridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def create_bridge(station: PlcStation, *, mode: str = "client", **options: Any) -> S7ClientBridge:
    """Registry factory. S7 has one mode: the station is the client of the PLC's data block."""
    if mode not in ("client", "server"):  # "server" is the config default: S7 always runs as a client
        raise PlcError(f"unknown S7 bridge mode {mode!r}; known: client")
    return S7ClientBridge(station, **options)
