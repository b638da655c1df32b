"""What the PLC reads: the station status block decoded (:class:`StationView`), and the checks a PLC
must make on every result (:func:`report`)."""

from __future__ import annotations

from dataclasses import dataclass

from inspection.plc.codec import words_to_u32
from inspection.plc.contract import STN_BLOCK_START, ErrorCode, ResultCode, StationState, StnReg, Sts


@dataclass(frozen=True)
class StationView:
    """The station status block HR100-126 as the PLC read it, decoded; ``at`` is perf_counter()."""

    words: tuple[int, ...]
    at: float
    low_word_first: bool = True

    def __getitem__(self, reg: StnReg) -> int:
        return self.words[reg - STN_BLOCK_START]

    def u32(self, reg: StnReg) -> int:
        i = reg - STN_BLOCK_START
        return words_to_u32(self.words[i], self.words[i + 1], low_word_first=self.low_word_first)

    @property
    def sts(self) -> Sts:
        return Sts(self[StnReg.STS])

    def has(self, bit: Sts) -> bool:
        return bool(self[StnReg.STS] & bit)

    @property
    def state(self) -> int:
        return self[StnReg.STATE]

    @property
    def state_name(self) -> str:
        try:
            return StationState(self.state).name
        except ValueError:
            return f"?{self.state}"

    @property
    def error(self) -> str:
        try:
            return ErrorCode(self[StnReg.ERROR_CODE]).name
        except ValueError:
            return f"?{self[StnReg.ERROR_CODE]}"


@dataclass(frozen=True)
class PartReport:
    """What the PLC saw for one part. Times are ms after the TRIGGER write was sent."""

    trigger_seq: int
    part_id: int
    passed: bool
    result_code: int
    error_code: int
    timeout_reject: bool
    result_seq: int
    echo_seq: int
    trig_ack_ms: float
    result_ms: float
    cycle_ms: int  # CYCLE_MS as the station reported it
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, object]:
        return {**self.__dict__, "problems": list(self.problems)}


def report(view: StationView, *, seq: int, part_id: int, t0: float, ack_at: float) -> PartReport:
    """Check one result as the PLC must: one of PASS/REJECT, PASS only with code OK, echoes."""
    problems = []
    passed, rejected = view.has(Sts.PASS), view.has(Sts.REJECT)
    code = view[StnReg.RESULT_CODE]
    if passed == rejected:
        problems.append(f"PASS={passed} and REJECT={rejected}: exactly one must be set")
    if passed and code != ResultCode.OK:
        problems.append(f"PASS with RESULT_CODE {code}")
    if code == ResultCode.NONE:
        problems.append("RESULT_VALID with RESULT_CODE 0")
    if view.has(Sts.TIMEOUT_REJECT) and (passed or code != ResultCode.NG_DEADLINE):
        problems.append("TIMEOUT_REJECT without REJECT and code 4")
    if view[StnReg.TRIGGER_SEQ_ECHO] != seq & 0xFFFF:
        problems.append(f"TRIGGER_SEQ_ECHO {view[StnReg.TRIGGER_SEQ_ECHO]} != {seq}")
    if view.u32(StnReg.PART_ID_ECHO) != part_id:
        problems.append(f"PART_ID_ECHO {view.u32(StnReg.PART_ID_ECHO)} != {part_id}")
    return PartReport(
        trigger_seq=seq, part_id=part_id, passed=passed and not problems, result_code=code,
        error_code=view[StnReg.ERROR_CODE], timeout_reject=view.has(Sts.TIMEOUT_REJECT),
        result_seq=view[StnReg.RESULT_SEQ], echo_seq=view[StnReg.TRIGGER_SEQ_ECHO],
        trig_ack_ms=(ack_at - t0) * 1000.0, result_ms=(view.at - t0) * 1000.0,
        cycle_ms=view[StnReg.CYCLE_MS], problems=tuple(problems),
    )
