"""Station events: bounded per-subscriber queues (drop-oldest), lazy payloads, sync and async waits."""

from __future__ import annotations

import asyncio
import threading

import pytest

from inspection.events import Broadcaster, StationEvent


def test_each_subscriber_keeps_its_newest_events():
    b = Broadcaster()
    small, big = b.subscribe(maxsize=3, name="small"), b.subscribe(maxsize=100, name="big")
    for i in range(10):
        b.emit("part", {"i": i})
    assert [e.payload()["i"] for e in small.drain()] == [7, 8, 9]
    assert small.dropped == 7 and big.dropped == 0
    assert [e.payload()["i"] for e in big.drain()] == list(range(10))
    assert small.drain() == [] and b.published == 10 and b.dropped == 7
    small.close()
    assert b.subscribers == (big,) and b.dropped == 7  # drops of closed subscriptions still count
    with pytest.raises(ValueError):
        b.subscribe(maxsize=0)


def test_payload_is_built_once_and_lazily():
    calls = []

    def build():
        calls.append(1)
        return {"x": 1}

    ev = StationEvent("part", build)
    assert calls == []
    assert ev.to_json() == ev.to_json() and len(calls) == 1
    assert '"kind":"part"' in ev.to_json() and '"data":{"x":1}' in ev.to_json()


def test_thread_waits_and_close_wakes_waiters():
    b = Broadcaster()
    sub = b.subscribe(maxsize=4)
    assert sub.wait(0.01) is False
    threading.Timer(0.05, lambda: b.emit("status", {})).start()
    assert sub.wait(5) is True and len(sub.drain()) == 1
    threading.Timer(0.05, b.close).start()
    assert sub.wait(5) is True and sub.closed
    b.emit("status", {})  # publishing to nobody is fine
    assert sub.drain() == []


def test_async_wait_is_woken_from_another_thread():
    async def main():
        b = Broadcaster()
        sub = b.subscribe(maxsize=8)
        assert await sub.wait_async(0.01) is False
        t = threading.Thread(target=lambda: [b.emit("part", {"i": i}) for i in range(5)])
        t.start()
        got = []
        while len(got) < 5:
            assert await sub.wait_async(5)
            got += [e.payload()["i"] for e in sub.drain()]
        t.join()
        assert got == [0, 1, 2, 3, 4]
        sub.close()
        assert await sub.wait_async(5) is True

    asyncio.run(main())
