"""The live stream (Server-Sent Events) on a real uvicorn server on 127.0.0.1: events arrive in
order, and a stalled client loses old events (drop-oldest) without holding up publishing or the
other clients."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
from hmi_support import Env, build_env
from tests_support import make_result

from hmi.auth.roles import Role
from hmi.server import HmiServer
from hmi.settings import HmiSettings


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[Env, HmiServer, str]]:
    env = build_env(tmp_path, HmiSettings(sse_queue=8, sse_keepalive_s=1.0))
    env.user("olga", Role.OPERATOR)
    server = HmiServer(env.app).start()
    token, _ = env.users.create_session("olga")
    try:
        yield env, server, token
    finally:
        server.stop()
        env.store.close()
        env.users.close()


def _events(lines: Iterator[str]) -> Iterator[tuple[str, dict]]:
    kind = None
    for line in lines:
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: ") and kind:
            yield kind, json.loads(line[6:])
            kind = None


def test_stream_sends_hello_then_parts_and_status(served):
    env, server, token = served
    auth = {"Authorization": f"Bearer {token}"}
    client = httpx.Client(base_url=server.url, headers=auth, timeout=10)
    with client, client.stream("GET", "/api/events") as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = _events(r.iter_lines())
        kind, hello = next(events)
        assert kind == "hello" and hello["status"]["state"] == "READY" and hello["last"] is None
        ok, ng = env.inject(2)
        kind, msg = next(events)
        assert kind == "part" and msg["data"]["result_id"] == ok.result_id and msg["published_ns"] > 0
        kind, msg = next(events)
        part = msg["data"]
        assert part["result_id"] == ng.result_id and part["verdict"] == "reject"
        assert part["overlay"][0]["reported"] and part["counters"]["ng"] == 1
        env.station.disarm(user="olga")
        kind, msg = next(events)
        assert kind == "status" and msg["data"]["armed"] is False
    # The server ends the stream (and its subscription) when the client goes.
    ctx = env.app.state.hmi
    pause = threading.Event()
    for _ in range(500):
        if ctx.sse_clients == 0:
            break
        pause.wait(0.01)
    assert ctx.sse_clients == 0
    assert not [s for s in env.station.broadcaster.subscribers if s.name.startswith("sse:")]


def test_stream_refuses_without_session(served):
    _, server, _ = served
    r = httpx.get(f"{server.url}/api/events", timeout=5)
    assert r.status_code == 401


def test_stalled_client_drops_oldest_and_never_holds_up_publishing(served):
    env, server, token = served
    ctx = env.app.state.hmi
    # A stalled browser: sends its request, reads up to the first event, then never reads again.
    stalled = socket.create_connection(("127.0.0.1", server.port))
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.sendall(f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                    "Accept: text/event-stream\r\n\r\n".encode())
    head = b""
    while b"event: hello" not in head:
        head += stalled.recv(4096)
    # A healthy browser follows the same stream and must see the very last event.
    got_last = threading.Event()
    seen: list[str] = []

    def follow() -> None:
        auth = {"Authorization": f"Bearer {token}"}
        client = httpx.Client(base_url=server.url, headers=auth, timeout=30)
        with client, client.stream("GET", "/api/events") as r:
            for kind, msg in _events(r.iter_lines()):
                if kind == "part":
                    seen.append(msg["data"]["result_id"])
                    if msg["data"].get("last"):
                        got_last.set()
                        return

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    while ctx.sse_clients < 2:  # the follower's subscription exists once its stream has started
        if not follower.is_alive():
            pytest.fail("the follower did not connect")
        got_last.wait(0.01)
    result, _ = make_result(3, defective=True)
    from inspection.record import PartRecord

    payload = {**PartRecord(result).to_dict(), "pad": "x" * 4000}  # ~6 kB per event
    n = 2000  # ~12 MB: far more than the stalled socket's buffers
    for i in range(n):
        env.station.broadcaster.emit("part", {**payload, "result_id": f"{i:020x}", "last": i == n - 1})
    assert got_last.wait(30), "the healthy client did not get the last event"
    follower.join(5)
    stalled_sub = next(s for s in env.station.broadcaster.subscribers if s.name == "sse:olga"
                       and s.dropped > 0)
    assert stalled_sub.dropped > n / 2  # the stalled client lost old events ...
    assert len(stalled_sub._queue) <= stalled_sub.maxsize  # ... and holds at most its queue
    assert seen[-1] == f"{n - 1:020x}"
    stalled.close()
