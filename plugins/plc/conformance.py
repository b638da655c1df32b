"""The PLC contract conformance suite, runnable against any station address.

Every case of PLC-CONTRACT.md "What a conformance test exercises" runs as a PLC would run it (a
:class:`~plugins.plc.simulator.PlcSimulator`), and every result it sees goes into a :class:`Ledger`
that checks, per case: exactly one result per TRIGGER_SEQ, never PASS without a completed
inspection, never a stale result (an echo the PLC did not ask for, or asked for earlier).

Cases that need a scripted job (slow detector, camera faults) run when the station reports
SIMULATION (``inspection plc-serve --job scripted``), where PART_ID_STR tells the job what to do;
against a production station they are skipped. The station-restart case needs a ``restart``
callable (the tests give one) and is skipped otherwise.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from inspection.errors import PlcError
from inspection.plc.contract import Cmd, ResultCode, StnReg, Sts
from plugins.plc.simulator import PartReport, PlcSimulator, StationView


class ConformanceFailure(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ConformanceFailure(message)


@dataclass
class Target:
    host: str = "127.0.0.1"
    port: int = 502
    unit_id: int = 1
    address_offset: int = 0
    low_word_first: bool = True
    restart: Callable[[], None] | None = None  # restarts the station on the same address
    heartbeat_timeout_ms: int = 500
    poll_s: float = 0.0005
    parts: int = 50  # parts in the line-rate case


@dataclass
class Ledger:
    """Expected and observed results of one case. ``expect`` values: "pass", "reject", "any",
    "none" (the station must never answer, e.g. a trigger lost with a restarted station)."""

    expected: dict[int, str] = field(default_factory=dict)
    seen: dict[int, list[bool]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    last_result_seq: int | None = None

    def expect(self, seq: int, verdict: str) -> None:
        self.expected[seq & 0xFFFF] = verdict

    def record(self, echo: int, passed: bool, result_seq: int) -> None:
        if echo not in self.expected:
            self.problems.append(f"stale or unknown result: TRIGGER_SEQ_ECHO {echo} was never triggered")
        elif self.seen.get(echo):
            self.problems.append(f"second result for TRIGGER_SEQ {echo}")
        self.seen.setdefault(echo, []).append(passed)
        if self.last_result_seq is not None and result_seq != self.last_result_seq % 0xFFFF + 1:
            self.problems.append(f"RESULT_SEQ jumped from {self.last_result_seq} to {result_seq}")
        self.last_result_seq = result_seq

    def view(self, view: StationView) -> StationView:
        self.record(view[StnReg.TRIGGER_SEQ_ECHO], view.has(Sts.PASS), view[StnReg.RESULT_SEQ])
        return view

    def part(self, report: PartReport) -> PartReport:
        if report.problems:
            self.problems.extend(f"seq {report.trigger_seq}: {p}" for p in report.problems)
        self.record(report.echo_seq, report.passed, report.result_seq)
        return report

    def verify(self) -> None:
        for seq, verdict in self.expected.items():
            got = self.seen.get(seq, [])
            if verdict == "none":
                if got:
                    self.problems.append(f"TRIGGER_SEQ {seq} answered by a station that never saw it")
                continue
            if len(got) != 1:
                self.problems.append(f"TRIGGER_SEQ {seq}: {len(got)} results, expected exactly one")
            elif verdict == "pass" and not got[0]:
                self.problems.append(f"TRIGGER_SEQ {seq}: REJECT, expected PASS")
            elif verdict == "reject" and got[0]:
                self.problems.append(f"TRIGGER_SEQ {seq}: PASS without a completed inspection")
        if self.problems:
            raise ConformanceFailure("; ".join(self.problems[:6]))


@dataclass(frozen=True)
class CaseResult:
    name: str
    status: str  # pass, fail, skip
    detail: str
    seconds: float
    results: int

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class Skip(Exception):
    pass


class CaseContext:
    """What a case works with: a connected simulator, the ledger, a sequence source, timings."""

    def __init__(self, target: Target, sim: PlcSimulator, seq_start: int, *, scripted: bool) -> None:
        self.target, self.sim, self.ledger = target, sim, Ledger()
        self._seq = seq_start
        status = sim.read_status()
        self.scripted = scripted
        self.deadline_ms = status[StnReg.DEADLINE_MS]
        self.ack_timeout_ms = status[StnReg.ACK_TIMEOUT_MS]

    def seq(self, verdict: str = "any") -> int:
        self._seq = self._seq % 0xFFFF + 1
        self.ledger.expect(self._seq, verdict)
        return self._seq

    def need_script(self) -> None:
        if not self.scripted:
            raise Skip("needs a station running the scripted job (inspection plc-serve --job scripted)")

    def script(self, verb: str) -> str:
        """PART_ID_STR for the scripted job (ignored by a production station)."""
        return verb if self.scripted else ""

    def take(self, timeout: float | None = None) -> StationView:
        return self.ledger.view(self.sim.take_result(timeout))

    def fresh(self, *, buffer: bool = False) -> None:
        """A known start: commands low, leftover results acknowledged, errors reset, recipe
        matched, enabled, READY."""
        sim = self.sim
        sim.set_cmd(Cmd(0))
        for _ in range(1000):
            if not sim.read_status().has(Sts.RESULT_VALID):
                break
            sim.take_result()
        sim.set_cmd(Cmd.RESET_ERROR)
        sim.set_cmd(Cmd(0))
        sim.recipe_no = sim.read_status()[StnReg.ACTIVE_RECIPE]
        sim.write_part(0)
        sim.enable(True, buffer=buffer)
        sim.wait(lambda v: v.has(Sts.READY), "READY after set-up", timeout=10.0)
        self.ledger.last_result_seq = None


Case = Callable[[CaseContext], str]


def make_simulator(target: Target) -> PlcSimulator:
    return PlcSimulator(target.host, target.port, unit_id=target.unit_id,
                        address_offset=target.address_offset, low_word_first=target.low_word_first,
                        poll_s=target.poll_s)


def probe_scripted(target: Target, seq_start: int) -> bool:
    """True when the station runs the scripted job: it reports SIMULATION, passes a part whose
    PART_ID_STR is "OK" and rejects one whose PART_ID_STR is "NG" with a defect."""
    with make_simulator(target) as sim:
        ctx = CaseContext(target, sim, seq_start, scripted=False)
        if not sim.read_status().has(Sts.SIMULATION):
            return False
        ctx.fresh()
        ok = sim.run_part(ctx.seq(), part_id_str="OK")
        ng = sim.run_part(ctx.seq(), part_id_str="NG")
        sim.set_cmd(Cmd(0))
        return ok.passed and not ng.passed and ng.result_code == ResultCode.NG_DEFECT


def run_conformance(target: Target, cases: dict[str, Case],
                    progress: Callable[[CaseResult], None] | None = None) -> list[CaseResult]:
    """Run ``cases`` (all: :data:`plugins.plc.conformance_cases.CASES`) one after the other on fresh
    PLC connections."""
    selected = cases
    seq_start = random.randint(1000, 60000)
    scripted = probe_scripted(target, seq_start)
    seq_start += 10
    out = []
    for name, case in selected.items():
        t0 = time.perf_counter()
        sim = make_simulator(target)
        ctx: CaseContext | None = None
        try:
            sim.connect()
            ctx = CaseContext(target, sim, seq_start, scripted=scripted)
            ctx.fresh()
            detail = case(ctx)
            ctx.ledger.verify()
            status = "pass"
        except Skip as exc:
            status, detail = "skip", str(exc)
        except (ConformanceFailure, PlcError) as exc:
            status, detail = "fail", f"{type(exc).__name__}: {exc}"
        finally:
            sim.close()
        seq_start = (ctx._seq if ctx else seq_start) + 100
        result = CaseResult(name, status, detail, time.perf_counter() - t0,
                            sum(len(v) for v in ctx.ledger.seen.values()) if ctx else 0)
        out.append(result)
        if progress is not None:
            progress(result)
    return out
