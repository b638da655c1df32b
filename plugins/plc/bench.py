"""``inspection plc-bench``: the PLC bridge's timing targets, measured on loopback.

The station (state machine + real pymodbus server on 127.0.0.1) runs in this process, the PLC
simulator (real pymodbus client) in a child process by default, as a real PLC would not share the
station's interpreter lock (``separate=False``: a thread of this process). The PLC polls the status
block every ``poll_s`` like a fast PLC task would, so every PLC-side number includes that polling.
Phases:

1. latency: trigger -> TRIG_ACK, and bridge overhead = trigger -> RESULT_VALID minus the time the
   fixed-time fake inspection really took (measured inside the job);
2. deadline: an inspection slower than DEADLINE_MS; TIMEOUT_REJECT observed relative to the deadline;
3. soak: triggers at ``rate_hz`` for ``soak_s`` seconds; lost, duplicated, out-of-order results.
"""

from __future__ import annotations

import itertools
import json
import logging
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from inspection.plc.contract import ErrorCode, StnReg, Sts
from inspection.plc.job import FixedTimeJob
from inspection.result import ResultCode
from inspection.station.timing import MachineConfig
from plugins.plc.loopback import LoopbackStation
from plugins.plc.simulator import PlcSimulator
from plugins.plc.station_view import StationView

logger = logging.getLogger(__name__)

TARGETS = {"trig_ack_p99_ms": 5.0, "overhead_p99_ms": 2.0, "timeout_late_max_ms": 5.0}


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100.0 * (len(s) - 1))))]


def _stats(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50": _pct(values, 50), "p99": _pct(values, 99),
            "max": max(values, default=0.0)}


def plc_run(port: int, *, parts: int = 0, seconds: float = 0.0, rate_hz: float = 0.0, poll_s: float,
            result_timeout: float = 2.0, progress: bool = False) -> dict[str, Any]:
    """The PLC side of a phase: ``parts`` parts (or parts for ``seconds``), at ``rate_hz`` (0: back
    to back). Runs in the PLC process; returns plain data (picklable)."""
    period = 1.0 / rate_hz if rate_hz > 0 else 0.0
    reports: list[dict[str, Any]] = []
    late_starts = 0
    with PlcSimulator(port=port, poll_s=poll_s) as sim:
        sim.enable()
        t0 = time.perf_counter()
        next_at, next_report, seq = t0, t0 + 10.0, 0
        while (parts and seq < parts) or (seconds and time.perf_counter() - t0 < seconds):
            now = time.perf_counter()
            if now < next_at:
                time.sleep(next_at - now)
            elif period and now - next_at > period:
                late_starts += 1
            seq += 1
            reports.append(sim.run_part(seq & 0xFFFF, part_id=seq, result_timeout=result_timeout).to_dict())
            next_at += period
            if progress and time.perf_counter() >= next_report:
                next_report += 10.0
                print(f"soak: {time.perf_counter() - t0:5.0f} s, {seq} parts", flush=True)
        elapsed = time.perf_counter() - t0
        final = list(sim.read_status().words)
    return {"reports": reports, "late_starts": late_starts, "elapsed": elapsed, "final": final}


def _plc(separate: bool, port: int, **kw: Any) -> dict[str, Any]:
    """Run :func:`plc_run` in its own process (like a real PLC: no shared interpreter lock with the
    station) or, with ``separate`` False, in a thread of this one."""
    if not separate:
        return plc_run(port, **kw)
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(plc_run, port, **kw).result()


def latency_phase(parts: int, *, inspect_ms: float, poll_s: float, separate: bool = True) -> dict[str, Any]:
    job_box: dict[str, FixedTimeJob] = {}

    def make_job() -> FixedTimeJob:
        job_box["job"] = FixedTimeJob(inspect_ms=inspect_ms, exposure_ms=1.0)
        return job_box["job"]

    with LoopbackStation(make_job, config=MachineConfig(deadline_ms=1000)) as ls:
        assert ls.station is not None
        cycles: dict[int, float] = {}
        ls.station.on_result(lambda rec: cycles.__setitem__(rec.request.trigger_seq, rec.cycle_ms))
        run = _plc(separate, ls.port, parts=parts, poll_s=poll_s)
    acks, overhead, inside = [], [], []
    for r in run["reports"]:
        seq = r["trigger_seq"]
        if r["problems"] or not r["passed"]:
            raise RuntimeError(f"latency phase: part {seq} failed: {r}")
        job_ms = job_box["job"].durations[seq] * 1000.0
        acks.append(r["trig_ack_ms"])
        overhead.append(r["result_ms"] - job_ms)
        inside.append(cycles[seq] - job_ms)
    return {"parts": parts, "inspect_ms": inspect_ms, "poll_ms": poll_s * 1000, "plc_process": separate,
            "trig_ack_ms": _stats(acks), "overhead_ms": _stats(overhead),
            "station_internal_overhead_ms": _stats(inside)}


def deadline_phase(parts: int, *, deadline_ms: int, poll_s: float, separate: bool = True) -> dict[str, Any]:
    cfg = MachineConfig(deadline_ms=deadline_ms)
    with LoopbackStation(lambda: FixedTimeJob(inspect_ms=deadline_ms * 2.0), config=cfg) as ls:
        run = _plc(separate, ls.port, parts=parts, poll_s=poll_s, result_timeout=deadline_ms / 1000 + 2)
    late = []
    for r in run["reports"]:
        if not (r["timeout_reject"] and not r["passed"] and r["result_code"] == ResultCode.NG_DEADLINE):
            raise RuntimeError(f"deadline phase: part {r['trigger_seq']} was not a TIMEOUT_REJECT: {r}")
        late.append(r["result_ms"] - deadline_ms)
    return {"parts": parts, "deadline_ms": deadline_ms, "plc_process": separate,
            "timeout_after_deadline_ms": _stats(late)}


def soak_phase(seconds: float, *, rate_hz: float, inspect_ms: float, poll_s: float,
               separate: bool = True, progress: bool = True) -> dict[str, Any]:
    with LoopbackStation(lambda: FixedTimeJob(inspect_ms=inspect_ms),
                         config=MachineConfig(deadline_ms=max(100, int(inspect_ms * 5)))) as ls:
        assert ls.station is not None
        published: list[int] = []
        ls.station.on_result(lambda rec: published.append(rec.request.trigger_seq))
        run = _plc(separate, ls.port, seconds=seconds, rate_hz=rate_hz, poll_s=poll_s, progress=progress)
    reports = run["reports"]
    final = StationView(tuple(run["final"]), 0.0)
    lost = sum(1 for r in reports if r["trigger_seq"] != r["echo_seq"])
    dup = len(published) - len(set(published))  # results the station published twice for one seq
    unclaimed = len(published) - len(reports)  # results published but never seen by the PLC
    seqs = [r["result_seq"] for r in reports]
    out_of_order = sum(1 for a, b in itertools.pairwise(seqs) if b != a % 0xFFFF + 1)
    rejects = Counter(ErrorCode(r["error_code"]).name for r in reports if not r["passed"])
    return {
        "seconds": round(run["elapsed"], 1), "rate_hz": rate_hz, "plc_process": separate,
        "achieved_hz": len(reports) / run["elapsed"], "parts": len(reports), "inspect_ms": inspect_ms,
        "deadline_ms": max(100, int(inspect_ms * 5)), "lost": lost, "duplicated": dup,
        "unclaimed": unclaimed, "out_of_order": out_of_order,
        "rejected": sum(rejects.values()), "rejected_by_error": dict(rejects),
        "problems": sum(1 for r in reports if r["problems"]), "late_starts": run["late_starts"],
        "count_total": final.u32(StnReg.COUNT_TOTAL), "count_ok": final.u32(StnReg.COUNT_OK),
        "missed_trigger": final.has(Sts.MISSED_TRIGGER),
        "result_ms": _stats([r["result_ms"] for r in reports]),
    }


def run_bench(*, parts: int = 500, inspect_ms: float = 10.0, deadline_parts: int = 30,
              deadline_ms: int = 100, soak_s: float = 30.0, rate_hz: float = 20.0,
              poll_s: float = 0.0005, separate: bool = True, out: Path | None = None,
              progress: Callable[[str], None] = print) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    progress(f"latency: {parts} parts, fixed {inspect_ms} ms inspection, PLC poll {poll_s * 1000} ms "
             f"(load average {load_before:.2f} on {os.cpu_count()} CPUs)")
    result: dict[str, Any] = {"latency": latency_phase(parts, inspect_ms=inspect_ms, poll_s=poll_s,
                                                             separate=separate)}
    progress(f"deadline: {deadline_parts} parts slower than a {deadline_ms} ms deadline")
    result["deadline"] = deadline_phase(deadline_parts, deadline_ms=deadline_ms, poll_s=poll_s,
                                        separate=separate)
    if soak_s > 0:
        progress(f"soak: {rate_hz} triggers/s for {soak_s} s")
        result["soak"] = soak_phase(soak_s, rate_hz=rate_hz, inspect_ms=inspect_ms, poll_s=poll_s,
                                    separate=separate)
    result["machine"] = {"cpus": os.cpu_count(), "load_before": load_before,
                         "load_after": os.getloadavg()[0]}
    result["targets"] = TARGETS
    result["verdict"] = verdicts(result)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    return result


def verdicts(result: dict[str, Any]) -> dict[str, bool]:
    lat, dl = result["latency"], result["deadline"]
    v = {
        "trig_ack_p99": lat["trig_ack_ms"]["p99"] <= TARGETS["trig_ack_p99_ms"],
        "overhead_p99": lat["overhead_ms"]["p99"] <= TARGETS["overhead_p99_ms"],
        "timeout_within_5ms": dl["timeout_after_deadline_ms"]["max"] <= TARGETS["timeout_late_max_ms"],
    }
    if "soak" in result:
        s = result["soak"]
        v["soak_clean"] = (s["lost"] == 0 and s["duplicated"] == 0 and s["out_of_order"] == 0
                           and s["problems"] == 0 and s["unclaimed"] == 0)
    return v


def table(result: dict[str, Any]) -> str:
    lat, dl = result["latency"], result["deadline"]
    rows = [("trigger -> TRIG_ACK (PLC view)", lat["trig_ack_ms"], "p99 <= 5 ms"),
            ("bridge overhead (PLC view)", lat["overhead_ms"], "p99 <= 2 ms"),
            ("  of which station-internal", lat["station_internal_overhead_ms"], ""),
            ("TIMEOUT_REJECT after deadline", dl["timeout_after_deadline_ms"], "max <= 5 ms")]
    where = "a separate process" if lat.get("plc_process") else "the station's process"
    m = result.get("machine", {})
    lines = [f"PLC simulator in {where}, polling every {lat['poll_ms']:.2f} ms; load average "
             f"{m.get('load_before', float('nan')):.2f} -> {m.get('load_after', float('nan')):.2f} "
             f"on {m.get('cpus')} CPUs",
             f"{'measure':32} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  target",
             "-" * 78]
    lines += [f"{name:32} {s['n']:5d} {s['p50']:8.3f} {s['p99']:8.3f} {s['max']:8.3f}  {t}"
              for name, s, t in rows]
    if "soak" in result:
        s = result["soak"]
        lines.append(f"soak {s['seconds']} s at {s['rate_hz']} Hz (achieved {s['achieved_hz']:.2f}): "
                     f"{s['parts']} parts, lost {s['lost']}, duplicated {s['duplicated']}, "
                     f"out of order {s['out_of_order']}, handshake problems {s['problems']}, "
                     f"late starts {s['late_starts']}, rejected {s['rejected_by_error'] or 0}")
    lines.append("verdict: " + ", ".join(f"{k} {'OK' if ok else 'MISSED'}"
                                         for k, ok in result["verdict"].items()))
    return "\n".join(lines)
