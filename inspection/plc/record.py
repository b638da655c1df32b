"""Result records (what the PLC gets for one trigger) and the station status block they appear in."""

from __future__ import annotations

from dataclasses import dataclass

from inspection.plc.codec import u32_to_words
from inspection.plc.contract import (
    STN_BLOCK_LEN,
    STN_BLOCK_START,
    ErrorCode,
    StationState,
    StnReg,
    Sts,
)
from inspection.result import InspectionResult, ResultCode

U16_MAX = 0xFFFF


def _u16(value: float) -> int:
    return int(min(max(round(value), 0), U16_MAX))


@dataclass(frozen=True)
class TriggerRequest:
    """One trigger as the PLC (or any transport) gave it."""

    trigger_seq: int
    part_id: int = 0
    part_id_str: str = ""
    recipe_no: int = 0


@dataclass(frozen=True)
class ResultRecord:
    """The answer to one trigger. ``inspected`` is True only when an inspection completed within the
    deadline and its result is ``result``; a PASS needs that and ``code`` OK (checked here)."""

    request: TriggerRequest
    code: ResultCode
    result_seq: int
    error_code: ErrorCode = ErrorCode.NONE
    inspected: bool = False
    timeout_reject: bool = False
    result: InspectionResult | None = None
    defect_count: int = 0
    max_score: int = 0  # x1000
    worst_class: int = 0
    worst_x: int = 0
    worst_y: int = 0
    worst_size: int = 0
    align_score: int = 0  # x1000
    cycle_ms: float = 0.0
    message: str = ""

    def __post_init__(self) -> None:
        if self.code is ResultCode.NONE:
            raise ValueError("a result record cannot have code NONE")
        if self.code is ResultCode.OK and not (
            self.inspected and not self.timeout_reject and self.result is not None
            and self.result.code is ResultCode.OK
        ):
            raise ValueError("an OK record needs a completed inspection whose result is OK")
        if self.timeout_reject and self.code is not ResultCode.NG_DEADLINE:
            raise ValueError("a timeout reject has code NG_DEADLINE")

    @property
    def passed(self) -> bool:
        return self.code is ResultCode.OK

    def to_dict(self) -> dict[str, object]:
        return {
            "trigger_seq": self.request.trigger_seq,
            "part_id": self.request.part_id,
            "part_id_str": self.request.part_id_str,
            "recipe_no": self.request.recipe_no,
            "result_seq": self.result_seq,
            "code": int(self.code),
            "code_name": self.code.name,
            "error_code": int(self.error_code),
            "error_name": self.error_code.name,
            "inspected": self.inspected,
            "timeout_reject": self.timeout_reject,
            "cycle_ms": round(self.cycle_ms, 3),
            "message": self.message,
        }


def record_from_result(request: TriggerRequest, result: InspectionResult, *, result_seq: int,
                       cycle_ms: float, mm_per_px: float | None = None) -> ResultRecord:
    """The record of a completed inspection. With ``mm_per_px`` (a calibrated station) the worst
    finding's position goes out in 0.1 mm and its size in 0.01 mm2, else in pixels."""
    worst = result.worst
    wx = wy = size = 0
    wclass = 0
    if worst is not None:
        cx, cy = worst.center
        scale = 10.0 * mm_per_px if mm_per_px else 1.0
        wx, wy = _u16(cx * scale), _u16(cy * scale)
        if mm_per_px and worst.area_mm2 is not None:
            size = _u16(worst.area_mm2 * 100.0)
        else:
            size = _u16(worst.area_px)
        wclass = _u16(int(worst.defect_class))
    align = result.alignment.score if result.alignment is not None else 0.0
    error = ErrorCode.NONE
    if result.code is ResultCode.NG_RUNTIME:
        error = ErrorCode.RUNTIME_ERROR
    elif result.code is ResultCode.NG_ACQUISITION:
        error = ErrorCode.CAMERA_ERROR
    return ResultRecord(
        request=request, code=result.code, result_seq=result_seq, error_code=error, inspected=True,
        result=result, defect_count=_u16(len(result.reported)), max_score=_u16(result.max_score * 1000),
        worst_class=wclass, worst_x=wx, worst_y=wy, worst_size=size, align_score=_u16(align * 1000),
        cycle_ms=cycle_ms, message=result.message,
    )


def reject_record(request: TriggerRequest, code: ResultCode, error: ErrorCode, *, result_seq: int,
                  cycle_ms: float = 0.0, message: str = "") -> ResultRecord:
    """The REJECT answer to a trigger that got no completed inspection."""
    if code is ResultCode.OK:
        raise ValueError("a reject record cannot be OK")
    return ResultRecord(request=request, code=code, result_seq=result_seq, error_code=error,
                        timeout_reject=error is ErrorCode.DEADLINE_EXCEEDED, cycle_ms=cycle_ms,
                        message=message or error.name.lower())


@dataclass(frozen=True)
class StatusImage:
    """Everything in the station status block; ``presented`` is the result shown with
    RESULT_VALID (None: no valid result; RESULT_CODE is then 0 whatever else the block holds)."""

    sts: Sts
    heartbeat: int
    state: StationState
    active_recipe: int
    presented: ResultRecord | None
    last: ResultRecord | None
    error_code: ErrorCode
    queued: int
    count_total: int
    count_ok: int
    count_ng: int
    deadline_ms: int
    ack_timeout_ms: int

    def encode(self, *, low_word_first: bool = True) -> list[int]:
        """The 27 registers HR100-126."""
        out = [0] * STN_BLOCK_LEN

        def put(reg: StnReg, value: int) -> None:
            out[reg - STN_BLOCK_START] = value & 0xFFFF

        def put32(reg: StnReg, value: int) -> None:
            a, b = u32_to_words(value, low_word_first=low_word_first)
            out[reg - STN_BLOCK_START], out[reg - STN_BLOCK_START + 1] = a, b

        sts = self.sts & ~(Sts.RESULT_VALID | Sts.PASS | Sts.REJECT | Sts.TIMEOUT_REJECT)
        rec = self.presented
        if rec is not None:
            sts |= Sts.RESULT_VALID | (Sts.PASS if rec.passed else Sts.REJECT)
            if rec.timeout_reject:
                sts |= Sts.TIMEOUT_REJECT
        put(StnReg.STS, int(sts))
        put(StnReg.STN_HEARTBEAT, self.heartbeat)
        put(StnReg.STATE, int(self.state))
        put(StnReg.ACTIVE_RECIPE, self.active_recipe)
        shown = rec if rec is not None else self.last
        if shown is not None:
            put(StnReg.RESULT_CODE, int(shown.code) if rec is not None else 0)
            put(StnReg.RESULT_SEQ, shown.result_seq)
            put(StnReg.TRIGGER_SEQ_ECHO, shown.request.trigger_seq)
            put32(StnReg.PART_ID_ECHO, shown.request.part_id)
            put(StnReg.DEFECT_COUNT, shown.defect_count)
            put(StnReg.MAX_SCORE, shown.max_score)
            put(StnReg.WORST_CLASS, shown.worst_class)
            put(StnReg.WORST_X, shown.worst_x)
            put(StnReg.WORST_Y, shown.worst_y)
            put(StnReg.WORST_SIZE, shown.worst_size)
            put(StnReg.ALIGN_SCORE, shown.align_score)
            put(StnReg.CYCLE_MS, _u16(shown.cycle_ms))
        # with a valid result: that result's error code; without: the station's last error
        put(StnReg.ERROR_CODE, int(rec.error_code if rec is not None else self.error_code))
        put(StnReg.QUEUED_RESULTS, min(self.queued, U16_MAX))
        put32(StnReg.COUNT_TOTAL, self.count_total)
        put32(StnReg.COUNT_OK, self.count_ok)
        put32(StnReg.COUNT_NG, self.count_ng)
        put(StnReg.DEADLINE_MS, self.deadline_ms)
        put(StnReg.ACK_TIMEOUT_MS, self.ack_timeout_ms)
        return out
