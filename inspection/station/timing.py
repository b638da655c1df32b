"""Timing and buffering configuration of the PLC-facing station, and what the state machine asks its
runner to do (effects)."""

from __future__ import annotations

from dataclasses import dataclass

from inspection.errors import ConfigError
from inspection.plc.contract import (
    ACK_TIMEOUT_MS_DEFAULT,
    DEADLINE_MS_DEFAULT,
    PLC_HEARTBEAT_TIMEOUT_MS_DEFAULT,
    STN_HEARTBEAT_PERIOD_MS,
)
from inspection.plc.record import ResultRecord, TriggerRequest


@dataclass(frozen=True)
class MachineConfig:
    """``deadline_ms``: trigger to result, else TIMEOUT_REJECT. ``ack_timeout_ms``: RESULT_VALID
    unacknowledged longer than this raises WARNING (the result stays). ``plc_heartbeat_timeout_ms``:
    PLC_HEARTBEAT unchanged this long while enabled drops READY. ``buffer_depth``: results that may
    wait with BUFFER_ENABLE. ``check_recipe_no``: a trigger whose RECIPE_NO is not ACTIVE_RECIPE is
    rejected (NG_RECIPE). ``max_consecutive_failures``: job failures in a row that put the station in
    Error. ``simulation``: the job is simulated (SIMULATION bit). ``recipe_zero_is_active``: a trigger
    with RECIPE_NO 0 means "the active recipe" (not checked against ACTIVE_RECIPE)."""

    deadline_ms: int = DEADLINE_MS_DEFAULT
    ack_timeout_ms: int = ACK_TIMEOUT_MS_DEFAULT
    plc_heartbeat_timeout_ms: int = PLC_HEARTBEAT_TIMEOUT_MS_DEFAULT
    heartbeat_period_ms: int = STN_HEARTBEAT_PERIOD_MS
    buffer_depth: int = 8
    check_recipe_no: bool = True
    max_consecutive_failures: int = 3
    simulation: bool = False
    recipe_zero_is_active: bool = True

    def __post_init__(self) -> None:
        for name in ("deadline_ms", "ack_timeout_ms", "plc_heartbeat_timeout_ms", "heartbeat_period_ms"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 1 <= value <= 0xFFFF:
                raise ConfigError(f"must be an integer in 1-65535 ms, got {value!r}", field=name)
        if not 1 <= self.buffer_depth <= 1000:
            raise ConfigError(f"must be in 1-1000, got {self.buffer_depth}", field="buffer_depth")
        if self.max_consecutive_failures < 1:
            raise ConfigError("must be >= 1", field="max_consecutive_failures")


@dataclass(frozen=True)
class StartJob:
    """Run the inspection job for ``request``; its answer is due at ``deadline_at`` (monotonic s)."""

    job_id: int
    request: TriggerRequest
    deadline_at: float


@dataclass(frozen=True)
class PrepareRecipe:
    recipe_no: int


@dataclass(frozen=True)
class Published:
    """A result record entered the outbox (for the result store, the HMI, the logs)."""

    record: ResultRecord


@dataclass(frozen=True)
class Discarded:
    """A result (or a part in work) of a PLC session that ended before the PLC acknowledged it: it
    is never shown to the PLC (a restarted PLC must not read a stale result); log and record it."""

    record: ResultRecord
    reason: str


Effect = StartJob | PrepareRecipe | Published | Discarded
