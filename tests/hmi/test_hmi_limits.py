"""Issue #13, items 3 and 4, from outside over real HTTP (uvicorn on 127.0.0.1, raw sockets): a
request body is refused before it is read when it has no session or is too large; an image bomb
is refused from its header (nothing decoded) while /health keeps answering."""

from __future__ import annotations

import contextlib
import json
import socket
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hmi_support import PASSWORD, Env, build_env

from hmi.auth.roles import Role
from hmi.server import HmiServer


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Env, HmiServer]]:
    env = build_env(tmp_path)
    server = HmiServer(env.app, host="127.0.0.1", port=0).start()
    try:
        yield env, server
    finally:
        server.stop()
        env.store.close()
        env.users.close()


def _raw(server: HmiServer, head: str, body_chunks: Iterator[bytes], *,
         timeout: float = 10.0) -> tuple[int, bytes, int]:
    """Send a request head, then body chunks until the server answers; returns (status, reply,
    bytes of the body sent before the answer came)."""
    host, port = server.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(head.encode())
        sent = 0
        s.setblocking(False)
        reply = b""
        end = time.monotonic() + timeout
        for chunk in body_chunks:
            view = memoryview(chunk)
            while view:
                with contextlib.suppress(BlockingIOError):
                    reply += s.recv(65536)
                if reply or time.monotonic() > end:
                    break
                try:
                    n = s.send(view)
                    sent += n
                    view = view[n:]
                except BlockingIOError:
                    time.sleep(0.005)
                except (BrokenPipeError, ConnectionResetError):
                    break
            if reply or time.monotonic() > end:
                break
        s.setblocking(True)
        s.settimeout(max(0.1, end - time.monotonic()))
        try:
            while b"\r\n\r\n" not in reply:
                data = s.recv(65536)
                if not data:
                    break
                reply += data
        except (TimeoutError, ConnectionResetError):
            pass
    status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else 0
    return status, reply, sent


def _zeros(total: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    block = b"[" + b"0," * (chunk // 2 - 1) + b"0"
    for _ in range(total // chunk):
        yield block


def _login(server: HmiServer, env: Env, name: str, role: Role) -> str:
    env.user(name, role)
    req = urllib.request.Request(f"{server.url}/api/auth/login", method="POST",
                                 data=json.dumps({"username": name, "password": PASSWORD}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return str(json.loads(r.read())["token"])


def test_unauthenticated_600mb_body_is_refused_before_it_is_read(served):
    _env, server = served
    head = ("PUT /api/settings/thresholds HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {600 * 1024**2}\r\n\r\n")
    t0 = time.monotonic()
    status, reply, sent = _raw(server, head, _zeros(600 * 1024**2))
    assert status == 401, reply[:300]
    assert time.monotonic() - t0 < 5.0
    assert sent < 64 * 1024**2, f"{sent} bytes of the body were taken before the answer"


def test_oversized_and_chunked_bodies_are_cut_at_the_limit(served):
    env, server = served
    token = _login(server, env, "eng", Role.ENGINEER)
    auth = f"Authorization: Bearer {token}\r\n"
    head = ("PUT /api/settings/thresholds HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"{auth}Content-Length: {600 * 1024**2}\r\n\r\n")
    status, reply, sent = _raw(server, head, _zeros(600 * 1024**2))
    assert status == 413 and sent < 64 * 1024**2, reply[:300]

    def chunked() -> Iterator[bytes]:
        for block in _zeros(600 * 1024**2):
            yield f"{len(block):x}\r\n".encode() + block + b"\r\n"

    head = ("PUT /api/settings/thresholds HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"{auth}Transfer-Encoding: chunked\r\n\r\n")
    status, reply, sent = _raw(server, head, chunked())
    assert status == 413 and sent < 64 * 1024**2, reply[:300]


def _png_header_only(width: int, height: int) -> bytes:
    """A small valid PNG that decodes to width x height grey pixels (an image bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    comp = zlib.compressobj(9)
    row = b"\0" + b"\0" * width
    data = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def test_image_bomb_is_refused_from_its_header_and_health_keeps_answering(served):
    env, server = served
    token = _login(server, env, "eng", Role.ENGINEER)
    bomb = _png_header_only(30000, 30000)
    assert len(bomb) < 2 * 1024**2
    req = urllib.request.Request(f"{server.url}/api/recipes/pcb-a/teach/upload", data=bomb, method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "image/png"})
    t0 = time.monotonic()
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=30)
    assert err.value.code == 422 and "30000x30000" in err.value.read().decode()
    assert time.monotonic() - t0 < 5.0
    with urllib.request.urlopen(f"{server.url}/health", timeout=5) as r:
        assert r.status in (200, 503)


def test_golden_of_another_size_than_the_camera_frame_is_refused(served):
    env, server = served
    import cv2

    env.inject(1, defective=False)  # the camera's frames: 120x160
    token = _login(server, env, "eng", Role.ENGINEER)
    for shape, code in (((60, 80), 422), ((120, 160), 200)):
        png = cv2.imencode(".png", np.full(shape, 60, np.uint8))[1].tobytes()
        req = urllib.request.Request(f"{server.url}/api/recipes/pcb-a/teach/upload", data=png, method="POST",
                                     headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                got = r.status
        except urllib.error.HTTPError as exc:
            got = exc.code
        assert got == code, shape


def test_thresholds_must_be_json_numbers(served):
    """Issue #13, item 9: true and "0.4" were accepted as thresholds."""
    env, server = served
    token = _login(server, env, "eng2", Role.ENGINEER)
    for value, code in ((True, 422), ("0.4", 422), (0.4, 200)):
        body = json.dumps({"values": {"threshold": value}}).encode()
        req = urllib.request.Request(f"{server.url}/api/settings/thresholds", data=body, method="PUT",
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                got = r.status
        except urllib.error.HTTPError as exc:
            got = exc.code
        assert got == code, (value, got)


def test_databases_are_private_and_passwords_use_current_scrypt_cost(served):
    """Issue #13, item 9: users.db and results.db were created world-readable; scrypt N was 2**14."""
    env, _server = served
    env.user("someone", Role.OPERATOR)
    for path in (env.users.path, env.store.config.db_path):
        assert path.stat().st_mode & 0o077 == 0, (path, oct(path.stat().st_mode))
    row = env.users._conn.execute("SELECT password_hash FROM users WHERE username = 'someone'").fetchone()
    assert row[0].startswith(f"scrypt${2**15}$")


def test_a_guessing_source_cannot_lock_the_admin_out_from_elsewhere(served):
    """Issue #13, item 9: the lockout was per user name only (anyone could keep the admin out)."""
    import http.client

    env, server = served
    env.user("boss", Role.ADMIN)
    port = int(server.url.rsplit(":", 1)[1].rstrip("/"))

    def login(source: str, password: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
        try:
            conn.request("POST", "/api/auth/login", body=json.dumps({"username": "boss", "password": password}),
                         headers={"Content-Type": "application/json"})
            return conn.getresponse().status
        finally:
            conn.close()

    codes = [login("127.0.0.2", "wrong-guess-1") for _ in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429  # the guessing source is locked out
    assert login("127.0.0.1", PASSWORD) == 200  # the admin, from another address, is not
    assert login("127.0.0.2", PASSWORD) == 429


def test_host_allow_list_refuses_a_rebound_name(tmp_path):
    """Issue #13, item 9: no Host allow-list (DNS rebinding reached /api/auth/setup)."""
    import http.client

    from hmi.settings import HmiSettings

    env = build_env(tmp_path, HmiSettings(allowed_hosts=("station.line3.local",)))
    server = HmiServer(env.app, host="127.0.0.1", port=0).start()
    try:
        port = int(server.url.rsplit(":", 1)[1].rstrip("/"))
        for host, code in (("evil.example", 400), (f"127.0.0.1:{port}", 200),
                           ("station.line3.local", 200), (f"localhost:{port}", 200)):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/api/auth/setup", headers={"Host": host})
            assert conn.getresponse().status == code, host
            conn.close()
    finally:
        server.stop()
        env.store.close()
        env.users.close()
