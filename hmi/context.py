"""What every request handler of the HMI can reach: the station, its store, users, settings."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hmi.auth.users import UserStore
from hmi.imaging import ImageCache
from hmi.settings import HmiSettings
from hmi.teach_parts import TeachJobs
from inspection.events import Subscription
from inspection.station.port import StationPort
from inspection.store import ResultStore


@dataclass
class LoginGuard:
    """Counts failed logins per (source address, user name) and per source address, and locks them
    out for a while after too many: a name is locked only for the source that guessed (anyone else,
    the real admin too, can still sign in), and a source that sprays many names is locked as a
    whole after ``SOURCE_FACTOR`` times the per-name limit."""

    max_failures: int
    lockout_s: float
    _fails: dict[str, tuple[int, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    SOURCE_FACTOR = 4

    def _wait(self, key: str, limit: int) -> float:
        n, until = self._fails.get(key, (0, 0.0))
        return max(0.0, until - time.monotonic()) if n >= limit else 0.0

    def locked_for(self, username: str, source: str = "") -> float:
        with self._lock:
            return max(self._wait(f"{source}\0{username}", self.max_failures),
                       self._wait(f"{source}\0", self.max_failures * self.SOURCE_FACTOR))

    def failed(self, username: str, source: str = "") -> None:
        with self._lock:
            for key in (f"{source}\0{username}", f"{source}\0"):
                n, _ = self._fails.get(key, (0, 0.0))
                self._fails[key] = (n + 1, time.monotonic() + self.lockout_s)
            while len(self._fails) > 10_000:  # bounded under a name-spraying attack
                self._fails.pop(next(iter(self._fails)))

    def succeeded(self, username: str, source: str = "") -> None:
        with self._lock:
            self._fails.pop(f"{source}\0{username}", None)


@dataclass
class HmiContext:
    station: StationPort
    store: ResultStore
    users: UserStore
    settings: HmiSettings
    images: ImageCache
    guard: LoginGuard
    announce: Callable[[str], None]
    setup_token: str | None = None
    sse_clients: int = 0
    sse_dropped: int = 0
    sse_sent: int = 0
    started_ns: int = field(default_factory=time.time_ns)
    ready: threading.Event = field(default_factory=threading.Event)
    streams: set[Subscription] = field(default_factory=set)
    teach_jobs: TeachJobs = field(default_factory=TeachJobs)

    def close_streams(self) -> None:
        """End every live stream (their generators return): lets the server stop at once."""
        for sub in list(self.streams):
            sub.close()

    def new_setup_token(self) -> str:
        self.setup_token = secrets.token_urlsafe(12)
        return self.setup_token
