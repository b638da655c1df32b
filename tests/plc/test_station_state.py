"""The station state machine without threads or transport: every transition, every refused command.
Time is a plain number the tests advance."""

from __future__ import annotations

import pytest

from inspection.errors import CameraError, GrabTimeout
from inspection.findings import Finding
from inspection.frame import IncompleteFrame
from inspection.plc.codec import PlcWords
from inspection.plc.contract import Cmd, ErrorCode, StationState, StnReg, Sts
from inspection.plc.job import RecipeOutcome
from inspection.plc.record import ResultRecord, TriggerRequest
from inspection.result import InspectionResult, ResultCode
from inspection.station.state import StationMachine
from inspection.station.timing import MachineConfig, PrepareRecipe, Published, StartJob

OK = InspectionResult(code=ResultCode.OK)
CFG = MachineConfig(deadline_ms=100, ack_timeout_ms=500, plc_heartbeat_timeout_ms=300, buffer_depth=2)


class Rig:
    """A machine, a clock, and the effects it produced."""

    def __init__(self, config: MachineConfig = CFG, recipe: int | None = 0) -> None:
        self.t = 0.0
        self.m = StationMachine(config, now=self.t)
        self.effects: list = []
        self.words = PlcWords()
        self.seq = 0
        self.run(self.m.start(recipe, self.t))
        if recipe is not None:
            self.run(self.m.recipe_finished(recipe, RecipeOutcome(True), self.t))

    def run(self, effects):
        self.effects += effects or []
        return effects

    def at(self, dt: float) -> None:
        self.t += dt
        self.run(self.m.tick(self.t))

    def plc(self, *, set_: Cmd | None = None, clear: Cmd | None = None, **fields) -> list:
        cmd = (self.words.cmd | (set_ or 0)) & ~(clear or 0)
        self.words = PlcWords(**{**self.words.__dict__, "cmd": cmd, **fields})
        return self.run(self.m.apply_plc_words(self.words, self.t))

    def beat(self) -> None:
        self.plc(heartbeat=(self.words.heartbeat + 1) & 0xFFFF)

    def trigger(self, part: str = "", **fields) -> list:
        self.seq += 1
        self.plc(trigger_seq=self.seq, part_id_str=part, **fields)
        return self.plc(set_=Cmd.TRIGGER)

    def job(self) -> StartJob:
        jobs = [e for e in self.effects if isinstance(e, StartJob)]
        return jobs[-1]

    def published(self) -> list[ResultRecord]:
        return [e.record for e in self.effects if isinstance(e, Published)]

    def ack(self) -> None:
        self.plc(set_=Cmd.RESULT_ACK, clear=Cmd.TRIGGER)
        self.plc(clear=Cmd.RESULT_ACK)

    @property
    def sts(self) -> Sts:
        return Sts(self.m.image().encode()[0])

    def reg(self, reg: StnReg) -> int:
        return self.m.image().encode()[reg - 100]


def ready_rig(**kw) -> Rig:
    r = Rig(**kw)
    r.plc(set_=Cmd.TRIGGER_ENABLE)
    assert Sts.READY in r.sts
    return r


# ------------------------------------------------------------------------------------ start-up
def test_fresh_machine_registers_mean_no_valid_result():
    m = StationMachine(CFG, now=0.0)
    regs = m.image().encode()
    assert not regs[0] & (Sts.RESULT_VALID | Sts.PASS | Sts.READY)
    assert regs[StnReg.RESULT_CODE - 100] == 0 and regs[StnReg.RESULT_SEQ - 100] == 0


def test_start_without_recipe_is_initialized():
    r = Rig(recipe=None)
    assert r.m.state is StationState.INITIALIZED and not r.effects


def test_start_prepares_recipe_preoperational_then_ready():
    r = Rig(recipe=None)
    assert r.run(r.m.start(5, 0.0)) == [PrepareRecipe(5)]
    assert r.m.state is StationState.PREOPERATIONAL
    r.m.recipe_finished(5, RecipeOutcome(True), 0.0)
    assert r.m.state is StationState.READY and r.reg(StnReg.ACTIVE_RECIPE) == 5


def test_start_recipe_failure_is_initialized_with_error_code():
    r = Rig(recipe=None)
    r.m.start(5, 0.0)
    r.m.recipe_finished(5, RecipeOutcome(False), 0.0)
    assert r.m.state is StationState.INITIALIZED
    assert r.m.error_code is ErrorCode.RECIPE_PREPARE_FAILED


def test_ready_needs_trigger_enable():
    r = Rig()
    assert Sts.READY not in r.sts
    r.plc(set_=Cmd.TRIGGER_ENABLE)
    assert Sts.READY in r.sts
    r.plc(clear=Cmd.TRIGGER_ENABLE)
    assert Sts.READY not in r.sts


# ------------------------------------------------------------------------------------ one part
def test_one_part_step_by_step():
    r = ready_rig()
    r.trigger(part_id=77, recipe_no=0)
    job = r.job()
    assert job.request == TriggerRequest(1, 77, "", 0)
    assert {Sts.TRIG_ACK, Sts.BUSY, Sts.ACQ_ACTIVE} <= set(r.sts) and Sts.READY not in r.sts
    assert r.m.state is StationState.SINGLE_EXECUTION
    r.m.exposure_done(job.job_id)
    assert Sts.ACQ_ACTIVE not in r.sts and Sts.BUSY in r.sts
    r.t += 0.02
    r.run(r.m.job_finished(job.job_id, OK, r.t))
    assert {Sts.RESULT_VALID, Sts.PASS} <= set(r.sts) and Sts.REJECT not in r.sts
    assert Sts.BUSY not in r.sts and Sts.READY not in r.sts
    assert r.reg(StnReg.RESULT_CODE) == 1 and r.reg(StnReg.TRIGGER_SEQ_ECHO) == 1
    assert r.reg(StnReg.PART_ID_ECHO) == 77 and r.reg(StnReg.CYCLE_MS) == 20
    r.plc(set_=Cmd.RESULT_ACK, clear=Cmd.TRIGGER)
    assert not set(r.sts) & {Sts.RESULT_VALID, Sts.PASS, Sts.TRIG_ACK}
    assert r.reg(StnReg.RESULT_CODE) == 0  # no valid result: the code is 0 again
    assert Sts.READY in r.sts and r.m.state is StationState.READY
    r.plc(clear=Cmd.RESULT_ACK)
    assert (r.reg(StnReg.COUNT_TOTAL), r.reg(StnReg.COUNT_OK), r.reg(StnReg.COUNT_NG)) == (1, 1, 0)


def test_defect_result_carries_worst_finding():
    r = ready_rig()
    r.trigger()
    finding = Finding(box=(10, 20, 30, 40), score=0.8, area_px=55, defect_class=2)
    r.run(r.m.job_finished(r.job().job_id, InspectionResult(code=ResultCode.NG_DEFECT, findings=(finding,),
                                                             max_score=0.8), r.t))
    assert {Sts.RESULT_VALID, Sts.REJECT} <= set(r.sts) and Sts.PASS not in r.sts
    regs = (StnReg.RESULT_CODE, StnReg.DEFECT_COUNT, StnReg.MAX_SCORE, StnReg.WORST_CLASS,
            StnReg.WORST_X, StnReg.WORST_Y, StnReg.WORST_SIZE)
    assert [r.reg(x) for x in regs] == [2, 1, 800, 2, 20, 30, 55]


def test_result_seq_and_counters_increase_per_result():
    r = ready_rig()
    for i in range(3):
        r.trigger()
        r.run(r.m.job_finished(r.job().job_id, OK, r.t))
        assert r.reg(StnReg.RESULT_SEQ) == i + 1
        r.ack()
    r.plc(set_=Cmd.CLEAR_COUNTERS)
    assert r.reg(StnReg.COUNT_TOTAL) == 0 and r.reg(StnReg.RESULT_SEQ) == 3


# ------------------------------------------------------------------------------------ deadline
def test_deadline_rejects_at_once_and_discards_the_late_ok():
    r = ready_rig()
    r.trigger()
    job = r.job()
    assert r.m.next_wakeup() == pytest.approx(job.deadline_at)
    r.at(0.099)
    assert Sts.RESULT_VALID not in r.sts
    r.at(0.002)
    assert {Sts.RESULT_VALID, Sts.REJECT, Sts.TIMEOUT_REJECT, Sts.WARNING, Sts.BUSY} <= set(r.sts)
    assert r.reg(StnReg.RESULT_CODE) == ResultCode.NG_DEADLINE
    assert r.reg(StnReg.ERROR_CODE) == ErrorCode.DEADLINE_EXCEEDED
    r.ack()
    assert Sts.READY not in r.sts  # the late computation still holds the worker
    assert r.run(r.m.job_finished(job.job_id, OK, r.t + 0.5)) == []
    assert Sts.READY in r.sts and Sts.WARNING not in r.sts
    assert [rec.code for rec in r.published()] == [ResultCode.NG_DEADLINE]


def test_result_arriving_after_deadline_before_the_tick_is_still_a_timeout():
    r = ready_rig()
    r.trigger()
    r.t += 0.150
    r.run(r.m.job_finished(r.job().job_id, OK, r.t))
    rec = r.published()[-1]
    assert rec.timeout_reject and rec.code is ResultCode.NG_DEADLINE and not rec.passed


# ------------------------------------------------------------------------------------ job failures
@pytest.mark.parametrize(("exc", "code", "error"), [
    (GrabTimeout("no frame"), ResultCode.NG_ACQUISITION, ErrorCode.GRAB_TIMEOUT),
    (IncompleteFrame("lost packets"), ResultCode.NG_ACQUISITION, ErrorCode.INCOMPLETE_FRAME),
    (CameraError("removed"), ResultCode.NG_ACQUISITION, ErrorCode.CAMERA_ERROR),
    (RuntimeError("boom"), ResultCode.NG_RUNTIME, ErrorCode.RUNTIME_ERROR),
    ("not a result", ResultCode.NG_RUNTIME, ErrorCode.INVALID_JOB_RESULT),
])
def test_job_failures_become_rejects(exc, code, error):
    r = ready_rig()
    r.trigger()
    r.run(r.m.job_finished(r.job().job_id, exc, r.t))
    rec = r.published()[-1]
    assert rec.code is code and rec.error_code is error and not rec.inspected
    assert Sts.REJECT in r.sts and r.reg(StnReg.ERROR_CODE) == error


def test_consecutive_failures_enter_error_and_reset_error_leaves_it():
    r = ready_rig()
    for _ in range(CFG.max_consecutive_failures):
        r.trigger()
        r.run(r.m.job_finished(r.job().job_id, GrabTimeout("x"), r.t))
        r.ack()
    assert r.m.state is StationState.ERROR and Sts.ERROR in r.sts and Sts.READY not in r.sts
    r.plc(set_=Cmd.RESET_ERROR)
    assert r.m.state is StationState.READY and Sts.ERROR not in r.sts and Sts.READY in r.sts
    assert r.reg(StnReg.ERROR_CODE) == 0


def test_a_good_result_resets_the_failure_count():
    r = ready_rig()
    for outcome in (GrabTimeout("x"), GrabTimeout("x"), OK, GrabTimeout("x"), GrabTimeout("x")):
        r.trigger()
        r.run(r.m.job_finished(r.job().job_id, outcome, r.t))
        r.ack()
    assert r.m.state is StationState.READY


def test_fault_from_the_runtime_enters_error():
    r = ready_rig()
    r.m.enter_error(ErrorCode.CAMERA_ERROR, "camera removed")
    assert r.m.state is StationState.ERROR and r.reg(StnReg.ERROR_CODE) == ErrorCode.CAMERA_ERROR


# ------------------------------------------------------------------------------------ refused triggers
def _operator(r):
    r.m.set_operator_access(True)


def _halted(r):
    r.plc(set_=Cmd.STOP)


def _error(r):
    r.m.enter_error(ErrorCode.CAMERA_ERROR, "x")


def _preparing(r):
    r.plc(recipe_no=3)
    r.plc(set_=Cmd.RECIPE_REQ)


def _initialized(r):
    r.plc(recipe_no=3)
    r.plc(set_=Cmd.RECIPE_REQ)
    r.m.recipe_finished(3, RecipeOutcome(False), r.t)
    r.plc(clear=Cmd.RECIPE_REQ, recipe_no=0)


def _not_enabled(r):
    r.plc(clear=Cmd.TRIGGER_ENABLE)


def _heartbeat_lost(r):
    r.at(0.31)


def _result_waiting(r):
    r.trigger()
    r.run(r.m.job_finished(r.job().job_id, OK, r.t))
    r.plc(clear=Cmd.TRIGGER)


def _buffer_full(r):
    r.plc(set_=Cmd.BUFFER_ENABLE)
    for _ in range(CFG.buffer_depth):
        r.trigger()
        r.run(r.m.job_finished(r.job().job_id, OK, r.t))
        r.plc(clear=Cmd.TRIGGER)


@pytest.mark.parametrize(("setup", "code", "error"), [
    (_operator, ResultCode.NG_ACQUISITION, ErrorCode.OPERATOR_ACCESS),
    (_halted, ResultCode.NG_ACQUISITION, ErrorCode.STATION_HALTED),
    (_error, ResultCode.NG_RUNTIME, ErrorCode.STATION_ERROR),
    (_preparing, ResultCode.NG_RECIPE, ErrorCode.STATION_STARTING),
    (_initialized, ResultCode.NG_RECIPE, ErrorCode.NO_RECIPE),
    (_not_enabled, ResultCode.NG_ACQUISITION, ErrorCode.TRIGGER_NOT_ENABLED),
    (_heartbeat_lost, ResultCode.NG_ACQUISITION, ErrorCode.PLC_HEARTBEAT_LOST),
    (_result_waiting, ResultCode.NG_ACQUISITION, ErrorCode.TRIGGER_WHILE_BUSY),
    (_buffer_full, ResultCode.NG_ACQUISITION, ErrorCode.BUFFER_OVERRUN),
    (lambda r: None, ResultCode.NG_RECIPE, ErrorCode.RECIPE_MISMATCH),
])
def test_refused_trigger_gets_exactly_one_reject(setup, code, error):
    r = ready_rig()
    setup(r)
    before = len(r.published())
    effects = r.trigger(recipe_no=5 if error is ErrorCode.RECIPE_MISMATCH else 0)
    assert not [e for e in effects if isinstance(e, StartJob)]
    new = r.published()[before:]
    assert len(new) == 1
    assert (new[0].code, new[0].error_code, new[0].passed) == (code, error, False)
    assert new[0].request.trigger_seq == r.seq
    assert Sts.MISSED_TRIGGER in r.sts and Sts.TRIG_ACK in r.sts
    r.plc(set_=Cmd.RESET_ERROR)
    if setup is not _operator:
        assert Sts.MISSED_TRIGGER not in r.sts


def test_trigger_while_busy_is_answered_after_the_part_in_work():
    r = ready_rig()
    r.trigger()
    job = r.job()
    r.plc(clear=Cmd.TRIGGER)
    r.trigger()
    assert r.published() == []  # held until the part in work is answered
    r.run(r.m.job_finished(job.job_id, OK, r.t))
    assert [(p.request.trigger_seq, p.code, p.result_seq) for p in r.published()] == [
        (1, ResultCode.OK, 1), (2, ResultCode.NG_ACQUISITION, 2)]
    assert r.reg(StnReg.TRIGGER_SEQ_ECHO) == 1 and r.reg(StnReg.QUEUED_RESULTS) == 1
    r.ack()
    assert r.reg(StnReg.TRIGGER_SEQ_ECHO) == 2 and Sts.REJECT in r.sts


# ------------------------------------------------------------------------------------ buffering
def test_buffer_enable_inspects_while_results_wait_and_shows_them_in_order():
    r = ready_rig()
    r.plc(set_=Cmd.BUFFER_ENABLE)
    for _ in range(2):
        r.trigger()
        r.run(r.m.job_finished(r.job().job_id, OK, r.t))
        r.plc(clear=Cmd.TRIGGER)
    assert r.reg(StnReg.QUEUED_RESULTS) == 1 and Sts.READY not in r.sts  # depth 2 reached
    r.trigger()  # overrun: refused, still answered
    assert Sts.BUFFER_OVERRUN in r.sts
    echoes = []
    for _ in range(3):
        echoes.append(r.reg(StnReg.TRIGGER_SEQ_ECHO))
        r.ack()
    assert echoes == [1, 2, 3] and Sts.RESULT_VALID not in r.sts


def test_without_buffer_a_waiting_result_blocks_ready():
    r = ready_rig()
    r.trigger()
    r.run(r.m.job_finished(r.job().job_id, OK, r.t))
    r.plc(clear=Cmd.TRIGGER)
    assert Sts.READY not in r.sts


def test_result_is_not_shown_while_result_ack_is_still_high():
    r = ready_rig()
    r.plc(set_=Cmd.RESULT_ACK)  # a sloppy PLC holding RESULT_ACK
    r.trigger()
    r.run(r.m.job_finished(r.job().job_id, OK, r.t))
    assert Sts.RESULT_VALID not in r.sts
    r.plc(clear=Cmd.RESULT_ACK)
    assert Sts.RESULT_VALID in r.sts


def test_result_ack_without_result_is_ignored():
    r = ready_rig()
    r.ack()
    assert Sts.READY in r.sts and r.published() == []


# ------------------------------------------------------------------------- heartbeats and ack timeout
def test_station_heartbeat_counts_every_period():
    r = ready_rig()
    for _ in range(5):
        r.at(0.1)
        r.beat()
    assert r.reg(StnReg.STN_HEARTBEAT) == 5


def test_plc_heartbeat_loss_drops_ready_and_recovers():
    r = ready_rig()
    r.at(0.2)
    r.beat()
    r.at(0.2)
    assert Sts.READY in r.sts
    r.at(0.11)
    assert Sts.READY not in r.sts and Sts.WARNING in r.sts
    assert r.reg(StnReg.ERROR_CODE) == ErrorCode.PLC_HEARTBEAT_LOST
    r.beat()
    assert Sts.READY in r.sts and Sts.WARNING not in r.sts


def test_heartbeat_not_watched_while_disabled():
    r = Rig()
    r.at(5.0)
    assert Sts.WARNING not in r.sts
    r.plc(set_=Cmd.TRIGGER_ENABLE)
    assert Sts.READY in r.sts


def test_unacknowledged_result_raises_warning_and_stays():
    r = ready_rig()
    r.trigger()
    r.run(r.m.job_finished(r.job().job_id, OK, r.t))
    for _ in range(6):
        r.at(0.1)
        r.beat()
    assert {Sts.WARNING, Sts.RESULT_VALID, Sts.PASS} <= set(r.sts)
    assert r.reg(StnReg.ERROR_CODE) == 0  # the shown result's own error code
    r.ack()
    assert Sts.WARNING not in r.sts and r.m.error_code is ErrorCode.ACK_TIMEOUT


# ------------------------------------------------------------------------------------ recipes
def test_recipe_change_done_then_released():
    r = ready_rig()
    r.plc(recipe_no=7)
    assert r.plc(set_=Cmd.RECIPE_REQ) == [PrepareRecipe(7)]
    assert r.m.state is StationState.PREOPERATIONAL and Sts.READY not in r.sts
    r.m.recipe_finished(7, RecipeOutcome(True), r.t)
    assert Sts.RECIPE_DONE in r.sts and r.reg(StnReg.ACTIVE_RECIPE) == 7 and Sts.READY in r.sts
    r.plc(clear=Cmd.RECIPE_REQ)
    assert Sts.RECIPE_DONE not in r.sts


def test_recipe_failure_leaves_no_recipe_prepared():
    r = ready_rig()
    r.plc(recipe_no=7)
    r.plc(set_=Cmd.RECIPE_REQ)
    r.m.recipe_finished(7, RecipeOutcome(False, ErrorCode.RECIPE_PREPARE_FAILED, "no reference"), r.t)
    assert Sts.RECIPE_FAIL in r.sts and r.m.state is StationState.INITIALIZED
    assert r.reg(StnReg.ERROR_CODE) == ErrorCode.RECIPE_PREPARE_FAILED
    r.plc(clear=Cmd.RECIPE_REQ)
    assert Sts.RECIPE_FAIL not in r.sts


def test_stale_recipe_completion_is_ignored():
    r = ready_rig()
    r.m.recipe_finished(9, RecipeOutcome(True), r.t)
    assert r.reg(StnReg.ACTIVE_RECIPE) == 0


@pytest.mark.parametrize(("setup", "recipe", "error"), [
    (_operator, 3, ErrorCode.OPERATOR_ACCESS),
    (_halted, 3, ErrorCode.STATION_HALTED),
    (_error, 3, ErrorCode.STATION_ERROR),
    (lambda r: r.trigger(), 3, ErrorCode.RECIPE_WHILE_BUSY),
    (_preparing, 4, ErrorCode.RECIPE_WHILE_BUSY),
])
def test_refused_recipe_request(setup, recipe, error):
    r = ready_rig()
    setup(r)
    r.plc(clear=Cmd.RECIPE_REQ, recipe_no=recipe)
    before = len([e for e in r.effects if isinstance(e, PrepareRecipe)])
    r.plc(set_=Cmd.RECIPE_REQ)
    assert len([e for e in r.effects if isinstance(e, PrepareRecipe)]) == before
    assert Sts.RECIPE_FAIL in r.sts and r.m.error_code is error


def test_out_of_range_recipe_refused_by_direct_command():
    r = ready_rig()
    assert r.m.request_recipe(1000, r.t) == []
    assert r.m.error_code is ErrorCode.RECIPE_OUT_OF_RANGE


# ------------------------------------------------------------------------------------ stop, operator access
def test_stop_halts_and_release_prepares_the_recipe_again():
    r = ready_rig()
    r.plc(set_=Cmd.STOP)
    assert r.m.state is StationState.HALTED and Sts.READY not in r.sts
    assert r.plc(clear=Cmd.STOP) == [PrepareRecipe(0)]
    assert r.m.state is StationState.PREOPERATIONAL
    r.m.recipe_finished(0, RecipeOutcome(True), r.t)
    assert r.m.state is StationState.READY


def test_stop_during_a_part_still_answers_it():
    r = ready_rig()
    r.trigger()
    r.plc(set_=Cmd.STOP)
    r.run(r.m.job_finished(r.job().job_id, OK, r.t))
    assert r.published()[-1].passed and r.m.state is StationState.HALTED


def test_operator_access_refuses_plc_commands_and_gives_back():
    r = ready_rig()
    r.m.set_operator_access(True)
    assert r.m.state is StationState.OPERATOR_ACCESS and Sts.OPERATOR_MODE in r.sts
    r.m.count_total = 5
    r.plc(set_=Cmd.CLEAR_COUNTERS | Cmd.RESET_ERROR | Cmd.STOP)
    assert r.m.count_total == 5 and not r.m.halted and r.m.error_code is ErrorCode.OPERATOR_ACCESS
    r.plc(clear=Cmd.CLEAR_COUNTERS | Cmd.RESET_ERROR | Cmd.STOP)
    r.m.set_operator_access(False)
    assert r.m.state is StationState.READY and Sts.OPERATOR_MODE not in r.sts


def test_simulation_bit_follows_config():
    assert Sts.SIMULATION in Rig(MachineConfig(simulation=True)).sts
    assert Sts.SIMULATION not in Rig().sts


# ------------------------------------------------------------------------------------ invariants
def test_ok_record_needs_a_completed_ok_inspection():
    req = TriggerRequest(1)
    with pytest.raises(ValueError):
        ResultRecord(request=req, code=ResultCode.OK, result_seq=1)
    with pytest.raises(ValueError):
        ResultRecord(request=req, code=ResultCode.OK, result_seq=1, inspected=True, result=OK,
                     timeout_reject=True)
    with pytest.raises(ValueError):
        ResultRecord(request=req, code=ResultCode.NONE, result_seq=1)
    assert ResultRecord(request=req, code=ResultCode.OK, result_seq=1, inspected=True, result=OK).passed


def test_config_rejects_out_of_range_values():
    from inspection.errors import ConfigError

    with pytest.raises(ConfigError):
        MachineConfig(deadline_ms=0)
    with pytest.raises(ConfigError):
        MachineConfig(buffer_depth=0)


def test_stop_during_recipe_preparation_prepares_again_after_release():
    r = ready_rig()
    r.plc(recipe_no=4)
    r.plc(set_=Cmd.RECIPE_REQ)
    r.plc(set_=Cmd.STOP)
    r.m.recipe_finished(4, RecipeOutcome(True), r.t)
    assert r.m.state is StationState.HALTED
    assert r.plc(clear=Cmd.STOP) == [PrepareRecipe(4)]


def test_error_survives_a_stop_and_needs_reset():
    r = ready_rig()
    r.m.enter_error(ErrorCode.CAMERA_ERROR, "x")
    r.plc(set_=Cmd.STOP)
    assert r.m.state is StationState.HALTED
    r.plc(clear=Cmd.STOP)
    r.m.recipe_finished(0, RecipeOutcome(True), r.t)
    assert r.m.state is StationState.ERROR
    r.plc(set_=Cmd.RESET_ERROR)
    assert r.m.state is StationState.READY


def test_operator_access_remembers_nothing_but_its_own_flag():
    r = ready_rig()
    r.m.enter_error(ErrorCode.CAMERA_ERROR, "x")
    r.m.set_operator_access(True)
    r.plc(set_=Cmd.RESET_ERROR)  # refused
    r.m.set_operator_access(False)
    assert r.m.state is StationState.ERROR


def test_exposure_done_of_an_old_job_is_ignored():
    r = ready_rig()
    r.trigger()
    r.m.exposure_done(r.job().job_id + 1)
    assert Sts.ACQ_ACTIVE in r.sts


def test_result_the_contract_cannot_carry_is_a_runtime_reject():
    r = ready_rig()
    r.trigger()
    odd = InspectionResult(code=ResultCode.NG_DEFECT, max_score=float("nan"))
    r.run(r.m.job_finished(r.job().job_id, odd, r.t))
    rec = r.published()[-1]
    assert rec.code is ResultCode.NG_RUNTIME and rec.error_code is ErrorCode.INVALID_JOB_RESULT
