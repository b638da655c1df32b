"""``python -m hmi.bench_store --rows 10000000 --dir DIR``: the HMI's pages on a plant-sized store.

Builds (or reuses) a synthetic result store of ``--rows`` parts as a station at 20 parts/s writes
them (one every 50 ms; 95 % OK, 4.5 % defects, 0.4 % not aligned, 0.1 % camera errors; two recipes
a day each; rejects confirmed by operators except 5 % overridden and the newest 2,000 pending), then
times every page the HMI serves from the store through the real app (FastAPI TestClient, signed in):
history with each filter (first page and a deep keyset page), the review queue, statistics, CSV
exports. Prints a table (median and max of ``--repeat`` calls, the first call after opening included
in max) and writes JSON.

The rows are inserted with the trigger and the secondary indexes dropped, then the indexes are built
and the aggregates back-filled by the store's own schema code (as opening an old store would).
"""

from __future__ import annotations

import argparse
import json
import platform
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from hmi.app import create_app
from hmi.auth.roles import Role
from hmi.auth.users import UserStore
from inspection.station.local import LocalStation, RecipeDef
from inspection.store import ResultStore, StoreConfig
from inspection.store.schema import connect, init_schema

STEP_NS = 50_000_000  # 20 parts/s
TIMINGS = json.dumps({"acquire": 4.1, "align": 3.2, "detect": 6.3, "decide": 0.2, "total": 14.0})
FINDING = ('[{"box":[%d,%d,%d,%d],"score":0.91,"class":%d,"class_name":"open","polarity":"dark",'
           '"area_px":64,"contrast":0.5}]')
PENDING_TAIL = 2000


def _rows(n: int, start: int, t0_ns: int) -> Iterator[tuple[Any, ...]]:
    for i in range(start, n):
        r = (i * 2654435761) % 1000  # a fixed, scattered pattern
        code = 1 if r < 950 else 2 if r < 995 else 3 if r < 999 else 5
        verdict = "pass" if code == 1 else "reject"
        decided = t0_ns + i * STEP_NS
        recipe = "pcb-a" if (decided // (12 * 3600 * 10**9)) % 2 == 0 else "pcb-b"
        findings, worst, review, reason, user, rns = "[]", None, "none", None, None, None
        if verdict == "reject":
            if code == 2:
                x, y = (i * 37) % 600, (i * 91) % 440
                wc = 1 + (i % 10)
                findings, worst = FINDING % (x, y, x + 8, y + 8, wc), wc
            if i < n - PENDING_TAIL * 20:
                review, user, rns = ("overridden" if r % 20 == 0 else "confirmed"), "olga", decided + 60 * 10**9
                reason = "dust on the part" if review == "overridden" else ""
        yield (f"{i:020x}", i & 0xFFFF, i, f"SN{i:010d}", recipe, 1 if recipe == "pcb-a" else 2, "hash", "cam0",
               "station-1", verdict, code, "" if code == 1 else "ng", 0 if code == 1 else 1, 0.9 if code == 2 else 0.05,
               worst, findings, "[]", None, TIMINGS, 14.0, 480, 640, decided - 14_000_000, decided, decided + 1_000_000,
               "none" if verdict == "pass" else "deleted", None, None, 0, review, reason, user, rns)


INSERT = """INSERT INTO results (result_id, trigger_seq, part_id, part_id_str, recipe_id, recipe_number, model_hash,
 camera_id, station_id, verdict, code, message, defect_count, max_score, worst_class, findings_json, overlay_json,
 alignment_json, timings_json, cycle_ms, image_h, image_w, trigger_ns, decided_ns, stored_ns, image_state, image_path,
 overlay_path, image_bytes, review_status, review_reason, review_user, review_ns)
 VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"""


def _t0(conn: sqlite3.Connection) -> int | None:
    row = conn.execute("SELECT value FROM meta WHERE key = 'bench_t0'").fetchone()
    return None if row is None else int(row[0])


def build(root: Path, n: int) -> dict[str, float]:
    """Fill ``root``'s store up to ``n`` rows (reusing what is there); returns seconds per step."""
    cfg = StoreConfig(root / "store", save_pass_every=0)
    ResultStore(cfg).close()  # the schema
    conn = connect(cfg.db_path, synchronous="NORMAL")
    have = int(conn.execute("SELECT COUNT(*) FROM results").fetchone()[0])
    times: dict[str, float] = {}
    if have < n:
        t = time.perf_counter()
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('index', 'trigger') AND tbl_name = 'results' "
            "AND sql IS NOT NULL")]
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -400000")
        for name in names:
            kind = "TRIGGER" if name == "results_stats" else "INDEX"
            conn.execute(f"DROP {kind} IF EXISTS {name}")
        conn.execute("DELETE FROM meta WHERE key = 'stats_aggregates'")
        t0 = _t0(conn) or time.time_ns() - n * STEP_NS  # the last part is decided about now
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('bench_t0', ?)", (str(t0),))
        batch: list[tuple[Any, ...]] = []
        conn.execute("BEGIN")
        for row in _rows(n, have, t0):
            batch.append(row)
            if len(batch) == 100_000:
                conn.executemany(INSERT, batch)
                batch.clear()
        if batch:
            conn.executemany(INSERT, batch)
        conn.execute("COMMIT")
        times["insert_s"] = time.perf_counter() - t
        t = time.perf_counter()
        init_schema(conn, cfg.db_path)  # indexes, aggregates back-filled, trigger
        times["index_and_aggregate_s"] = time.perf_counter() - t
        t = time.perf_counter()
        conn.execute("ANALYZE")
        times["analyze_s"] = time.perf_counter() - t
    conn.close()
    return times


def _time(client: TestClient, url: str, repeat: int, headers: dict[str, str], method: str = "GET") -> dict[str, Any]:
    ms, size = [], 0
    for _ in range(repeat):
        t = time.perf_counter()
        r = client.request(method, url, headers=headers)
        ms.append((time.perf_counter() - t) * 1e3)
        if r.status_code != 200:
            raise RuntimeError(f"{url}: {r.status_code} {r.text[:200]}")
        size = len(r.content)
    return {"url": url, "median_ms": round(statistics.median(ms), 2), "max_ms": round(max(ms), 2), "bytes": size}


def measure(root: Path, n: int, repeat: int) -> list[dict[str, Any]]:
    store = ResultStore(StoreConfig(root / "store", save_pass_every=0)).start()
    users = UserStore(root / "users.db")
    if users.get("bench") is None:
        users.create("bench", Role.ENGINEER, "bench-pass-1")
    station = LocalStation(store, data_dir=root / "station", armed=True,
                           recipes=[RecipeDef("pcb-a", 1, "PCB A"), RecipeDef("pcb-b", 2, "PCB B")])
    app = create_app(station, store, users, announce=lambda _t: None)
    out = []
    try:
        with TestClient(app) as client:
            login = {"username": "bench", "password": "bench-pass-1"}
            token = client.post("/api/auth/login", json=login).json()["token"]
            client.cookies.clear()
            h = {"Authorization": f"Bearer {token}"}
            mid = n // 2
            t0 = int(store.get_meta("bench_t0") or 0)

            def iso(ns: int) -> str:
                return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(ns / 1e9))

            hour = f"since={iso(t0 + mid * STEP_NS)}&until={iso(t0 + mid * STEP_NS + 3600 * 10**9)}"
            day = f"since={iso(t0 + mid * STEP_NS)}&until={iso(t0 + mid * STEP_NS + 86400 * 10**9)}"
            pages = [
                ("history, no filter", "/api/results?limit=50"),
                ("history, no filter, deep page", f"/api/results?limit=50&before_seq={mid}"),
                ("history, verdict=reject", "/api/results?verdict=reject&limit=50"),
                ("history, verdict=reject, deep page", f"/api/results?verdict=reject&limit=50&before_seq={mid}"),
                ("history, code=3 (0.4 %)", "/api/results?code=3&limit=50"),
                ("history, code=5 (0.1 %), deep page", f"/api/results?code=5&limit=50&before_seq={mid}"),
                ("history, recipe_id=pcb-b", "/api/results?recipe_id=pcb-b&limit=50"),
                ("history, review=overridden", "/api/results?review=overridden&limit=50"),
                ("history, review=pending", "/api/results?review=pending&limit=50"),
                ("history, part = a serial", f"/api/results?part=SN{mid:010d}&limit=50"),
                ("history, part = a part id", f"/api/results?part={mid}&limit=50"),
                ("history, part = serial prefix", f"/api/results?part=SN{mid // 1000:07d}&limit=50"),
                ("history, trigger_seq", "/api/results?trigger_seq=12345&limit=50"),
                ("history, one hour in the middle", f"/api/results?{hour}&limit=50"),
                ("history, one hour + verdict=reject", f"/api/results?{hour}&verdict=reject&limit=50"),
                ("history, one day (1.7 M rows)", f"/api/results?{day}&limit=50"),
                ("history, one day + code=3", f"/api/results?{day}&code=3&limit=50"),
                ("history, serial anywhere (*, full scan)", f"/api/results?part=*{mid}&limit=50"),
                ("review queue, oldest first", "/api/review/pending?limit=50"),
                ("review queue, next page", "/api/review/pending?limit=50&after_seq=" + str(n - 30000)),
                ("statistics, yield per hour, 24 h", "/api/stats/yield?hours=24&bucket=hour"),
                ("statistics, yield per shift, 7 days", "/api/stats/yield?hours=168&bucket=shift"),
                ("statistics, Pareto, 7 days", "/api/stats/pareto?hours=168"),
                ("statistics, defect map, 24 h", "/api/stats/defect-map?hours=24"),
                ("export, results.csv 1,000 rows", "/api/results.csv?limit=1000"),
                ("export, results.csv rejects 1,000 rows", "/api/results.csv?verdict=reject&limit=1000"),
                ("export, results.csv one day, rejects", f"/api/results.csv?{day}&verdict=reject"),
                ("export, audit.csv", "/api/audit.csv"),
            ]
            for label, url in pages:
                res = _time(client, url, repeat, h)
                res["page"] = label
                out.append(res)
                print(f"{label:48s} {res['median_ms']:9.2f} {res['max_ms']:9.2f}  {url}", flush=True)
            t = time.perf_counter()
            r = client.get("/api/results.csv?limit=200000", headers=h)
            s = time.perf_counter() - t
            rows = r.text.count("\n") - 1
            out.append({"page": "export throughput", "rows": rows, "seconds": round(s, 2),
                        "rows_per_s": round(rows / s)})
            print(f"export throughput: {rows} rows in {s:.2f} s = {rows / s:,.0f} rows/s", flush=True)
    finally:
        store.close()
        users.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hmi.bench_store", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--dir", type=Path, default=None, help="keep (and reuse) the store here")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    tmp = None
    if args.dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-store-")
        args.dir = Path(tmp.name)
    args.dir.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    built = build(args.dir, args.rows)
    db = args.dir / "store" / "results.db"
    print(f"store: {args.rows:,} rows, {db.stat().st_size / 1e9:.2f} GB, built in {time.perf_counter() - t:.0f} s "
          f"{json.dumps({k: round(v, 1) for k, v in built.items()})}", flush=True)
    with sqlite3.connect(db) as c:
        (count,) = c.execute("SELECT MAX(seq) FROM results").fetchone()
    print(f"{'page':48s} {'median ms':>9s} {'max ms':>9s}", flush=True)
    pages = measure(args.dir, int(count), args.repeat)
    if args.out:
        args.out.write_text(json.dumps({"rows": count, "db_bytes": db.stat().st_size, "build_s": built,
                                        "machine": platform.platform(), "python": platform.python_version(),
                                        "sqlite": sqlite3.sqlite_version, "pages": pages}, indent=1))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
