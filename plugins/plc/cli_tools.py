"""The Modbus TCP bridge's command-line tools (``inspection plc-sim`` etc., see inspection/cli/plc.py)."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

from inspection.errors import ConfigError, PlcError
from inspection.plc.contract import Cmd, StnReg, Sts
from inspection.plc.job import FixedTimeJob, InspectionJob, ScriptedJob
from inspection.station.timing import MachineConfig


def _low_first(args: argparse.Namespace) -> bool:
    return str(getattr(args, "word_order", "low-first")) == "low-first"


def simulate(args: argparse.Namespace) -> int:
    from plugins.plc.simulator import PlcSimulator

    sim = PlcSimulator(args.host, args.port, unit_id=args.unit, address_offset=args.offset,
                       low_word_first=_low_first(args), poll_s=args.poll_ms / 1000.0)
    reports = []
    with sim:
        status = sim.read_status()
        print(f"station {args.host}:{args.port}: state {status.state_name}, recipe "
              f"{status[StnReg.ACTIVE_RECIPE]}, deadline {status[StnReg.DEADLINE_MS]} ms"
              f"{', SIMULATION' if status.has(Sts.SIMULATION) else ''}")
        sim.set_cmd(Cmd(0))
        if args.recipe is not None:
            sim.write_part(0, recipe_no=args.recipe)
            sim.set_cmd(Cmd.RECIPE_REQ)
            v = sim.wait(lambda v: v.has(Sts.RECIPE_DONE) or v.has(Sts.RECIPE_FAIL), "RECIPE_DONE/FAIL", 30)
            sim.set_cmd(Cmd(0))
            if v.has(Sts.RECIPE_FAIL):
                print(f"recipe {args.recipe} failed: {v.error}", file=sys.stderr)
                return 1
        sim.recipe_no = sim.read_status()[StnReg.ACTIVE_RECIPE]
        sim.enable(True, buffer=args.buffer)
        period = 1.0 / args.rate if args.rate > 0 else 0.0
        next_at, seq = time.perf_counter(), 0
        print(f"{'seq':>6} {'verdict':7} {'code':>4} {'err':>4} {'TRIG_ACK ms':>11} {'result ms':>9} "
              f"{'CYCLE_MS':>8}  checks")
        try:
            while args.parts == 0 or seq < args.parts:
                time.sleep(max(0.0, next_at - time.perf_counter()))
                next_at += period
                seq += 1
                r = sim.run_part(seq & 0xFFFF, part_id=seq, part_id_str=args.part_str)
                reports.append(r)
                print(f"{r.trigger_seq:6d} {'PASS' if r.passed else 'REJECT':7} {r.result_code:4d} "
                      f"{r.error_code:4d} {r.trig_ack_ms:11.2f} {r.result_ms:9.2f} {r.cycle_ms:8d}  "
                      f"{'ok' if r.ok else '; '.join(r.problems)}", flush=True)
        except KeyboardInterrupt:
            pass
        sim.set_cmd(Cmd(0))
    if reports:
        res = sorted(r.result_ms for r in reports)
        ack = sorted(r.trig_ack_ms for r in reports)
        print(f"{len(reports)} parts, {sum(r.passed for r in reports)} PASS, "
              f"{sum(not r.ok for r in reports)} with handshake problems; TRIG_ACK p50 "
              f"{ack[len(ack) // 2]:.2f} ms, result p50 {res[len(res) // 2]:.2f} ms, max {res[-1]:.2f} ms")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps([r.to_dict() for r in reports], indent=2) + "\n")
    return 0 if all(r.ok for r in reports) else 1


def conformance(args: argparse.Namespace) -> int:
    from plugins.plc.conformance import CaseResult, Target, run_conformance
    from plugins.plc.conformance_cases import CASES

    selected = CASES
    if args.case:
        unknown = [c for c in args.case if c not in CASES]
        if unknown:
            raise ConfigError(f"unknown case(s) {unknown}; known: {', '.join(CASES)}", field="--case")
        selected = {c: CASES[c] for c in args.case}
    target = Target(args.host, args.port, unit_id=args.unit, address_offset=args.offset,
                    low_word_first=_low_first(args), heartbeat_timeout_ms=args.heartbeat_timeout_ms,
                    parts=args.parts)

    def show(r: CaseResult) -> None:
        print(f"{r.status.upper():5} {r.name:22} {r.seconds:6.2f} s {r.results:4d} results  {r.detail}",
              flush=True)

    results = run_conformance(target, selected, progress=show)
    failed = [r for r in results if r.status == "fail"]
    skipped = [r for r in results if r.status == "skip"]
    print(f"{len(results) - len(failed) - len(skipped)} passed, {len(skipped)} skipped, {len(failed)} failed")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps([r.to_dict() for r in results], indent=2) + "\n")
    return 1 if failed else 0


def bench(args: argparse.Namespace) -> int:
    from plugins.plc.bench import run_bench, table

    result = run_bench(parts=args.parts, inspect_ms=args.inspect_ms, deadline_parts=args.deadline_parts,
                       deadline_ms=args.deadline_ms, soak_s=args.soak_s, rate_hz=args.rate,
                       poll_s=args.poll_ms / 1000.0, separate=not args.plc_in_process,
                       out=Path(args.out) if args.out else None)
    print(table(result))
    if args.out:
        print(f"wrote {args.out}")
    return 0 if all(result["verdict"].values()) else 1


def make_job(spec: str) -> tuple[InspectionJob, bool]:
    """``scripted`` or ``fixed:MS`` -> (job, simulation)."""
    if spec == "scripted":
        return ScriptedJob(), True
    kind, _, ms = spec.partition(":")
    if kind == "fixed":
        try:
            return FixedTimeJob(inspect_ms=float(ms or 20)), True
        except ValueError as exc:
            raise ConfigError(f"bad inspection time {ms!r}", field="--job") from exc
    raise ConfigError(f"unknown job {spec!r}; use 'scripted' or 'fixed:MS'", field="--job")


def serve(args: argparse.Namespace) -> int:
    from plugins.plc.loopback import LoopbackStation

    make_job(args.job)  # validate before binding the port
    config = MachineConfig(deadline_ms=args.deadline_ms, ack_timeout_ms=args.ack_timeout_ms,
                           plc_heartbeat_timeout_ms=args.heartbeat_timeout_ms,
                           buffer_depth=args.buffer_depth, simulation=True)
    station = LoopbackStation(lambda: make_job(args.job)[0], config=config, host=args.host,
                              port=args.port, unit_id=args.unit, address_offset=args.offset,
                              low_word_first=_low_first(args))
    try:
        station.start()
    except PlcError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"station listening on {args.host}:{station.port} (unit {args.unit}, offset {args.offset}, "
          f"job {args.job}); Ctrl-C to stop", flush=True)
    done = threading.Event()
    try:
        done.wait(args.seconds if args.seconds > 0 else None)
    except KeyboardInterrupt:
        pass
    finally:
        station.stop()
    return 0
