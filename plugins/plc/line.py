"""A simulated production line: the PLC simulator on its own thread, sending parts to a station at a
given rate through the real Modbus TCP handshake (heartbeat, enable, trigger, acknowledge), and
optionally changing the recipe before each part (RECIPE_REQ), as a mixed line would.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from inspection.errors import PlcError
from inspection.plc.contract import Cmd, StationState, StnReg, Sts
from plugins.plc.simulator import PlcSimulator

logger = logging.getLogger(__name__)


@dataclass
class LineStats:
    parts: int = 0
    passed: int = 0
    rejected: int = 0
    problems: int = 0
    recipe_changes: int = 0
    errors: list[str] = field(default_factory=list)
    # trigger written -> RESULT_VALID seen, per part, as the PLC saw it (the last 100 000)
    result_ms: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))

    def to_dict(self) -> dict[str, object]:
        return {"parts": self.parts, "passed": self.passed, "rejected": self.rejected,
                "problems": self.problems, "recipe_changes": self.recipe_changes,
                "errors": self.errors[-5:], **self.latency()}

    def latency(self) -> dict[str, float]:
        """P50/P99 of trigger -> RESULT_VALID in ms (empty before the first part)."""
        values = sorted(self.result_ms)
        if not values:
            return {}
        pick = lambda q: values[min(len(values) - 1, round(q * (len(values) - 1)))]  # noqa: E731
        return {"result_ms_p50": round(pick(0.50), 2), "result_ms_p99": round(pick(0.99), 2)}


class SimulatedLine:
    """``rate`` parts per second to the station at ``host:port``; with ``recipes`` N, part k uses
    recipe ``k % N + 1`` and the recipe is requested before the part when it changes."""

    def __init__(self, host: str, port: int, *, rate: float = 2.0, recipes: int | None = None,
                 unit_id: int = 1, poll_s: float = 0.005, max_parts: int = 0) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0 parts per second")
        self.host, self.port, self.rate = host, port, rate
        self.recipes = recipes
        self.unit_id, self.poll_s, self.max_parts = unit_id, poll_s, max_parts
        self.stats = LineStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.done = threading.Event()

    def start(self) -> SimulatedLine:
        self._thread = threading.Thread(target=self._run, name="plc-line", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10.0)

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                with PlcSimulator(self.host, self.port, unit_id=self.unit_id, poll_s=self.poll_s,
                                  timeout_s=10.0, heartbeat_s=0.05) as sim:
                    backoff = 0.5
                    self._drive(sim)
                    return
            except PlcError as exc:
                self.stats.errors.append(str(exc))
                logger.warning("simulated PLC: %s (reconnecting)", exc)
                if self._stop.wait(backoff):
                    return
                backoff = min(backoff * 2, 5.0)
            finally:
                if self.max_parts and self.stats.parts >= self.max_parts:
                    self.done.set()

    def _select(self, sim: PlcSimulator, recipe: int) -> None:
        sim.write_part(0, recipe_no=recipe)
        sim.set_cmd(sim.cmd | Cmd.RECIPE_REQ)
        view = sim.wait(lambda v: v.has(Sts.RECIPE_DONE) or v.has(Sts.RECIPE_FAIL), "RECIPE_DONE/FAIL", 30.0)
        sim.set_cmd(sim.cmd & ~Cmd.RECIPE_REQ)
        sim.wait(lambda v: not v.has(Sts.RECIPE_DONE) and not v.has(Sts.RECIPE_FAIL), "recipe bits to fall")
        if view.has(Sts.RECIPE_FAIL):
            raise PlcError(f"recipe {recipe} failed: {view.error}")
        sim.recipe_no = recipe
        self.stats.recipe_changes += 1

    def _drive(self, sim: PlcSimulator) -> None:
        sim.set_cmd(Cmd(0))
        if sim.read_status().has(Sts.ERROR):
            sim.set_cmd(Cmd.RESET_ERROR)
            sim.set_cmd(Cmd(0))
        # a PLC waits until the station has its recipe prepared before it sends parts
        sim.wait(lambda v: v.state in (StationState.READY, StationState.INITIALIZED, StationState.ERROR),
                 "the station to finish starting", 60.0)
        sim.recipe_no = sim.read_status()[StnReg.ACTIVE_RECIPE]
        sim.enable(True)
        period = 1.0 / self.rate
        next_at = time.perf_counter()
        seq = 0
        while not self._stop.is_set():
            if self.max_parts and self.stats.parts >= self.max_parts:
                self.done.set()
                self._stop.wait(0.2)
                continue
            delay = next_at - time.perf_counter()
            if delay > 0 and self._stop.wait(delay):
                break
            next_at = max(next_at + period, time.perf_counter() - period)
            if self.recipes:
                wanted = self.stats.parts % self.recipes + 1
                if wanted != sim.recipe_no:
                    sim.enable(False)
                    self._select(sim, wanted)
                    sim.enable(True)
            seq = (seq + 1) & 0xFFFF or 1
            r = sim.run_part(seq, part_id=self.stats.parts + 1, part_id_str=f"DEMO-{self.stats.parts + 1:06d}")
            self.stats.parts += 1
            self.stats.result_ms.append(r.result_ms)
            if r.passed:
                self.stats.passed += 1
            else:
                self.stats.rejected += 1
            if not r.ok:
                self.stats.problems += 1
                self.stats.errors.append("; ".join(r.problems))
        sim.set_cmd(Cmd(0))
