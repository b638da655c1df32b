"""The station state machine of the PLC contract (after OPC 40100-1), independent of any transport.

Pure and single-threaded: every method takes the monotonic time ``now`` and returns the effects the
runner must carry out (start a job, prepare a recipe, store a published result). The runner
(:mod:`inspection.plc.station`) owns the threads and the lock; transports feed the PLC's words in
through :meth:`StationMachine.apply_plc_words` or call the command methods directly.

The reported state is derived, by priority, from independent conditions: OperatorAccess > Halted >
Error > Preoperational (preparing a recipe) > Ready/SingleExecution (a recipe is prepared) >
Initialized. See docs/plc.md for the rules as the PLC sees them.
"""

from __future__ import annotations

import logging

from inspection.plc.codec import PlcWords
from inspection.plc.contract import RECIPE_MAX, REFUSAL_RESULT_CODE, Cmd, ErrorCode, StationState, Sts
from inspection.plc.job import RecipeOutcome, error_code_for
from inspection.plc.record import (
    ResultRecord,
    StatusImage,
    TriggerRequest,
    record_from_result,
    reject_record,
)
from inspection.result import InspectionResult, ResultCode
from inspection.station.result_buffer import ResultBuffer
from inspection.station.signals import Signals
from inspection.station.timing import Discarded, Effect, MachineConfig, Published, StartJob

logger = logging.getLogger(__name__)


class StationMachine(Signals):
    def __init__(self, config: MachineConfig | None = None, *, now: float,
                 mm_per_px: float | None = None) -> None:
        super().__init__(config or MachineConfig(), now=now)
        self.mm_per_px = mm_per_px
        self.buffer = ResultBuffer(self.config.buffer_depth)
        self._job: StartJob | None = None  # the job whose answer is awaited
        self._job_at = 0.0
        self._job_ids = 0
        self._late_jobs = 0  # answered by the deadline, still running in the worker
        # refused triggers that came while a job was in flight: answered right after that job, so
        # results always reach the PLC in trigger order
        self._held: list[tuple[TriggerRequest, ErrorCode]] = []
        self._prev_words = PlcWords()

    # ----------------------------------------------------------------- derived state and signals
    @property
    def worker_busy(self) -> bool:
        return self._job is not None or self._late_jobs > 0

    @property
    def state(self) -> StationState:
        base = self.base_state
        if base is StationState.READY and (self.worker_busy or len(self.buffer)):
            return StationState.SINGLE_EXECUTION
        return base

    @property
    def ready(self) -> bool:
        buffer_ok = not len(self.buffer) or (self.buffer_enable and not self.buffer.full)
        return (self.base_state is StationState.READY and self.enabled and not self.hb_lost
                and not self.worker_busy and not self.trig_ack and buffer_ok)

    def image(self) -> StatusImage:
        sts = self.flag_bits()
        if self.ready:
            sts |= Sts.READY
        if self.worker_busy:
            sts |= Sts.BUSY
        if self._job is not None and self.acq_active:
            sts |= Sts.ACQ_ACTIVE
        if self._late_jobs:
            sts |= Sts.WARNING
        return StatusImage(
            sts=sts, heartbeat=self.stn_heartbeat, state=self.state, active_recipe=self.active_recipe,
            presented=self.buffer.presented, last=self.last, error_code=self.error_code,
            queued=self.buffer.waiting, count_total=self.count_total, count_ok=self.count_ok,
            count_ng=self.count_ng, deadline_ms=self.config.deadline_ms,
            ack_timeout_ms=self.config.ack_timeout_ms,
        )

    # ----------------------------------------------------------------- the PLC's words
    def apply_plc_words(self, words: PlcWords, now: float) -> list[Effect]:
        """Apply one write of the PLC command block: levels, edges, heartbeat."""
        prev, self._prev_words = self._prev_words, words
        rose, fell = words.cmd & ~prev.cmd, prev.cmd & ~words.cmd
        out: list[Effect] = []
        self.plc_heartbeat(words.heartbeat, now)
        if (rose | fell) & Cmd.TRIGGER_ENABLE:
            self.set_enable(bool(words.cmd & Cmd.TRIGGER_ENABLE), now)
        if fell & Cmd.TRIGGER_ENABLE:
            out += self.end_plc_session("TRIGGER_ENABLE fell")
        if (rose | fell) & Cmd.BUFFER_ENABLE:
            self.buffer_enable = bool(words.cmd & Cmd.BUFFER_ENABLE)
        if (rose | fell) & Cmd.STOP:
            out += self.set_stop(bool(words.cmd & Cmd.STOP), now)
        if rose & Cmd.CLEAR_COUNTERS:
            self.clear_counters()
        if rose & Cmd.RESET_ERROR:
            self.reset_error()
        if rose & Cmd.RESULT_ACK:
            self.acknowledge(now)
        if fell & Cmd.RESULT_ACK:
            self.release_ack(now)
        if fell & Cmd.TRIGGER:
            self.release_trigger()
        if rose & Cmd.TRIGGER:
            out += self.trigger(TriggerRequest(words.trigger_seq, words.part_id, words.part_id_str,
                                               words.recipe_no), now)
        if rose & Cmd.RECIPE_REQ:
            out += self.request_recipe(words.recipe_no, now, from_plc=True)
        if fell & Cmd.RECIPE_REQ:
            self.release_recipe_req()
        return out

    # ----------------------------------------------------------------- triggers and results
    def _refusal(self, request: TriggerRequest) -> ErrorCode | None:
        base = self.base_state
        checks: tuple[tuple[bool, ErrorCode], ...] = (
            (base is StationState.OPERATOR_ACCESS, ErrorCode.OPERATOR_ACCESS),
            (base is StationState.HALTED, ErrorCode.STATION_HALTED),
            (base is StationState.ERROR, ErrorCode.STATION_ERROR),
            (base is StationState.PREOPERATIONAL, ErrorCode.STATION_STARTING),
            (base is StationState.INITIALIZED, ErrorCode.NO_RECIPE),
            (not self.enabled, ErrorCode.TRIGGER_NOT_ENABLED),
            (self.hb_lost, ErrorCode.PLC_HEARTBEAT_LOST),
            (self.worker_busy, ErrorCode.TRIGGER_WHILE_BUSY),
            (bool(len(self.buffer)) and not self.buffer_enable, ErrorCode.TRIGGER_WHILE_BUSY),
            (self.buffer_enable and self.buffer.full, ErrorCode.BUFFER_OVERRUN),
            (self.config.check_recipe_no and request.recipe_no != self.active_recipe
             and not (self.config.recipe_zero_is_active and request.recipe_no == 0),
             ErrorCode.RECIPE_MISMATCH),
        )
        return next((code for failed, code in checks if failed), None)

    def trigger(self, request: TriggerRequest, now: float) -> list[Effect]:
        """A trigger: starts the job, or answers at once with a REJECT if it cannot be served."""
        self.trig_ack = True
        refusal = self._refusal(request)
        if refusal is not None:
            logger.warning("trigger seq %d refused: %s (state %s)", request.trigger_seq,
                           refusal.name, self.state.name)
            self.missed = True
            if refusal is ErrorCode.BUFFER_OVERRUN:
                self.overrun = True
            self.error_code = refusal
            if self._job is not None:
                self._held.append((request, refusal))
                return []
            return self._publish(reject_record(request, REFUSAL_RESULT_CODE[refusal], refusal,
                                               result_seq=self.next_result_seq()), now)
        self._job_ids += 1
        self._job = StartJob(self._job_ids, request, now + self.config.deadline_ms / 1000.0)
        self._job_at = now
        self.acq_active = True
        return [self._job]

    def exposure_done(self, job_id: int) -> None:
        if self._job is not None and self._job.job_id == job_id:
            self.acq_active = False

    def job_finished(self, job_id: int, outcome: InspectionResult | BaseException | object,
                     now: float) -> list[Effect]:
        """The worker returned from job ``job_id`` (a result, or the exception it raised)."""
        job = self._job
        if job is None or job.job_id != job_id:
            self._late_jobs = max(0, self._late_jobs - 1)
            logger.info("late result of job %d discarded (the deadline already answered it)", job_id)
            return []
        if now >= job.deadline_at:  # the supervisor has not ticked yet: the deadline still wins
            return self._deadline_reject(now, still_running=False)
        self._job = None
        self.acq_active = False
        request, cycle_ms = job.request, (now - self._job_at) * 1000.0
        seq = self.next_result_seq()
        record: ResultRecord | None = None
        failure: tuple[ResultCode, ErrorCode, str] | None = None
        if isinstance(outcome, InspectionResult):
            try:
                record = record_from_result(request, outcome, result_seq=seq, cycle_ms=cycle_ms,
                                            mm_per_px=outcome.mm_per_px or self.mm_per_px)
                self._failures = 0
            except (ValueError, TypeError, OverflowError) as exc:  # not representable: never a crash
                failure = (ResultCode.NG_RUNTIME, ErrorCode.INVALID_JOB_RESULT, f"bad result: {exc}")
        elif isinstance(outcome, BaseException):
            failure = (*error_code_for(outcome), f"{type(outcome).__name__}: {outcome}")
        else:
            failure = (ResultCode.NG_RUNTIME, ErrorCode.INVALID_JOB_RESULT,
                       f"the job returned {type(outcome).__name__}, not an InspectionResult")
        if failure is not None:
            code, error, message = failure
            logger.warning("trigger seq %d: job failed: %s", request.trigger_seq, message)
            self._failures += 1
            self.error_code = error
            record = reject_record(request, code, error, result_seq=seq, cycle_ms=cycle_ms,
                                   message=message[:200])
            if self._failures >= self.config.max_consecutive_failures:
                self.enter_error(error, f"{self._failures} job failures in a row")
        assert record is not None
        return self._publish(record, now) + self._publish_held(now)

    def _deadline_reject(self, now: float, *, still_running: bool) -> list[Effect]:
        job = self._job
        assert job is not None
        self._job = None
        self.acq_active = False
        if still_running:
            self._late_jobs += 1
        logger.warning("trigger seq %d: no result %d ms after the trigger: TIMEOUT_REJECT",
                       job.request.trigger_seq, self.config.deadline_ms)
        self.error_code = ErrorCode.DEADLINE_EXCEEDED
        record = reject_record(job.request, ResultCode.NG_DEADLINE, ErrorCode.DEADLINE_EXCEEDED,
                               result_seq=self.next_result_seq(), cycle_ms=(now - self._job_at) * 1000.0)
        return self._publish(record, now) + self._publish_held(now)

    def _publish_held(self, now: float) -> list[Effect]:
        held, self._held = self._held, []
        out: list[Effect] = []
        for request, refusal in held:
            out += self._publish(reject_record(request, REFUSAL_RESULT_CODE[refusal], refusal,
                                               result_seq=self.next_result_seq()), now)
        return out

    def _publish(self, record: ResultRecord, now: float) -> list[Effect]:
        self.count(record)
        if self.buffer.add(record):
            self.overrun = True
            self.error_code = ErrorCode.BUFFER_OVERRUN
        self._present(now)
        return [Published(record)]

    def _present(self, now: float) -> None:
        if not self.ack_level and self.buffer.present() is not None:
            self.presented_at = now
            self.ack_timeout = False

    def acknowledge(self, now: float) -> None:
        """RESULT_ACK rose: the shown result leaves the outbox (RESULT_VALID falls)."""
        self.ack_level = True
        record = self.buffer.acknowledge()
        if record is None:
            logger.info("RESULT_ACK without a valid result: ignored")
            return
        self.last = record
        self.presented_at = None
        self.ack_timeout = False

    def release_ack(self, now: float) -> None:
        """RESULT_ACK fell: the next waiting result may be shown."""
        self.ack_level = False
        self._present(now)

    def end_plc_session(self, reason: str) -> list[Effect]:
        """The PLC session ended (TRIGGER_ENABLE fell, or the PLC heartbeat was lost while enabled):
        the PLC has given up on every part without a result (docs/plc.md: "reject the parts that had
        no result"). Results it has not acknowledged, refused triggers not yet answered and the part
        in work belong to that session: they are discarded (never shown to the next session, so a
        restarted PLC whose sequence counter starts over cannot read a stale PASS) and reported as
        :class:`Discarded` effects (logged, recorded). READY can come back at once."""
        dropped = self.buffer.clear()
        held, self._held = self._held, []
        for request, refusal in held:
            dropped.append(reject_record(request, REFUSAL_RESULT_CODE[refusal], refusal, result_seq=0))
        job = self._job
        if job is not None:  # the late computation runs on and is discarded when it returns
            self._job = None
            self._late_jobs += 1
            self.acq_active = False
            dropped.append(reject_record(job.request, ResultCode.NG_RUNTIME, ErrorCode.PLC_SESSION_ENDED,
                                         result_seq=0, message="part in work when the PLC session ended"))
        self.presented_at = None
        self.ack_timeout = False
        self.trig_ack = False
        if self.last is not None and dropped:
            self.last = None  # no echo of the old session's results is left in the registers
        for record in dropped:
            logger.warning("PLC session ended (%s): result of trigger seq %d (result seq %d, %s) "
                           "discarded, never shown to the PLC", reason, record.request.trigger_seq,
                           record.result_seq, record.code.name)
        return [Discarded(record, reason) for record in dropped]

    # ----------------------------------------------------------------- recipes and modes
    def request_recipe(self, recipe_no: int, now: float, *, from_plc: bool = False) -> list[Effect]:
        refusal = None
        if self.base_state is StationState.OPERATOR_ACCESS:
            refusal = ErrorCode.OPERATOR_ACCESS
        elif self.base_state is StationState.HALTED:
            refusal = ErrorCode.STATION_HALTED
        elif self.base_state is StationState.ERROR:
            refusal = ErrorCode.STATION_ERROR
        elif not 0 <= recipe_no <= RECIPE_MAX:
            refusal = ErrorCode.RECIPE_OUT_OF_RANGE
        elif self.worker_busy or self.preparing is not None:
            refusal = ErrorCode.RECIPE_WHILE_BUSY
        if refusal is not None:
            logger.warning("recipe %d refused: %s", recipe_no, refusal.name)
            self.error_code = refusal
            self.recipe_fail, self.recipe_done = from_plc, False
            return []
        return self.begin_prepare(recipe_no, from_plc=from_plc)

    def recipe_finished(self, recipe_no: int, outcome: RecipeOutcome, now: float) -> list[Effect]:
        return self.finish_prepare(recipe_no, outcome)

    def set_stop(self, on: bool, now: float) -> list[Effect]:
        return self.halt(on)

    def tick(self, now: float) -> list[Effect]:
        """Timers: station heartbeat, deadline, acknowledgement timeout, PLC heartbeat watchdog."""
        lost = self.hb_lost
        self.tick_timers(now, presented=self.buffer.presented is not None)
        out: list[Effect] = []
        if self._job is not None and now >= self._job.deadline_at:
            out += self._deadline_reject(now, still_running=True)
        if self.hb_lost and not lost:
            out += self.end_plc_session("PLC heartbeat lost")
        return out

    def next_wakeup(self) -> float:
        wake = self.next_timer()
        if self._job is not None:
            wake = min(wake, self._job.deadline_at)
        return wake

    def start(self, initial_recipe: int | None, now: float) -> list[Effect]:
        """Power-up: prepare ``initial_recipe`` (Preoperational) or wait for one (Initialized)."""
        if initial_recipe is None:
            self.preparing = None
            return []
        return self.begin_prepare(initial_recipe, from_plc=False)
