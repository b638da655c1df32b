"""Modes, latches, heartbeats and counters of the station state machine (the part of it that does not
deal with triggers and results; see :mod:`inspection.station.state`)."""

from __future__ import annotations

import logging

from inspection.plc.contract import ErrorCode, StationState, Sts
from inspection.plc.job import RecipeOutcome
from inspection.plc.record import ResultRecord
from inspection.station.timing import Effect, MachineConfig, PrepareRecipe

logger = logging.getLogger(__name__)


class Signals:
    def __init__(self, config: MachineConfig, *, now: float) -> None:
        self.config = config
        # modes (the state is derived from these by priority)
        self.operator = False
        self.halted = False
        self.error = False
        self.preparing: int | None = None
        self.recipe_ready = False
        self.active_recipe = 0
        self._prepare_for_plc = False
        self._halt_recipe: int | None = None
        # PLC levels and handshake bits
        self.enabled = False
        self.buffer_enable = False
        self.trig_ack = False
        self.ack_level = False
        self.acq_active = False
        self.recipe_req_level = False
        self.recipe_done = False
        self.recipe_fail = False
        # latches and warnings
        self.missed = False
        self.overrun = False
        self.hb_lost = False
        self.process_alarm = False  # a process alarm of the station (rejects in a row, yield): WARNING
        self.ack_timeout = False
        self.error_code = ErrorCode.NONE
        # heartbeats, timers, counters
        self.stn_heartbeat = 0
        self._next_hb = now + config.heartbeat_period_ms / 1000.0
        self._plc_hb: int | None = None
        self._plc_hb_at = now
        self.presented_at: float | None = None
        self.result_seq = 0
        self.last: ResultRecord | None = None
        self.count_total = self.count_ok = self.count_ng = 0
        self._failures = 0  # job failures in a row

    @property
    def base_state(self) -> StationState:
        if self.operator:
            return StationState.OPERATOR_ACCESS
        if self.halted:
            return StationState.HALTED
        if self.error:
            return StationState.ERROR
        if self.preparing is not None:
            return StationState.PREOPERATIONAL
        return StationState.READY if self.recipe_ready else StationState.INITIALIZED

    def flag_bits(self) -> Sts:
        sts = Sts(0)
        for on, bit in ((self.trig_ack, Sts.TRIG_ACK), (self.error, Sts.ERROR),
                        (self.hb_lost or self.ack_timeout or self.process_alarm, Sts.WARNING),
                        (self.missed, Sts.MISSED_TRIGGER),
                        (self.recipe_done, Sts.RECIPE_DONE), (self.recipe_fail, Sts.RECIPE_FAIL),
                        (self.overrun, Sts.BUFFER_OVERRUN), (self.config.simulation, Sts.SIMULATION),
                        (self.operator, Sts.OPERATOR_MODE)):
            if on:
                sts |= bit
        return sts

    # ----------------------------------------------------------------- levels
    def set_enable(self, on: bool, now: float) -> None:
        if on and not self.enabled:
            self._plc_hb_at = now  # the heartbeat watchdog starts counting at enable
        self.enabled = on

    def plc_heartbeat_age_s(self, now: float) -> float | None:
        """Seconds since PLC_HEARTBEAT last changed; None before the PLC has written one."""
        return None if self._plc_hb is None else now - self._plc_hb_at

    def plc_heartbeat(self, value: int, now: float) -> None:
        if value == self._plc_hb:
            return
        self._plc_hb, self._plc_hb_at = value, now
        if self.hb_lost:
            logger.warning("PLC heartbeat back")
            self.hb_lost = False

    def release_trigger(self) -> None:
        self.trig_ack = False

    def release_recipe_req(self) -> None:
        self.recipe_done = self.recipe_fail = False

    # ----------------------------------------------------------------- commands
    def _refused_in_operator_access(self, what: str) -> bool:
        if self.operator:
            logger.warning("%s refused: an operator holds control", what)
            self.error_code = ErrorCode.OPERATOR_ACCESS
            return True
        return False

    def clear_counters(self) -> None:
        if not self._refused_in_operator_access("CLEAR_COUNTERS"):
            self.count_total = self.count_ok = self.count_ng = 0

    def reset_error(self) -> None:
        """RESET_ERROR: leaves Error and clears the latches (MISSED_TRIGGER, BUFFER_OVERRUN, ERROR_CODE)."""
        if self._refused_in_operator_access("RESET_ERROR"):
            return
        self.error = False
        self.missed = self.overrun = False
        self.error_code = ErrorCode.NONE
        self._failures = 0

    def enter_error(self, code: ErrorCode, reason: str) -> None:
        """A fault that needs RESET_ERROR (the runtime calls this too, e.g. camera removed)."""
        logger.error("station error: %s (%s)", reason, code.name)
        self.error = True
        self.error_code = code

    def set_operator_access(self, on: bool) -> None:
        """An HMI user takes (True) or gives back (False) control; PLC commands are refused meanwhile."""
        self.operator = on

    def halt(self, on: bool) -> list[Effect]:
        """STOP: Halted while held (resources may be released); leaving re-prepares the recipe."""
        if self._refused_in_operator_access("STOP"):
            return []
        if on and not self.halted:
            self.halted = True
            self._halt_recipe = self.active_recipe if self.recipe_ready else None
            self.recipe_ready = False
            return []
        if not on and self.halted:
            self.halted = False
            if self._halt_recipe is not None and self.preparing is None:
                return self.begin_prepare(self._halt_recipe, from_plc=False)
        return []

    def begin_prepare(self, recipe_no: int, *, from_plc: bool) -> list[Effect]:
        self.preparing = recipe_no
        self.recipe_ready = False
        self._prepare_for_plc = from_plc
        self.recipe_done = self.recipe_fail = False
        return [PrepareRecipe(recipe_no)]

    def finish_prepare(self, recipe_no: int, outcome: RecipeOutcome) -> list[Effect]:
        if self.preparing != recipe_no:
            logger.warning("recipe %d preparation finished but %s was expected: ignored", recipe_no,
                           self.preparing)
            return []
        self.preparing = None
        if outcome.ok:
            self.active_recipe, self.recipe_ready = recipe_no, True
            logger.info("recipe %d prepared", recipe_no)
        else:
            self.recipe_ready = False
            self.error_code = outcome.error_code if outcome.error_code else ErrorCode.RECIPE_PREPARE_FAILED
            logger.warning("recipe %d failed: %s %s", recipe_no, self.error_code.name, outcome.message)
        if self._prepare_for_plc:
            self.recipe_done, self.recipe_fail = outcome.ok, not outcome.ok
        if self.halted:  # stopped while preparing: prepare again when STOP falls
            self._halt_recipe, self.recipe_ready = (recipe_no if outcome.ok else None), False
        return []

    # ----------------------------------------------------------------- timers and counters
    def tick_timers(self, now: float, *, presented: bool) -> None:
        period = self.config.heartbeat_period_ms / 1000.0
        if now >= self._next_hb:
            self.stn_heartbeat = (self.stn_heartbeat + 1) & 0xFFFF
            self._next_hb += period
            if self._next_hb <= now:  # fell behind (suspended machine): resynchronise
                self._next_hb = now + period
        if (presented and self.presented_at is not None and not self.ack_timeout
                and now - self.presented_at >= self.config.ack_timeout_ms / 1000.0):
            logger.warning("result not acknowledged within %d ms", self.config.ack_timeout_ms)
            self.ack_timeout = True
            self.error_code = ErrorCode.ACK_TIMEOUT
        if (self.enabled and not self.hb_lost
                and now - self._plc_hb_at >= self.config.plc_heartbeat_timeout_ms / 1000.0):
            logger.warning("PLC heartbeat lost (unchanged for %d ms): READY dropped",
                           self.config.plc_heartbeat_timeout_ms)
            self.hb_lost = True
            self.error_code = ErrorCode.PLC_HEARTBEAT_LOST

    def next_timer(self) -> float:
        wake = self._next_hb
        if self.presented_at is not None and not self.ack_timeout:
            wake = min(wake, self.presented_at + self.config.ack_timeout_ms / 1000.0)
        if self.enabled and not self.hb_lost:
            wake = min(wake, self._plc_hb_at + self.config.plc_heartbeat_timeout_ms / 1000.0)
        return wake

    def next_result_seq(self) -> int:
        self.result_seq = self.result_seq % 0xFFFF + 1  # 1..65535: RESULT_SEQ 0 means "none yet"
        return self.result_seq

    def count(self, record: ResultRecord) -> None:
        self.count_total += 1
        if record.passed:
            self.count_ok += 1
        else:
            self.count_ng += 1
