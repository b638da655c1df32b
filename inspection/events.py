"""Station events and their fan-out to subscribers (the HMI's live clients, loggers, bridges).

:meth:`Broadcaster.publish` is called from the station's hot path, so it never blocks and never
does I/O: each subscriber has a bounded queue that drops its *oldest* event when full (a slow or
stalled client loses history, never the newest part, and never slows the station). Event payloads
are built lazily, by the first consumer that needs them, outside the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

_SEQ = itertools.count(1)


class StationEvent:
    """One event: ``kind`` ("part", "status", "counters", ...) and a payload built on first use."""

    __slots__ = ("_build", "_json", "_payload", "kind", "published_ns", "seq")

    def __init__(self, kind: str, build: Callable[[], dict[str, Any]] | dict[str, Any]) -> None:
        self.kind = kind
        self.seq = next(_SEQ)
        self.published_ns = time.time_ns()
        if callable(build):
            self._build: Callable[[], dict[str, Any]] | None = build
            self._payload: dict[str, Any] | None = None
        else:
            self._build, self._payload = None, build
        self._json: str | None = None

    def payload(self) -> dict[str, Any]:
        if self._payload is None:
            assert self._build is not None
            self._payload = self._build()  # benign race: two consumers build equal payloads
        return self._payload

    def to_json(self) -> str:
        if self._json is None:
            body = {"kind": self.kind, "seq": self.seq, "published_ns": self.published_ns,
                    "data": self.payload()}
            self._json = json.dumps(body, separators=(",", ":"), default=str)
        return self._json


class Subscription:
    """A subscriber's bounded queue (drop-oldest). Wait for events with :meth:`wait` (threads)
    or :meth:`wait_async` (asyncio); take them with :meth:`drain`."""

    def __init__(self, broadcaster: Broadcaster, maxsize: int, name: str) -> None:
        if maxsize < 1:
            raise ValueError("a subscription needs room for at least one event")
        self.name = name
        self.maxsize = maxsize
        self._broadcaster = broadcaster
        self._queue: deque[StationEvent] = deque(maxlen=maxsize)
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._async_ready: asyncio.Event | None = None
        self._wake_pending = False
        self.delivered = 0
        self.dropped = 0
        self.closed = False

    def _push(self, event: StationEvent) -> None:
        with self._lock:
            if self.closed:
                return
            if len(self._queue) == self.maxsize:
                self.dropped += 1  # deque(maxlen) drops the oldest on append
            self._queue.append(event)
            wake_loop = self._loop is not None and not self._wake_pending
            if wake_loop:
                self._wake_pending = True
        self._ready.set()
        if wake_loop:
            self._wake_async()

    def _wake_async(self) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._set_async_ready)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self.close()

    def _set_async_ready(self) -> None:
        # ``_wake_pending`` stays set until the consumer drains: a consumer that is slow (or stuck
        # sending to a stalled browser) costs the publisher one append per event, no more wake-ups.
        if self._async_ready is not None:
            self._async_ready.set()

    def drain(self) -> list[StationEvent]:
        """All queued events, oldest first (empties the queue)."""
        with self._lock:
            out = list(self._queue)
            self._queue.clear()
            self._ready.clear()
            self._wake_pending = False
            if self._async_ready is not None:
                self._async_ready.clear()
            self.delivered += len(out)
        return out

    def wait(self, timeout: float | None = None) -> bool:
        """Block the calling thread until an event is queued (or closed); False on timeout."""
        return self._ready.wait(timeout) or self.closed

    async def wait_async(self, timeout: float | None = None) -> bool:
        """Wait on the running loop until an event is queued (or closed); False on timeout."""
        if self._async_ready is None:
            with self._lock:
                self._loop = asyncio.get_running_loop()
                self._async_ready = asyncio.Event()
                if self._queue or self.closed:
                    self._async_ready.set()
        if self.closed:
            return True
        try:
            await asyncio.wait_for(self._async_ready.wait(), timeout)
        except TimeoutError:
            return self.closed
        return True

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
        self._ready.set()
        self._broadcaster._remove(self)
        loop = self._loop
        if loop is not None and self._async_ready is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._async_ready.set)


class Broadcaster:
    """Fan-out of :class:`StationEvent` to any number of bounded subscriptions."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: tuple[Subscription, ...] = ()
        self.published = 0
        self._closed_dropped = 0  # drops counted by subscriptions that are gone

    def subscribe(self, *, maxsize: int = 64, name: str = "") -> Subscription:
        sub = Subscription(self, maxsize, name)
        with self._lock:
            self._subs = (*self._subs, sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs = tuple(s for s in self._subs if s is not sub)
                self._closed_dropped += sub.dropped

    def publish(self, event: StationEvent) -> None:
        """Hand ``event`` to every subscriber; O(subscribers), never blocks on a consumer."""
        self.published += 1
        for sub in self._subs:  # an immutable snapshot: no lock held while pushing
            sub._push(event)

    def emit(self, kind: str, build: Callable[[], dict[str, Any]] | dict[str, Any]) -> StationEvent:
        event = StationEvent(kind, build)
        self.publish(event)
        return event

    @property
    def subscribers(self) -> tuple[Subscription, ...]:
        return self._subs

    @property
    def dropped(self) -> int:
        """Events dropped by all subscriptions so far (open and closed)."""
        return self._closed_dropped + sum(s.dropped for s in self._subs)

    def close(self) -> None:
        """Close every subscription (their waiters wake up and see ``closed``)."""
        for sub in self._subs:
            sub.close()
