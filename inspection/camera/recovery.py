"""Outage logging and background reconnection with back-off, shared by the camera drivers.

A polling loop that fails every half second must not fill the log: :class:`OutageLog` logs the
first failure of an outage at ERROR, the following ones at DEBUG, and the recovery once at WARNING.
:class:`Reconnector` runs an ``attempt`` callable in a background thread until it succeeds,
waiting ``min_s``, then twice as long after each failure, up to ``max_s``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


class OutageLog:
    """Logs an outage once at ERROR, repeats at DEBUG, and the recovery once at WARNING."""

    def __init__(self, log: logging.Logger, what: str) -> None:
        self._log = log
        self.what = what
        self.down_since: float | None = None
        self.failures = 0
        self.outages = 0

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def failure(self, reason: object) -> None:
        self.failures += 1
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.outages += 1
            self._log.error("%s: %s (retrying in the background; further failures are logged at DEBUG)",
                            self.what, reason)
        else:
            self._log.debug("%s: still failing (attempt %d): %s", self.what, self.failures, reason)

    def recovered(self, detail: str = "") -> None:
        if self.down_since is None:
            return
        self._log.warning("%s: recovered after %.1f s%s", self.what, time.monotonic() - self.down_since,
                          f" ({detail})" if detail else "")
        self.down_since = None
        self.failures = 0


class Reconnector:
    """Calls ``attempt`` in a daemon thread until it returns without raising, with back-off.

    ``start()`` is idempotent while a reconnection runs; ``stop()`` ends it (used by ``close()``).
    ``outage`` is the :class:`OutageLog`; the first failure reported to it (by the driver, through
    ``outage.failure``, or by the first failed attempt) is the one logged at ERROR.
    """

    def __init__(self, attempt: Callable[[], None], *, what: str, min_s: float = 0.5, max_s: float = 10.0,
                 log: logging.Logger | None = None) -> None:
        if not (0 < min_s <= max_s):
            raise ValueError(f"need 0 < min_s <= max_s, got {min_s}, {max_s}")
        self._attempt = attempt
        self.min_s = min_s
        self.max_s = max_s
        self.outage = OutageLog(log or logger, what)
        self.attempts = 0
        self.delays: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.done = threading.Event()

    @property
    def running(self) -> bool:
        t = self._thread
        return t is not None and t.is_alive()

    def start(self, reason: object = "connection lost") -> None:
        with self._lock:
            if self.running:
                return
            self.outage.failure(reason)
            self._stop.clear()
            self.done.clear()
            self._thread = threading.Thread(target=self._run, name=f"reconnect {self.outage.what}",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout_s)
        self._thread = None

    def _run(self) -> None:
        delay = self.min_s
        tries = 0
        while not self._stop.wait(delay):
            self.delays.append(delay)
            self.attempts += 1
            tries += 1
            try:
                self._attempt()
            except Exception as exc:  # any failure: keep trying, the outage log says why
                self.outage.failure(exc)
                delay = min(delay * 2.0, self.max_s)
                continue
            self.outage.recovered(f"{tries} reconnection attempt(s)")
            self.done.set()
            return
