"""Store and forward: committed results leave the station from the store, never from the hot path.

The SQLite ``results`` table is the outbox. A :class:`Forwarder` per sink (MQTT broker, plant
database, ...) follows it in commit order (``seq``) from its own read connection and hands batches to
its :class:`Sink`; only when the sink says the batch is delivered (broker PUBACK, database COMMIT)
does the forwarder move its cursor, kept durably in the store's ``meta`` table as
``outbox.<name>``. So:

- a sink outage loses nothing: the rows stay in SQLite, the cursor stays where it was, the
  forwarder retries with back-off (logged once at ERROR, then DEBUG until it recovers);
- a restart of the station resends from the cursor: delivery is at least once. The plant database
  is idempotent on (station_id, result_id); MQTT consumers may see a result again only when the
  station died between the broker's acknowledgement and the cursor update (result_id tells);
- nothing waits on the PLC side: the store's writer thread only sets an event after its commit
  (:meth:`ResultStore.add_commit_listener`); the forwarder thread does the rest.

Rows deleted by retention before they were forwarded are not sent (a station keeps records for at
least 365 days; an outbox that far behind has lost them, and its ``pending`` shows it long before).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from inspection.errors import SinkError, StoreError
from inspection.registry import Registry
from inspection.store.rows import StoredResult
from inspection.store.schema import connect
from inspection.store.store import ResultStore

logger = logging.getLogger(__name__)

StatusFn = Callable[[], dict[str, Any]]


class Sink(Protocol):
    """Where results go. ``send`` returns only when every result in the batch is delivered, or
    raises :class:`SinkError` whose ``delivered`` counts the results at the start of the batch that
    were delivered all the same; the rest is sent again."""

    name: str

    def send(self, results: Sequence[StoredResult]) -> None: ...

    def heartbeat(self, status: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


# name -> factory(station_id=..., **options); the plugins register nothing at import time.
result_sinks: Registry[Sink] = Registry("result sink", "inspection.sinks")
result_sinks.register("mqtt", "plugins.plant.mqtt:MqttSink", extra="mqtt")
result_sinks.register("postgres", "plugins.plant.postgres:PostgresSink", extra="plant")


@dataclass(frozen=True)
class ForwarderStats:
    name: str
    cursor: int
    sent: int
    batches: int
    errors: int
    connected: bool
    last_error: str
    last_sent_ns: int


class Forwarder:
    """Follows ``store`` and feeds ``sink`` on its own thread (see the module docstring)."""

    def __init__(self, store: ResultStore, sink: Sink, *, batch_max: int = 200, idle_poll_s: float = 1.0,
                 max_delay_s: float = 2.0, status: StatusFn | None = None, heartbeat_s: float = 5.0) -> None:
        if batch_max < 1:
            raise ValueError("batch_max must be >= 1")
        self.store = store
        self.sink = sink
        self.name = sink.name
        self.batch_max = batch_max
        self.idle_poll_s = idle_poll_s
        self.max_delay_s = max_delay_s
        self.status = status
        self.heartbeat_s = heartbeat_s
        self._key = f"outbox.{self.name}"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._cursor = int(store.get_meta(self._key) or 0)
        self._sent = self._batches = self._errors = 0
        self._in_error = False
        self._last_error = ""
        self._last_sent_ns = 0

    # ---- control --------------------------------------------------------------------------------
    def start(self) -> Forwarder:
        if self._thread is None:
            self.store.add_commit_listener(self._on_commit)
            self._thread = threading.Thread(target=self._run, name=f"outbox-{self.name}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the batch in flight (what is not delivered stays in the outbox)."""
        self._stop.set()
        self._wake.set()
        self.store.remove_commit_listener(self._on_commit)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.error("outbox %s did not stop within %.0f s", self.name, timeout)
        try:
            self.sink.close()
        except Exception:
            logger.exception("closing result sink %s", self.name)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until everything committed so far is delivered; False on timeout (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pending() == 0:
                return True
            self._wake.set()
            time.sleep(0.05)
        return self.pending() == 0

    def pending(self) -> int:
        """Committed results not yet delivered."""
        return self.store.count_after(self.cursor)

    @property
    def cursor(self) -> int:
        with self._lock:
            return self._cursor

    def stats(self) -> ForwarderStats:
        with self._lock:
            return ForwarderStats(self.name, self._cursor, self._sent, self._batches, self._errors,
                                  not self._in_error, self._last_error, self._last_sent_ns)

    def _on_commit(self, ids: Sequence[str]) -> None:  # the store writer's thread: set an event only
        self._wake.set()

    # ---- thread ---------------------------------------------------------------------------------
    def _run(self) -> None:
        conn = connect(self.store.config.db_path, readonly=True)
        delay = 0.1
        next_beat = 0.0
        try:
            while not self._stop.is_set():
                self._wake.clear()
                batch: list[StoredResult] = []
                try:
                    if self.status is not None and time.monotonic() >= next_beat:
                        self.sink.heartbeat(self.status())
                        next_beat = time.monotonic() + self.heartbeat_s
                    rows = conn.execute("SELECT * FROM results WHERE seq > ? ORDER BY seq LIMIT ?",
                                        (self.cursor, self.batch_max)).fetchall()
                    batch = [StoredResult.from_row(r) for r in rows]
                    if batch:
                        self.sink.send(batch)
                        self._delivered(batch)
                    self._recovered()
                    delay = 0.1
                    if len(batch) == self.batch_max:
                        continue  # more waiting: no sleep
                    self._wake.wait(self.idle_poll_s)
                except SinkError as exc:
                    delivered = min(max(exc.delivered, 0), len(batch))
                    if delivered:
                        self._delivered(batch[:delivered])
                    self._failed(str(exc))
                    self._stop.wait(delay)
                    delay = min(delay * 2, self.max_delay_s)
                except StoreError as exc:
                    self._failed(str(exc))
                    self._stop.wait(delay)
                    delay = min(delay * 2, self.max_delay_s)
                except Exception as exc:  # a bug must not stop the outbox: log, back off, go on
                    logger.exception("outbox %s failed", self.name)
                    self._failed(f"{type(exc).__name__}: {exc}")
                    self._stop.wait(self.max_delay_s)
        finally:
            conn.close()

    def _delivered(self, batch: list[StoredResult]) -> None:
        last = batch[-1].seq
        self.store.set_meta(self._key, str(last))
        with self._lock:
            self._cursor = last
            self._sent += len(batch)
            self._batches += 1
            self._last_sent_ns = time.time_ns()

    def _failed(self, message: str) -> None:
        with self._lock:
            self._errors += 1
            self._last_error = message
            first = not self._in_error
            self._in_error = True
        (logger.error if first else logger.debug)("outbox %s: %s (retrying; results are kept)",
                                                   self.name, message)

    def _recovered(self) -> None:
        with self._lock:
            was, self._in_error = self._in_error, False
        if was:
            logger.error("outbox %s recovered; %d results pending", self.name, self.pending())
