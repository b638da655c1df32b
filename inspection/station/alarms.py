"""Process alarms on the stream of decided parts: N rejects in a row, and the yield over a window.

Each alarm follows the usual plant convention: it is *raised* when its condition trips, stays
*active* while the condition holds or until someone acknowledges it (a raised alarm that cleared by
itself stays on the banner until acknowledged), and an acknowledged alarm goes away as soon as its
condition clears. Acknowledging ``consecutive_ng`` also restarts the count (the operator has seen
the run; the next N in a row raise it again).

The state of every alarm is a Prometheus gauge in the station's registry:
``inspection_alarm_active{alarm="consecutive_ng"|"yield"}`` (0 or 1). ``observe`` is on the
publish path: a deque append and a few comparisons, no I/O.

Not built (yet): a drift alarm on the good parts' score distribution against teach time.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Gauge

CONSECUTIVE_NG = "consecutive_ng"
YIELD = "yield"
NAMES = (CONSECUTIVE_NG, YIELD)


@dataclass(frozen=True)
class AlarmConfig:
    consecutive_ng: int = 5  # this many rejects in a row raise the alarm (0: off)
    yield_window: int = 200  # parts the yield alarm looks at (0: off)
    yield_min_pct: float = 80.0  # the alarm trips when the yield over a full window is below this

    def __post_init__(self) -> None:
        if self.consecutive_ng < 0 or self.yield_window < 0 or not 0.0 <= self.yield_min_pct <= 100.0:
            raise ValueError("alarm limits: consecutive_ng >= 0, yield_window >= 0, 0 <= yield_min_pct <= 100")

    def to_dict(self) -> dict[str, object]:
        return {"consecutive_ng": self.consecutive_ng, "yield_window": self.yield_window,
                "yield_min_pct": self.yield_min_pct}


@dataclass(frozen=True)
class AlarmState:
    name: str
    active: bool = False
    condition: bool = False  # the condition holds now
    acknowledged: bool = False
    raised_ns: int = 0
    ack_user: str = ""
    ack_ns: int = 0
    message: str = ""
    value: float | None = None  # the run length, or the yield % over the window

    def brief(self) -> dict[str, object]:
        return {"active": self.active, "condition": self.condition, "acknowledged": self.acknowledged}

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "active": self.active, "condition": self.condition,
                "acknowledged": self.acknowledged, "raised_ns": self.raised_ns, "ack_user": self.ack_user,
                "ack_ns": self.ack_ns, "message": self.message, "value": self.value}


class _Alarm:
    def __init__(self, name: str) -> None:
        self.name = name
        self.condition = False
        self.raised = False  # raised and not yet cleared (condition gone and acknowledged)
        self.acknowledged = False
        self.raised_ns = 0
        self.ack_user = ""
        self.ack_ns = 0
        self.message = ""
        self.value: float | None = None

    @property
    def active(self) -> bool:
        return self.raised

    def update(self, condition: bool, message: str, value: float | None) -> bool:
        """Apply the condition; True when ``active`` changed."""
        before = self.active
        self.condition, self.value = condition, value
        if condition:
            self.message = message
            if not self.raised:
                self.raised, self.acknowledged, self.raised_ns = True, False, time.time_ns()
                self.ack_user, self.ack_ns = "", 0
        elif self.raised and self.acknowledged:
            self.raised = False
        return before != self.active

    def state(self) -> AlarmState:
        return AlarmState(self.name, self.active, self.condition, self.acknowledged, self.raised_ns,
                          self.ack_user, self.ack_ns, self.message, self.value)


class AlarmMonitor:
    """Alarms over the parts a station publishes; ``on_change(states)`` is called (outside the
    lock) whenever an alarm turns active or inactive."""

    def __init__(self, registry: CollectorRegistry, config: AlarmConfig | None = None,
                 on_change: Callable[[list[AlarmState]], None] | None = None) -> None:
        self.config = config or AlarmConfig()
        self._lock = threading.Lock()
        self._alarms = {n: _Alarm(n) for n in NAMES}
        self._run = 0
        self._window: deque[bool] = deque(maxlen=max(1, self.config.yield_window))
        self._ok_in_window = 0
        self.listeners: list[Callable[[list[AlarmState]], None]] = [on_change] if on_change else []
        self.gauge = Gauge("inspection_alarm_active", "1 while a process alarm is active (raised and "
                           "not both cleared and acknowledged).", ["alarm"], registry=registry)
        for n in NAMES:
            self.gauge.labels(alarm=n).set(0)

    @property
    def names(self) -> tuple[str, ...]:
        return NAMES

    def observe(self, passed: bool) -> None:
        cfg = self.config
        with self._lock:
            self._run = 0 if passed else self._run + 1
            changed = self._alarms[CONSECUTIVE_NG].update(
                cfg.consecutive_ng > 0 and self._run >= cfg.consecutive_ng,
                f"{self._run} rejects in a row (limit {cfg.consecutive_ng})", float(self._run))
            if cfg.yield_window > 0:
                if len(self._window) == self._window.maxlen and self._window[0]:
                    self._ok_in_window -= 1
                self._window.append(passed)
                self._ok_in_window += passed
                pct = 100.0 * self._ok_in_window / len(self._window)
                full = len(self._window) == cfg.yield_window
                changed |= self._alarms[YIELD].update(
                    full and pct < cfg.yield_min_pct,
                    f"yield {pct:.1f}% over the last {len(self._window)} parts (limit {cfg.yield_min_pct:g}%)",
                    round(pct, 2))
            states = self._publish() if changed else None
        if states is not None:
            self._notify(states)

    def acknowledge(self, name: str, *, user: str) -> tuple[AlarmState, AlarmState]:
        """(before, after); KeyError for an unknown alarm."""
        with self._lock:
            a = self._alarms[name]
            before = a.state()
            if a.raised and not a.acknowledged:
                a.acknowledged, a.ack_user, a.ack_ns = True, user, time.time_ns()
                if name == CONSECUTIVE_NG:
                    self._run = 0
                    a.condition = False
                if not a.condition:
                    a.raised = False
            after = a.state()
            states = self._publish() if before.active != after.active else None
        if states is not None:
            self._notify(states)
        return before, after

    def snapshot(self) -> list[AlarmState]:
        with self._lock:
            return [a.state() for a in self._alarms.values()]

    def active(self) -> bool:
        with self._lock:
            return any(a.active for a in self._alarms.values())

    def _publish(self) -> list[AlarmState]:
        for a in self._alarms.values():
            self.gauge.labels(alarm=a.name).set(1 if a.active else 0)
        return [a.state() for a in self._alarms.values()]

    def _notify(self, states: list[AlarmState]) -> None:
        for listener in list(self.listeners):
            listener(states)
