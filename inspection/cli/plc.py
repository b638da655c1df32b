"""``inspection plc-sim | plc-conformance | plc-bench | plc-serve``: the PLC side of the station.

The commands run the transport's tools by name through :data:`inspection.plc.bridge.plc_tools`, so
this module imports no plugin.
"""

from __future__ import annotations

import argparse
from typing import Any

from inspection.plc.bridge import plc_tools


def _tool(name: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        return int(plc_tools.get(f"{args.bridge}-{name}")(args))

    return run


def _address(p: argparse.ArgumentParser, *, port: int) -> None:
    p.add_argument("--bridge", default="modbus", help="PLC bridge (default: modbus)")
    p.add_argument("--host", default="127.0.0.1", help="station address (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=port, help=f"Modbus TCP port (default: {port})")
    p.add_argument("--unit", type=int, default=1, help="Modbus unit id (default: 1)")
    p.add_argument("--offset", type=int, default=0, help="register address offset (default: 0)")
    p.add_argument("--word-order", choices=("low-first", "high-first"), default="low-first",
                   help="u32 word order (default: low-first, the contract's)")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("plc-sim", help="act as the PLC: run parts through the handshake, print latency")
    _address(p, port=502)
    p.add_argument("--rate", type=float, default=5.0, help="parts per second (default: 5)")
    p.add_argument("--parts", type=int, default=20, help="parts to run, 0 = until Ctrl-C (default: 20)")
    p.add_argument("--part-str", default="", help="PART_ID_STR for every part (scripted job: OK, NG, ...)")
    p.add_argument("--recipe", type=int, default=None, help="select this recipe first (RECIPE_REQ)")
    p.add_argument("--buffer", action="store_true", help="set BUFFER_ENABLE")
    p.add_argument("--poll-ms", type=float, default=1.0, help="status poll period (default: 1 ms)")
    p.add_argument("--json", default=None, help="write the per-part reports to this JSON file")
    p.set_defaults(func=_tool("simulate"))

    p = sub.add_parser("plc-conformance", help="run the PLC contract conformance suite against a station")
    _address(p, port=502)
    p.add_argument("--case", action="append", default=None, help="run only this case (repeatable)")
    p.add_argument("--parts", type=int, default=50, help="parts in the line-rate case (default: 50)")
    p.add_argument("--heartbeat-timeout-ms", type=int, default=500,
                   help="the station's PLC heartbeat timeout (default: 500)")
    p.add_argument("--json", default=None, help="write the case results to this JSON file")
    p.set_defaults(func=_tool("conformance"))

    p = sub.add_parser("plc-bench", help="loopback benchmark: TRIG_ACK latency, bridge overhead, "
                       "deadline reject, soak")
    p.add_argument("--bridge", default="modbus", help="PLC bridge (default: modbus)")
    p.add_argument("--parts", type=int, default=500, help="parts in the latency phase (default: 500)")
    p.add_argument("--inspect-ms", type=float, default=10.0, help="fake inspection time (default: 10)")
    p.add_argument("--deadline-parts", type=int, default=30, help="parts in the deadline phase")
    p.add_argument("--deadline-ms", type=int, default=100, help="deadline of that phase (default: 100)")
    p.add_argument("--soak-s", type=float, default=30.0, help="soak duration in s, 0 = none (default: 30)")
    p.add_argument("--rate", type=float, default=20.0, help="soak trigger rate (default: 20/s)")
    p.add_argument("--poll-ms", type=float, default=0.5, help="PLC status poll period (default: 0.5 ms)")
    p.add_argument("--plc-in-process", action="store_true",
                   help="run the PLC simulator in a thread of the station's process (default: own process)")
    p.add_argument("--out", default="out/plc-bench.json",
                   help="JSON output (default: out/plc-bench.json)")
    p.set_defaults(func=_tool("bench"))

    p = sub.add_parser("plc-serve", help="run a PLC-facing station with a fake inspection job "
                       "(for plc-sim, plc-conformance, PLC commissioning)")
    _address(p, port=5020)
    p.add_argument("--job", default="scripted",
                   help="'scripted' (PART_ID_STR steers it; SIMULATION bit) or 'fixed:MS' "
                   "(default: scripted)")
    p.add_argument("--deadline-ms", type=int, default=500)
    p.add_argument("--ack-timeout-ms", type=int, default=2000)
    p.add_argument("--heartbeat-timeout-ms", type=int, default=500)
    p.add_argument("--buffer-depth", type=int, default=8)
    p.add_argument("--seconds", type=float, default=0.0, help="stop after this long (default: Ctrl-C)")
    p.set_defaults(func=_tool("serve"))
