"""What the station state machine runs for one trigger, and for one recipe change.

The station runtime hands the state machine an :class:`InspectionJob`: a callable that does acquire
-> align -> detect -> decide for one trigger and returns an :class:`InspectionResult`. It calls
``exposure_done()`` as soon as the frame is in (ACQ_ACTIVE falls, the part may move). It runs in a
worker thread; the deadline is enforced around it, so a slow or hung job never delays the answer.
Exceptions it raises become REJECT results (camera errors: NG_ACQUISITION; anything else:
NG_RUNTIME), never a crash.

Two jobs for tests, the benchmark and the conformance suite live here too: :class:`FixedTimeJob`
(always the same verdict after a fixed time) and :class:`ScriptedJob`, whose behaviour the PLC
chooses per part through PART_ID_STR (so a conformance run against a station address can exercise
slow detectors and camera failures).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from inspection.errors import CameraError, GrabTimeout, ImageError, InspectionError
from inspection.findings import DefectClass, Finding
from inspection.frame import IncompleteFrame
from inspection.plc.contract import RECIPE_MAX, ErrorCode
from inspection.plc.record import TriggerRequest
from inspection.result import InspectionResult, ResultCode


class InspectionJob(Protocol):
    """acquire -> align -> detect -> decide for one trigger."""

    def __call__(self, request: TriggerRequest, exposure_done: Callable[[], None]) -> InspectionResult:
        ...


@dataclass(frozen=True)
class RecipeOutcome:
    ok: bool
    error_code: ErrorCode = ErrorCode.NONE
    message: str = ""


class RecipePreparer(Protocol):
    """Loads/prepares recipe ``recipe_no`` (reference, thresholds, models) before triggers use it."""

    def __call__(self, recipe_no: int) -> RecipeOutcome:
        ...


def accept_any_recipe(recipe_no: int) -> RecipeOutcome:
    """A preparer for stations without recipes: every number in range is accepted."""
    if not 0 <= recipe_no <= RECIPE_MAX:
        return RecipeOutcome(False, ErrorCode.RECIPE_OUT_OF_RANGE, f"recipe {recipe_no} out of range")
    return RecipeOutcome(True)


def error_code_for(exc: BaseException) -> tuple[ResultCode, ErrorCode]:
    """The result and error code an exception from a job maps to."""
    if isinstance(exc, GrabTimeout):
        return ResultCode.NG_ACQUISITION, ErrorCode.GRAB_TIMEOUT
    if isinstance(exc, IncompleteFrame):
        return ResultCode.NG_ACQUISITION, ErrorCode.INCOMPLETE_FRAME
    if isinstance(exc, CameraError | ImageError):  # an unreadable image from the camera is an acquisition failure
        return ResultCode.NG_ACQUISITION, ErrorCode.CAMERA_ERROR
    return ResultCode.NG_RUNTIME, ErrorCode.RUNTIME_ERROR


def _wait(seconds: float, cancel: threading.Event | None) -> None:
    if seconds <= 0:
        return
    if cancel is not None:
        cancel.wait(seconds)
    else:
        time.sleep(seconds)


class FixedTimeJob:
    """A fake inspection: exposure after ``exposure_ms``, then ``code`` after ``inspect_ms`` in all.

    ``durations`` records each call's measured time (seconds) by TRIGGER_SEQ, for benchmarks.
    """

    def __init__(self, *, inspect_ms: float = 20.0, exposure_ms: float = 2.0,
                 code: ResultCode = ResultCode.OK) -> None:
        if code is ResultCode.NONE:
            raise ValueError("a job cannot return code NONE")
        self.inspect_ms = inspect_ms
        self.exposure_ms = min(exposure_ms, inspect_ms)
        self.code = code
        self.durations: dict[int, float] = {}
        self._lock = threading.Lock()

    def __call__(self, request: TriggerRequest, exposure_done: Callable[[], None]) -> InspectionResult:
        t0 = time.perf_counter()
        end = t0 + self.inspect_ms / 1000.0
        time.sleep(self.exposure_ms / 1000.0)
        exposure_done()
        time.sleep(max(0.0, end - time.perf_counter()))
        result = _result(self.code)
        with self._lock:
            self.durations[request.trigger_seq] = time.perf_counter() - t0
        return result


def _result(code: ResultCode) -> InspectionResult:
    if code is ResultCode.NG_DEFECT:
        finding = Finding(box=(10.0, 20.0, 14.0, 26.0), score=0.9, defect_class=DefectClass.CRACK,
                          area_px=18)
        return InspectionResult(code=code, findings=(finding,), max_score=0.9, message="fake defect")
    return InspectionResult(code=code, message=f"fake {code.name.lower()}")


class ScriptedJob:
    """A fake inspection steered per part by PART_ID_STR: ``VERB[:MS]``.

    Verbs: ``OK`` (default, also an empty string), ``NG`` (a defect), ``SLOW`` (OK after MS, used to
    exceed the deadline), ``GRABTIMEOUT``, ``INCOMPLETE`` (camera failures after MS), ``CRASH`` (a
    plain exception after MS). MS defaults to ``default_ms``. The station reports SIMULATION while
    it runs this job. ``cancel`` (set on shutdown) cuts every wait short.
    """

    def __init__(self, *, default_ms: float = 5.0) -> None:
        self.default_ms = default_ms
        self.cancel = threading.Event()
        self.completed: list[int] = []  # TRIGGER_SEQ of every call that returned a result
        self._lock = threading.Lock()

    def __call__(self, request: TriggerRequest, exposure_done: Callable[[], None]) -> InspectionResult:
        verb, _, arg = request.part_id_str.strip().upper().partition(":")
        try:
            ms = float(arg) if arg else self.default_ms
        except ValueError as exc:
            raise InspectionError(f"bad scripted job argument {arg!r}") from exc
        if verb == "GRABTIMEOUT":
            _wait(ms / 1000.0, self.cancel)
            raise GrabTimeout("no frame within the grab timeout (scripted)", camera="scripted")
        if verb == "INCOMPLETE":
            _wait(ms / 1000.0, self.cancel)
            raise IncompleteFrame("frame incomplete: 312 packets lost (scripted)", camera="scripted")
        exposure_s = min(0.001, ms / 1000.0)
        _wait(exposure_s, self.cancel)
        exposure_done()
        _wait(ms / 1000.0 - exposure_s, self.cancel)
        if verb == "CRASH":
            raise RuntimeError("scripted detector crash")
        code = ResultCode.NG_DEFECT if verb == "NG" else ResultCode.OK
        with self._lock:
            self.completed.append(request.trigger_seq)
        return _result(code)
