"""``inspection bench station``: the whole station at line rate, and how fast the demo comes up.

1. Start-up: ``inspection demo`` as a user runs it (a subprocess), timed until its HMI answers /health.
2. Line rate: the demo station in this process (camera, Modbus TCP server, recipes, store, HMI),
   fed by the simulated PLC at ``--rate`` parts/s for ``--duration`` s. Then every part the PLC sent
   must be in the store exactly once, in order; per-stage P50/P99 come from the stored timings.
Prints a table and writes OUT/summary.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np


def add_bench(bsub: Any) -> None:
    s = bsub.add_parser("station", help="station at line rate (PLC -> camera -> detector -> store) and demo start-up",
                        description=__doc__)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--rate", type=float, default=20.0, help="parts per second from the simulated PLC")
    s.add_argument("--duration", type=float, default=60.0, help="seconds at line rate")
    s.add_argument("--camera", choices=("pylon", "replay"), default="replay",
                   help="replay (default: measures the station, not the emulator) or the pylon emulator")
    s.add_argument("--skip-startup", action="store_true", help="do not time the demo's start-up")
    s.set_defaults(func=_run)


def _startup(root: Path) -> float:
    port = 18000 + os.getpid() % 1000
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "inspection", "demo", "--dir", str(root), "--http-port", str(port),
                             "--modbus-port", "0", "--plc-sim", "off"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - t0 < 120:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    if r.status == 200:
                        return time.monotonic() - t0
            except OSError:
                time.sleep(0.05)
        return float("nan")
    finally:
        proc.terminate()
        proc.wait(30)


def _stage_table(db: Path) -> tuple[int, dict[str, dict[str, float]], list[tuple[int, int]]]:
    with sqlite3.connect(db) as c:
        rows = list(c.execute("select part_id, trigger_seq, timings_json from results order by seq"))
    series: dict[str, list[float]] = {}
    for _, _, t in rows:
        for k, v in json.loads(t).items():
            series.setdefault("cycle" if k == "total" else k, []).append(float(v))
    stats = {k: {"p50": float(np.percentile(v, 50)), "p99": float(np.percentile(v, 99)),
                 "max": float(np.max(v)), "n": len(v)} for k, v in series.items()}
    return len(rows), stats, [(r[0], r[1]) for r in rows]


def _run(args: argparse.Namespace) -> int:
    from inspection.cli.demo import _demo  # the same composition the demo uses

    args.out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"rate": args.rate, "duration_s": args.duration, "camera": args.camera,
                               "load_avg_start": os.getloadavg()}
    if not args.skip_startup:
        summary["demo_up_s"] = _startup(args.out / "startup")
    root = args.out / "line"
    ns = argparse.Namespace(http_port=0, http_host="127.0.0.1", modbus_port=0, modbus_host="127.0.0.1",
                            rate=args.rate, plc_sim="on", data=None, limit=60, parts=30, camera=args.camera,
                            dir=root, deadline_ms=1000, duration=args.duration)
    t0 = time.monotonic()
    rc = _demo(ns)  # runs for --duration, then stops the line, the HMI and the station (store flushed)
    summary["wall_s"] = time.monotonic() - t0
    summary["load_avg_end"] = os.getloadavg()
    stored, stages, ids = _stage_table(root / "data" / "store" / "results.db")
    part_ids = [p for p, _ in ids]
    summary.update({
        "exit_code": rc, "stored": stored, "duplicates": len(part_ids) - len(set(part_ids)),
        "out_of_order": sum(1 for a, b in itertools.pairwise(part_ids) if b < a),
        "missing": (max(part_ids) - len(set(part_ids))) if part_ids else 0,
        "stages_ms": stages,
    })
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(_table(summary))
    print(f"wrote {args.out}/summary.json")
    ok = rc == 0 and summary["duplicates"] == 0 and summary["missing"] == 0 and summary["out_of_order"] == 0
    return 0 if ok else 1


def _table(s: dict[str, Any]) -> str:
    lines = [f"rate {s['rate']:g} parts/s for {s['duration_s']:g} s, camera {s['camera']}, "
             f"load {s['load_avg_start'][0]:.1f} -> {s['load_avg_end'][0]:.1f}"]
    if "demo_up_s" in s:
        lines.append(f"demo up (command -> HMI /health 200): {s['demo_up_s']:.1f} s")
    lines.append(f"stored {s['stored']}  missing {s['missing']}  duplicated {s['duplicates']}  "
                 f"out of order {s['out_of_order']}")
    lines.append(f"{'stage':<10} {'n':>7} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}")
    order = ["acquire", "align", "detect", "decide", "publish", "cycle"]
    for name in order + sorted(set(s["stages_ms"]) - set(order)):
        st = s["stages_ms"].get(name)
        if st:
            lines.append(f"{name:<10} {st['n']:>7} {st['p50']:>9.2f} {st['p99']:>9.2f} {st['max']:>9.2f}")
    return "\n".join(lines)

