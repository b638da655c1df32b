"""The station's output tail: what happens to a decided part after the PLC has its answer.

:meth:`ResultHub.publish` is called on the hot path. It does no I/O and never waits: it keeps the
part (and its image) in a small in-memory ring for the live view, updates the counters and the
per-stage timing window, broadcasts a ``part`` event (payload built lazily by the consumers) and
queues the record for the store (a bounded, non-blocking enqueue).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque

import numpy as np

from inspection.events import Broadcaster, StationEvent
from inspection.record import PartRecord
from inspection.station.alarms import AlarmConfig, AlarmMonitor, AlarmState
from inspection.station.metrics import StationMetrics
from inspection.station.port import Counters, StageStats
from inspection.store import ResultStore

CYCLE = "cycle"


class ResultHub:
    def __init__(self, broadcaster: Broadcaster, store: ResultStore | None = None, *,
                 keep_recent: int = 32, keep_images: int = 16, timing_window: int = 1000,
                 counters: Counters | None = None, alarms: AlarmConfig | None = None) -> None:
        if keep_recent < 1 or keep_images < 1 or timing_window < 1:
            raise ValueError("keep_recent, keep_images and timing_window must be >= 1")
        self.broadcaster = broadcaster
        self.store = store
        self._lock = threading.Lock()
        self._recent: deque[PartRecord] = deque(maxlen=keep_recent)
        self._images: OrderedDict[str, np.ndarray] = OrderedDict()
        self._keep_images = keep_images
        self._timings: deque[tuple[str, float, dict[str, float]]] = deque(maxlen=timing_window)
        c = counters or Counters(since_ns=time.time_ns())
        self._total, self._ok, self._ng, self._since = c.total, c.ok, c.ng, c.since_ns
        self.store_dropped = 0
        self.metrics = StationMetrics()
        self.alarms = AlarmMonitor(self.metrics.registry, alarms, on_change=self._alarms_changed)

    def publish(self, record: PartRecord, image: np.ndarray | None = None) -> StationEvent:
        """Record, count, broadcast and queue one decided part. Never blocks."""
        with self._lock:
            self._recent.append(record)
            if image is not None:
                self._images[record.result_id] = image
                while len(self._images) > self._keep_images:
                    self._images.popitem(last=False)
            self._timings.append((record.result_id, record.cycle_ms, record.result.timings_ms))
            self._total += 1
            if record.verdict == "pass":
                self._ok += 1
            else:
                self._ng += 1
            counters = Counters(self._total, self._ok, self._ng, self._since)
        self.metrics.observe_part(record)
        self.alarms.observe(record.verdict == "pass", float(record.result.max_score))
        event = self.broadcaster.emit("part", lambda: {**record.to_dict(), "counters": counters.to_dict()})
        if self.store is not None and not self.store.submit(record, image):
            self.store_dropped += 1
        return event

    def _alarms_changed(self, states: list[AlarmState]) -> None:
        self.broadcaster.emit("alarms", {"alarms": [a.to_dict() for a in states]})

    def recent(self, n: int) -> list[PartRecord]:
        """The last ``n`` parts, newest first."""
        with self._lock:
            items = list(self._recent)
        return items[::-1][: max(0, n)]

    def image(self, result_id: str) -> np.ndarray | None:
        with self._lock:
            return self._images.get(result_id)

    def counters(self) -> Counters:
        with self._lock:
            return Counters(self._total, self._ok, self._ng, self._since)

    def reset_counters(self) -> Counters:
        with self._lock:
            self._total = self._ok = self._ng = 0
            self._since = time.time_ns()
            c = Counters(0, 0, 0, self._since)
        self.broadcaster.emit("counters", c.to_dict())
        return c

    def timing_series(self, n: int = 200) -> list[dict[str, object]]:
        """The last ``n`` parts' cycle and stage times, oldest first (for the HMI's plot)."""
        with self._lock:
            items = list(self._timings)[-max(0, n):] if n > 0 else []
        return [{"result_id": rid, "cycle_ms": round(c, 3), "timings_ms": t} for rid, c, t in items]

    def stage_stats(self) -> dict[str, StageStats]:
        """P50/P99/max of each stage (and the whole cycle) over the timing window."""
        with self._lock:
            items = list(self._timings)
        series: dict[str, list[float]] = {}
        for _, cycle, timings in items:
            for stage, ms in timings.items():
                if stage != "total":  # the pipeline's total is the cycle below
                    series.setdefault(stage, []).append(float(ms))
            series.setdefault(CYCLE, []).append(float(cycle))
        out = {}
        for stage, values in series.items():
            arr = np.asarray(values)
            p50, p99 = np.percentile(arr, [50, 99])
            out[stage] = StageStats(stage, len(values), round(values[-1], 3), round(float(p50), 3),
                                    round(float(p99), 3), round(float(arr.max()), 3))
        return out
