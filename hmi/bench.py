"""``python -m hmi bench``: how fast the live view follows the station, and that stalled browsers
cost the station nothing. Prints tables and writes JSON.

1. Live-view latency: a real uvicorn server on 127.0.0.1 and headless Chromium (Debian's
   /usr/bin/chromium via Playwright) showing the live page; parts (640x480, synthetic, with
   findings) are published at a steady rate; the page records when each part's verdict text is in
   the DOM, painted, and when its image with overlays is painted. Latency = that time minus the
   event's publish time (both wall clock on this machine).
2. Publish cost: ``LocalStation.inject`` (the station's hot-path call: ring, counters, broadcast,
   store enqueue) timed per call with 0, 1 healthy, and 1 healthy + N stalled SSE clients (a stalled
   client reads nothing after the first event, so its TCP buffers fill and its queue drops).
"""

from __future__ import annotations

import json
import platform
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from hmi.app import create_app
from hmi.auth.roles import Role
from hmi.auth.users import UserStore
from hmi.feed import golden_board, synthetic_result
from hmi.server import HmiServer
from inspection.errors import MissingDependency
from inspection.station.local import LocalStation, RecipeDef
from inspection.store import ResultStore, StoreConfig

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]


def _stats(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        return {"n": 0}
    p = np.percentile(a, [50, 95, 99, 99.9])
    return {"n": int(a.size), "p50": round(float(p[0]), 3), "p95": round(float(p[1]), 3),
            "p99": round(float(p[2]), 3), "p99.9": round(float(p[3]), 3), "max": round(float(a.max()), 3),
            "mean": round(float(a.mean()), 3)}


class _Station:
    def __init__(self, root: Path) -> None:
        self.store = ResultStore(StoreConfig(root / "store", save_pass_every=0)).start()
        self.users = UserStore(root / "users.db")
        self.users.create("bench", Role.OPERATOR, "bench-pass-1")
        self.station = LocalStation(self.store, data_dir=root / "station", armed=True,
                                    recipes=[RecipeDef("pcb-a", 1, "PCB type A")])
        self.app = create_app(self.station, self.store, self.users, announce=lambda _t: None)
        self.server = HmiServer(self.app).start()

    def close(self) -> None:
        self.server.stop()
        self.store.close()
        self.users.close()


def live_latency(root: Path, *, parts: int, rate: float) -> dict[str, Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ModuleNotFoundError as exc:
        raise MissingDependency("playwright", extra="test", purpose="the live-view benchmark") from exc
    st = _Station(root)
    rng = np.random.default_rng(1)
    ref = golden_board()
    made = [synthetic_result(rng, ref, reject_rate=0.3) for _ in range(parts)]
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(st.server.url)
            page.wait_for_selector("#login-form", state="visible")
            page.fill("#login-user", "bench")
            page.fill("#login-pass", "bench-pass-1")
            page.click("#login-form button[type=submit]")
            page.wait_for_selector("#conn-dot.up")
            period = 1.0 / rate
            next_t = time.monotonic()
            ids = []
            for result, image in made:
                next_t += period
                time.sleep(max(0.0, next_t - time.monotonic()))
                ids.append(st.station.inject(result, image).result_id)
            page.wait_for_function("(id) => window.__hmi.last && window.__hmi.last.result_id === id",
                                   arg=ids[-1], timeout=30_000)
            renders = page.evaluate("() => window.__hmi.renders")
            browser.close()
    finally:
        st.close()
    text, text_paint, image_paint = [], [], []
    wanted = set(ids)
    for r in renders:
        if r.get("published_ns") is None or r["result_id"] not in wanted:
            continue
        t0 = r["published_ns"] / 1e6
        text.append(r["text_ms"] - t0)
        if r.get("text_paint_ms") is not None:
            text_paint.append(r["text_paint_ms"] - t0)
        if r.get("image_paint_ms") is not None:
            image_paint.append(r["image_paint_ms"] - t0)
    return {"parts": parts, "rate_per_s": rate, "verdicts_shown": len(text),
            "images_shown": len(image_paint), "image": "640x480 grey, JPEG",
            "verdict_in_dom_ms": _stats(text), "verdict_painted_ms": _stats(text_paint),
            "image_and_overlay_painted_ms": _stats(image_paint)}


def _stall(port: int, token: str) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
              .encode())
    head = b""
    while b"event: hello" not in head:
        head += s.recv(4096)
    return s  # never read again


def _follow(url: str, token: str, stop: threading.Event, ready: threading.Event) -> None:
    import httpx

    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c, \
            c.stream("GET", "/api/events") as r:
        for line in r.iter_lines():
            if line.startswith("event: hello"):
                ready.set()
            if stop.is_set():
                return


def publish_cost(root: Path, *, n: int, stalled: int, rate: float | None) -> list[dict[str, Any]]:
    """``inject`` timed per call; ``rate`` None publishes back to back (a burst), else paced."""
    rng = np.random.default_rng(2)
    result, image = synthetic_result(rng, golden_board(), reject_rate=1.0)
    from dataclasses import replace

    from inspection.result import ResultCode

    result = replace(result, code=ResultCode.OK, findings=tuple(f for f in result.findings if not f.reported))
    rows = []
    for label, healthy, n_stalled in (("no clients", 0, 0), ("1 healthy", 1, 0),
                                      (f"1 healthy + {stalled} stalled", 1, stalled)):
        st = _Station(root / label.replace(" ", "_").replace("+", ""))
        token, _ = st.users.create_session("bench")
        stop, ready = threading.Event(), threading.Event()
        threads = []
        socks = [_stall(st.server.port, token) for _ in range(n_stalled)]
        if healthy:
            t = threading.Thread(target=_follow, args=(st.server.url, token, stop, ready), daemon=True)
            t.start()
            threads.append(t)
            ready.wait(10)
        for _ in range(200):  # warm-up (first JSON encodes, allocations), not measured
            st.station.inject(result, image)
        dropped0 = sum(s.dropped for s in st.station.broadcaster.subscribers if s.name.startswith("sse:"))
        times = []
        t_all = time.perf_counter()
        next_t = time.monotonic()
        for _ in range(n):
            if rate:
                next_t += 1.0 / rate
                time.sleep(max(0.0, next_t - time.monotonic()))
            t0 = time.perf_counter_ns()
            st.station.inject(result, image)
            times.append((time.perf_counter_ns() - t0) / 1e6)
        wall = time.perf_counter() - t_all
        dropped = sum(s.dropped for s in st.station.broadcaster.subscribers
                      if s.name.startswith("sse:")) - dropped0
        stop.set()
        st.station.broadcaster.emit("status", {})  # wakes the follower so it sees stop
        st.close()
        for s in socks:
            s.close()
        for t in threads:
            t.join(5)
        rows.append({"clients": label, "mode": f"paced {rate:g}/s" if rate else "burst", "publishes": n,
                     "per_s": round(n / wall), "inject_ms": _stats(times),
                     "events_dropped_for_stalled": dropped, "store_dropped": st.station.hub.store_dropped})
    return rows


def run_bench(*, parts: int = 100, stalled: int = 4, json_path: str | None = None, rate: float = 20.0,
              publishes: int = 3000) -> int:
    import cv2

    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory(prefix="hmi-bench-") as tmp:
        root = Path(tmp)
        print(f"live-view latency: {parts} parts at {rate:g}/s into headless Chromium ...", flush=True)
        live = live_latency(root / "live", parts=parts, rate=rate)
        print(f"publish cost: {publishes} back-to-back injects per configuration ...", flush=True)
        pub = publish_cost(root / "burst", n=publishes, stalled=stalled, rate=None)
        print(f"publish cost: {int(rate * 10)} injects at {rate:g}/s per configuration ...", flush=True)
        pub += publish_cost(root / "paced", n=int(rate * 10), stalled=stalled, rate=rate)
    print("\nLive view: result published -> visible in the browser (ms)")
    print(f"{'measure':34} {'n':>4} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}")
    for key in ("verdict_in_dom_ms", "verdict_painted_ms", "image_and_overlay_painted_ms"):
        s = live[key]
        print(f"{key:34} {s['n']:>4} {s['p50']:>8} {s['p95']:>8} {s['p99']:>8} {s['max']:>8}")
    print("\nStation publish (LocalStation.inject) cost with SSE clients (ms per call)")
    head = ("clients", "mode", "n", "p50", "p99", "p99.9", "max", "per s", "dropped")
    print(f"{head[0]:26} {head[1]:>11} " + " ".join(f"{h:>7}" for h in head[2:]))
    for r in pub:
        s = r["inject_ms"]
        cols = (s["n"], s["p50"], s["p99"], s["p99.9"], s["max"], r["per_s"], r["events_dropped_for_stalled"])
        print(f"{r['clients']:26} {r['mode']:>11} " + " ".join(f"{c:>7}" for c in cols))
    out = {"machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count(),
                       "platform": platform.platform()}, "live_view": live, "publish_cost": pub}
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(out, indent=2))
        print(f"\nwrote {json_path}")
    return 0
