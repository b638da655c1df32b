"""The PLC contract as data: register map, command and status bits, state codes, error codes.

Transport independent: the Modbus TCP bridge maps these onto holding registers, an OPC UA or S7
bridge maps the same names onto its own variables. Addresses are 0-based offsets before the bridge's
configurable address offset. See docs/plc.md for the PLC programmer's view of the same map.

Result codes (RESULT_CODE) are :class:`inspection.result.ResultCode`; defect class codes
(WORST_CLASS) are :class:`inspection.findings.DefectClass`.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

from inspection.findings import DefectClass
from inspection.result import ResultCode

__all__ = [
    "ACK_TIMEOUT_MS_DEFAULT",
    "CMD_RESERVED_MASK",
    "DEADLINE_MS_DEFAULT",
    "PLC_BLOCK_LEN",
    "PLC_BLOCK_START",
    "PLC_HEARTBEAT_TIMEOUT_MS_DEFAULT",
    "RECIPE_MAX",
    "STN_BLOCK_LEN",
    "STN_BLOCK_START",
    "STN_HEARTBEAT_PERIOD_MS",
    "Cmd",
    "DefectClass",
    "ErrorCode",
    "PlcReg",
    "ResultCode",
    "StationState",
    "StnReg",
    "Sts",
]


class StationState(IntEnum):
    """State codes on the wire (STATE), after OPC 40100-1 (OPC UA Machine Vision)."""

    PREOPERATIONAL = 1  # starting, or preparing a recipe
    HALTED = 2  # resources released, safe to power off (STOP held)
    ERROR = 3  # needs RESET_ERROR
    INITIALIZED = 5  # no recipe prepared
    READY = 6  # recipe prepared, accepts a trigger
    SINGLE_EXECUTION = 7  # one part in work (or its result waits for RESULT_ACK)
    CONTINUOUS_EXECUTION = 8  # reserved: not used by this station
    OPERATOR_ACCESS = 9  # an HMI user holds control; PLC commands are refused


class Cmd(IntFlag):
    """CMD bits (HR 0), written by the PLC. Bits 8-15 are reserved and must be 0."""

    TRIGGER_ENABLE = 1 << 0  # level
    TRIGGER = 1 << 1  # rising edge; hold until TRIG_ACK
    RESULT_ACK = 1 << 2  # after copying the result; hold until RESULT_VALID=0
    RESET_ERROR = 1 << 3  # rising edge
    RECIPE_REQ = 1 << 4  # rising edge; hold until RECIPE_DONE or RECIPE_FAIL
    STOP = 1 << 5  # level: Halted while set
    CLEAR_COUNTERS = 1 << 6  # rising edge
    BUFFER_ENABLE = 1 << 7  # level: queue results instead of refusing triggers while one waits


CMD_RESERVED_MASK = 0xFF00


class Sts(IntFlag):
    """STS bits (HR 100), written by the station."""

    READY = 1 << 0
    TRIG_ACK = 1 << 1
    BUSY = 1 << 2
    ACQ_ACTIVE = 1 << 3  # falling edge: exposure done, the part may move
    RESULT_VALID = 1 << 4
    PASS = 1 << 5
    REJECT = 1 << 6
    ERROR = 1 << 7
    WARNING = 1 << 8
    MISSED_TRIGGER = 1 << 9  # latched until RESET_ERROR
    RECIPE_DONE = 1 << 10
    RECIPE_FAIL = 1 << 11
    BUFFER_OVERRUN = 1 << 12  # latched until RESET_ERROR
    TIMEOUT_REJECT = 1 << 13
    SIMULATION = 1 << 14
    OPERATOR_MODE = 1 << 15


class PlcReg(IntEnum):
    """PLC -> station registers (0-based, before the bridge's address offset)."""

    CMD = 0
    PLC_HEARTBEAT = 1
    RECIPE_NO = 2
    PART_ID = 3  # u32: 3-4
    PART_ID_STR = 5  # 8 registers, 16 ASCII chars: 5-12
    TRIGGER_SEQ = 13


PLC_BLOCK_START = 0
PLC_BLOCK_LEN = 14
PART_ID_STR_WORDS = 8


class StnReg(IntEnum):
    """Station -> PLC registers (0-based, before the bridge's address offset)."""

    STS = 100
    STN_HEARTBEAT = 101
    STATE = 102
    ACTIVE_RECIPE = 103
    RESULT_CODE = 104
    RESULT_SEQ = 105
    TRIGGER_SEQ_ECHO = 106
    PART_ID_ECHO = 107  # u32: 107-108
    DEFECT_COUNT = 109
    MAX_SCORE = 110  # x1000, 500 = threshold
    WORST_CLASS = 111  # DefectClass code
    WORST_X = 112
    WORST_Y = 113
    WORST_SIZE = 114
    ALIGN_SCORE = 115  # x1000
    CYCLE_MS = 116
    ERROR_CODE = 117
    QUEUED_RESULTS = 118
    COUNT_TOTAL = 119  # u32: 119-120
    COUNT_OK = 121  # u32: 121-122
    COUNT_NG = 123  # u32: 123-124
    DEADLINE_MS = 125
    ACK_TIMEOUT_MS = 126


STN_BLOCK_START = 100
STN_BLOCK_LEN = 27
# The result block: everything after the four header words, written before RESULT_VALID.
RESULT_BLOCK_START = StnReg.RESULT_CODE

RECIPE_MAX = 999
DEADLINE_MS_DEFAULT = 500
ACK_TIMEOUT_MS_DEFAULT = 2000
PLC_HEARTBEAT_TIMEOUT_MS_DEFAULT = 500
STN_HEARTBEAT_PERIOD_MS = 100


class ErrorCode(IntEnum):
    """ERROR_CODE (HR 117): the last error, 0 none. Stable numbers, documented in docs/plc.md."""

    NONE = 0
    TRIGGER_NOT_ENABLED = 1  # trigger while TRIGGER_ENABLE=0
    TRIGGER_WHILE_BUSY = 2  # trigger while an inspection runs or a result waits (missed trigger)
    NO_RECIPE = 3  # trigger while no recipe is prepared (Initialized, Preoperational)
    RECIPE_MISMATCH = 4  # RECIPE_NO at the trigger differs from ACTIVE_RECIPE
    DEADLINE_EXCEEDED = 5  # no result DEADLINE_MS after the trigger
    GRAB_TIMEOUT = 6  # camera delivered no frame in time
    INCOMPLETE_FRAME = 7  # camera delivered a partial frame
    CAMERA_ERROR = 8  # any other camera failure
    RUNTIME_ERROR = 9  # alignment/detector/pipeline raised
    STATION_ERROR = 10  # trigger while in Error
    STATION_HALTED = 11  # trigger or command while Halted
    OPERATOR_ACCESS = 12  # PLC command while an operator holds control
    PLC_HEARTBEAT_LOST = 13  # PLC_HEARTBEAT unchanged for the heartbeat timeout while enabled
    ACK_TIMEOUT = 14  # RESULT_VALID not acknowledged within ACK_TIMEOUT_MS
    BUFFER_OVERRUN = 15  # more results waiting than the buffer depth
    RECIPE_OUT_OF_RANGE = 16  # RECIPE_NO outside 0-999
    RECIPE_PREPARE_FAILED = 17  # the recipe could not be prepared
    RECIPE_WHILE_BUSY = 18  # RECIPE_REQ while a part is in work or a result waits
    MALFORMED_WRITE = 19  # a PLC write was refused (reserved bits, bad value, wrong block)
    INVALID_JOB_RESULT = 20  # the inspection job returned something that is not a result
    STATION_STARTING = 21  # trigger while the station starts
    PLC_SESSION_ENDED = 22  # stored only: a result discarded because its PLC session ended


# Result codes of triggers the station refuses, and of job failures, by error code.
REFUSAL_RESULT_CODE: dict[ErrorCode, ResultCode] = {
    ErrorCode.TRIGGER_NOT_ENABLED: ResultCode.NG_ACQUISITION,
    ErrorCode.TRIGGER_WHILE_BUSY: ResultCode.NG_ACQUISITION,
    ErrorCode.NO_RECIPE: ResultCode.NG_RECIPE,
    ErrorCode.RECIPE_MISMATCH: ResultCode.NG_RECIPE,
    ErrorCode.STATION_ERROR: ResultCode.NG_RUNTIME,
    ErrorCode.STATION_HALTED: ResultCode.NG_ACQUISITION,
    ErrorCode.OPERATOR_ACCESS: ResultCode.NG_ACQUISITION,
    ErrorCode.PLC_HEARTBEAT_LOST: ResultCode.NG_ACQUISITION,
    ErrorCode.BUFFER_OVERRUN: ResultCode.NG_ACQUISITION,
    ErrorCode.STATION_STARTING: ResultCode.NG_RECIPE,
}
