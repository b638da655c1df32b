"""Process alarms on the stream of decided parts: N rejects in a row, the yield over a window, and
drift of the good parts' scores against the golden's teach time.

Each alarm follows the usual plant convention: it is *raised* when its condition trips, stays
*active* while the condition holds or until someone acknowledges it (a raised alarm that cleared by
itself stays on the banner until acknowledged), and an acknowledged alarm goes away as soon as its
condition clears. Acknowledging ``consecutive_ng`` also restarts the count (the operator has seen
the run; the next N in a row raise it again).

The state of every alarm is a Prometheus gauge in the station's registry:
``inspection_alarm_active{alarm="consecutive_ng"|"yield"|"drift"}`` (0 or 1). ``observe`` is on
the publish path: deque appends, a few comparisons and a median of the drift window every 10th good
part, no I/O.

Drift: the first ``drift_window`` good parts after the golden was taught (or the station started)
are the baseline of their score (the worst finding's score, 0 when clean); the alarm trips when
the median score of the last ``drift_window`` good parts is more than ``drift_limit`` above the
baseline's median (parts creeping toward the reject threshold: lighting, focus, wear, a new lot).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Gauge

CONSECUTIVE_NG = "consecutive_ng"
YIELD = "yield"
DRIFT = "drift"
NAMES = (CONSECUTIVE_NG, YIELD, DRIFT)


@dataclass(frozen=True)
class AlarmConfig:
    consecutive_ng: int = 5  # this many rejects in a row raise the alarm (0: off)
    yield_window: int = 200  # parts the yield alarm looks at (0: off)
    yield_min_pct: float = 80.0  # the alarm trips when the yield over a full window is below this
    drift_window: int = 200  # good parts in the baseline and in the compared window (0: off)
    drift_limit: float = 0.15  # the good parts' median score may rise this much above the baseline's

    def __post_init__(self) -> None:
        if (self.consecutive_ng < 0 or self.yield_window < 0 or not 0.0 <= self.yield_min_pct <= 100.0
                or self.drift_window < 0 or not self.drift_limit > 0.0):
            raise ValueError("alarm limits: consecutive_ng >= 0, yield_window >= 0, 0 <= yield_min_pct <= 100, "
                             "drift_window >= 0, drift_limit > 0")

    def to_dict(self) -> dict[str, object]:
        return {"consecutive_ng": self.consecutive_ng, "yield_window": self.yield_window,
                "yield_min_pct": self.yield_min_pct, "drift_window": self.drift_window,
                "drift_limit": self.drift_limit}


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
        self._base: list[float] = []
        self._base_median: float | None = None
        self._good: deque[float] = deque(maxlen=max(1, self.config.drift_window))
        self._good_seen = 0
        self.listeners: list[Callable[[list[AlarmState]], None]] = [on_change] if on_change else []
        self.gauge = Gauge("inspection_alarm_active", "1 while a process alarm is active (raised and "
                           "not both cleared and acknowledged).", ["alarm"], registry=registry)
        for n in NAMES:
            self.gauge.labels(alarm=n).set(0)

    @property
    def names(self) -> tuple[str, ...]:
        return NAMES

    def reset_baseline(self) -> None:
        """A new golden: the next good parts are the drift baseline."""
        with self._lock:
            self._base, self._base_median, self._good_seen = [], None, 0
            self._good.clear()
            changed = self._alarms[DRIFT].update(False, "", None)
            states = self._publish() if changed else None
        if states is not None:
            self._notify(states)

    def _drift(self, score: float) -> bool:
        """Feed a good part's score; True when the drift alarm changed."""
        n = self.config.drift_window
        if self._base_median is None:
            self._base.append(score)
            if len(self._base) >= n:
                self._base_median = statistics.median(self._base)
            return False
        self._good.append(score)
        self._good_seen += 1
        if len(self._good) < n or self._good_seen % 10:
            return False
        now = statistics.median(self._good)
        rise = now - self._base_median
        return self._alarms[DRIFT].update(
            rise > self.config.drift_limit,
            f"good parts' median score {now:.3f} vs {self._base_median:.3f} after teaching "
            f"(limit +{self.config.drift_limit:g})", round(rise, 4))

    def observe(self, passed: bool, score: float = 0.0) -> None:
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
            if passed and cfg.drift_window > 0:
                changed |= self._drift(float(score))
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
