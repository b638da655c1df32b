"""The PLC's cycle time with and without a shadow recipe on the running demo, in alternating
windows (off, on, off, on, ...) so that drift in the machine's load falls on both alike.

    python tests/station/shadow_bench.py --rounds 6 --window 10 --rate 8 --out test-artifacts/shadow-bench.json

Starts ``inspection demo`` (pylon emulator, Modbus server, simulated PLC, HMI) in a temporary
folder, signs in as an engineer, starts the shadow (threshold 0.6) for the "on" windows and drops
it for the "off" ones, then reads every part's ``cycle_ms`` (trigger to result) from the store.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

PASSWORD = "bench-pass-1"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--window", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=8.0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        subprocess.run([sys.executable, "-m", "hmi", "users", "add", "erik", "--role", "engineer", "--data",
                        str(root / "data"), "--password-stdin"], input=PASSWORD + "\n", text=True, check=True,
                       capture_output=True)
        proc = subprocess.Popen([sys.executable, "-m", "inspection", "demo", "--dir", str(root), "--http-port", "0",
                                 "--modbus-port", "0", "--rate", f"{args.rate:g}", "--parts", "10"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        url = None
        while url is None:
            line = proc.stdout.readline()
            if not line:
                raise SystemExit("the demo did not start")
            m = re.search(r"HMI:\s+(http://\S+)", line)
            url = m.group(1) if m else None
        try:
            with httpx.Client(base_url=url, timeout=60) as api:
                token = api.post("/api/auth/login", json={"username": "erik", "password": PASSWORD}).json()["token"]
                api.headers["Authorization"] = f"Bearer {token}"
                time.sleep(3)
                windows: dict[str, list[tuple[int, int]]] = {"off": [], "on": []}
                for _ in range(args.rounds):
                    for mode in ("off", "on"):
                        if mode == "on":
                            api.post("/api/shadow", json={"values": {"threshold": 0.6}}).raise_for_status()
                        t0 = time.time_ns()
                        time.sleep(args.window)
                        windows[mode].append((t0, time.time_ns()))
                        if mode == "on":
                            shadow = api.delete("/api/shadow").json()["dropped"]
                            print(f"shadow window: {shadow['seen']} judged, {shadow['disagreed']} disagreed, "
                                  f"{shadow['dropped']} dropped", flush=True)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=30)
        result: dict[str, object] = {"rounds": args.rounds, "window_s": args.window, "rate_parts_s": args.rate}
        with sqlite3.connect(root / "data" / "store" / "results.db") as c:
            for mode, spans in windows.items():
                ms = np.array([r[0] for t0, t1 in spans for r in c.execute(
                    "select cycle_ms from results where decided_ns >= ? and decided_ns < ? and code != 4", (t0, t1))])
                result[mode] = {"parts": int(ms.size), "p50_ms": round(float(np.percentile(ms, 50)), 1),
                                "p99_ms": round(float(np.percentile(ms, 99)), 1), "max_ms": round(float(ms.max()), 1)}
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
