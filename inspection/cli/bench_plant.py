"""``inspection bench plant``: what each plant integration adds to the PLC cycle.

The demo station (replay camera, real Modbus TCP handshake, simulated PLC at ``--rate`` parts/s)
runs ``--duration`` s once per configuration: no integration (baseline), each integration alone
(``--mqtt HOST:PORT``, ``--plant-db URL``, ``--opcua``: those given), and all of them together. The
PLC cycle is what the simulated PLC sees: TRIGGER written -> RESULT_VALID read, per part. Prints
P50/P99 per configuration and the difference to the baseline; writes OUT/plant-bench.json. Every
part must also reach its sinks (the outbox summary is checked).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np


def add_bench(bsub: Any) -> None:
    s = bsub.add_parser("plant", help="latency each plant integration adds to the PLC cycle", description=__doc__)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--rate", type=float, default=20.0, help="parts per second from the simulated PLC")
    s.add_argument("--duration", type=float, default=20.0, help="seconds per configuration")
    s.add_argument("--mqtt", metavar="HOST:PORT", default=None, help="an MQTT broker to publish to")
    s.add_argument("--plant-db", metavar="URL", default=None, help="a PostgreSQL plant store")
    s.add_argument("--opcua", action="store_true", help="serve OPC UA (a free port on 127.0.0.1)")
    s.add_argument("--only-all", action="store_true", help="baseline and all together only (no single ones)")
    s.add_argument("--rounds", type=int, default=1, help="repeat the configurations, interleaved")
    s.set_defaults(func=_run)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _configs(args: argparse.Namespace) -> list[tuple[str, dict[str, Any]]]:
    single: list[tuple[str, dict[str, Any]]] = []
    if args.mqtt:
        single.append(("mqtt", {"mqtt": args.mqtt}))
    if args.plant_db:
        single.append(("plant-db", {"plant_db": args.plant_db}))
    if args.opcua:
        single.append(("opcua", {"opcua_port": -1}))
    out: list[tuple[str, dict[str, Any]]] = [("baseline", {})]
    if not args.only_all or len(single) < 2:
        out += single
    if len(single) > 1:
        out.append(("all", {k: v for _, d in single for k, v in d.items()}))
    return out


def _once(root: Path, args: argparse.Namespace, name: str, extra: dict[str, Any]) -> dict[str, Any]:
    from inspection.cli.demo import _demo  # the same composition the demo uses

    report: dict[str, Any] = {}
    opcua = extra.get("opcua_port", 0)
    ns = argparse.Namespace(http_port=0, http_host="127.0.0.1", modbus_port=0, modbus_host="127.0.0.1",
                            rate=args.rate, plc_sim="on", data=None, limit=60, parts=30, camera="replay",
                            dir=root / name, deadline_ms=1000, duration=args.duration, station_id=f"bench-{name}",
                            mqtt=extra.get("mqtt"), mqtt_qos=1, plant_db=extra.get("plant_db"),
                            opcua_port=_free_port() if opcua == -1 else 0, line_report=report)
    load = os.getloadavg()[0]
    rc = _demo(ns)
    ms = np.asarray(report.get("result_ms", []), dtype=float)
    return {"config": name, "exit_code": rc, "parts": int(ms.size), "problems": report.get("problems"),
            "p50_ms": float(np.percentile(ms, 50)) if ms.size else float("nan"),
            "p99_ms": float(np.percentile(ms, 99)) if ms.size else float("nan"),
            "load_avg_start": load}


def _run(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for k in range(max(1, args.rounds)):
        for name, extra in _configs(args):
            row = _once(args.out / f"round{k + 1}", args, name, extra)
            row["round"] = k + 1
            rows.append(row)
            time.sleep(1.0)
    for r in rows:  # against the baseline of the same round
        base = next(b for b in rows if b["round"] == r["round"] and b["config"] == "baseline")
        r["added_p50_ms"] = r["p50_ms"] - base["p50_ms"]
        r["added_p99_ms"] = r["p99_ms"] - base["p99_ms"]
    (args.out / "plant-bench.json").write_text(json.dumps({"rate": args.rate, "duration_s": args.duration,
                                                            "cpus": os.cpu_count(), "rows": rows}, indent=2))
    print(f"PLC cycle (TRIGGER -> RESULT_VALID as the PLC sees it), {args.rate:g} parts/s, {args.duration:g} s each")
    print(f"{'round':<6}{'config':<10} {'parts':>6} {'p50 ms':>8} {'p99 ms':>8} {'+p50 ms':>8} "
          f"{'+p99 ms':>8} {'load':>5}")
    for r in rows:
        print(f"{r['round']:<6}{r['config']:<10} {r['parts']:>6} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
              f"{r['added_p50_ms']:>+8.2f} {r['added_p99_ms']:>+8.2f} {r['load_avg_start']:>5.1f}")
    print(f"wrote {args.out}/plant-bench.json")
    return 0 if all(r["exit_code"] == 0 and r["problems"] == 0 for r in rows) else 1
