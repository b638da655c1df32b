"""The PLC-facing station: the state machine plus the threads that run it.

- a worker thread runs the inspection job for each accepted trigger (one at a time);
- a supervisor thread wakes exactly when the next timer is due (deadline, station heartbeat,
  acknowledgement timeout, PLC heartbeat watchdog), so the deadline is enforced independently of how
  long the job takes and a deadline reject goes out within a scheduler tick of the deadline;
- a recipe thread runs the recipe preparer.

Transports (plugins/plc/*) call :meth:`PlcStation.apply_plc_words` for every PLC write and read
:meth:`PlcStation.registers` (the cached status block, re-encoded only when something changed);
``add_listener`` tells them (and tests) when the block changed, so nothing polls.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from inspection.plc.codec import PlcWords
from inspection.plc.contract import STN_BLOCK_START, StnReg
from inspection.plc.job import InspectionJob, RecipeOutcome, RecipePreparer, accept_any_recipe
from inspection.plc.record import ResultRecord, StatusImage, TriggerRequest
from inspection.station.state import StationMachine
from inspection.station.timing import Discarded, Effect, MachineConfig, PrepareRecipe, Published, StartJob

logger = logging.getLogger(__name__)

Listener = Callable[[], None]
STS_INDEX = StnReg.STS - STN_BLOCK_START
STS_HISTORY = 4096  # STS changes kept for sts_seen(): a second at far more than line rate


class PlcStation:
    """Thread-safe owner of a :class:`StationMachine`. ``start()`` before use, ``stop()`` after."""

    def __init__(self, job: InspectionJob, *, config: MachineConfig | None = None,
                 preparer: RecipePreparer = accept_any_recipe, initial_recipe: int | None = 0,
                 mm_per_px: float | None = None, low_word_first: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config or MachineConfig()
        self._job = job
        self._preparer = preparer
        self._initial_recipe = initial_recipe
        self._clock = clock
        self.low_word_first = low_word_first
        self._cond = threading.Condition(threading.RLock())
        self.machine = StationMachine(self.config, now=clock(), mm_per_px=mm_per_px)
        self._jobs: queue.SimpleQueue[StartJob | None] = queue.SimpleQueue()
        self._recipes: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._listeners: list[Listener] = []
        self._result_listeners: list[Callable[[ResultRecord], None]] = []
        self._discard_listeners: list[Callable[[ResultRecord, str], None]] = []
        self._threads: list[threading.Thread] = []
        self._closing = False
        self._registers = self.machine.image().encode(low_word_first=low_word_first)
        self.version = 0
        # (time, STS) at every change of the STS word: READY, TRIG_ACK and RESULT_VALID last a few ms
        # at line rate, too short for a person (or a 1 s refresh) to see them in one read
        self._sts_changes: deque[tuple[float, int]] = deque([(clock(), self._registers[STS_INDEX])],
                                                            maxlen=STS_HISTORY)

    # ----------------------------------------------------------------- life cycle
    def start(self) -> PlcStation:
        if self._threads:
            return self
        for name, target in (("plc-worker", self._work), ("plc-supervisor", self._supervise),
                             ("plc-recipes", self._prepare_recipes)):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        self._do(lambda now: self.machine.start(self._initial_recipe, now))
        return self

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._jobs.put(None)
        self._recipes.put(None)
        cancel = getattr(self._job, "cancel", None)
        if isinstance(cancel, threading.Event):
            cancel.set()
        for t in self._threads:
            t.join(timeout)
            if t.is_alive():
                logger.error("%s did not stop within %.1f s (a job still running?)", t.name, timeout)
        self._threads.clear()

    def __enter__(self) -> PlcStation:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- inputs
    def apply_plc_words(self, words: PlcWords) -> None:
        """One write of the PLC command block (already validated by the transport)."""
        self._do(lambda now: self.machine.apply_plc_words(words, now))

    def command(self, name: str, *args: Any) -> None:
        """A direct command (HMI, OPC UA method): ``trigger`` (TriggerRequest), ``enable`` (bool),
        ``acknowledge``, ``release_ack``, ``release_trigger``, ``reset_error``, ``select_recipe``
        (int), ``stop`` (bool), ``operator_access`` (bool), ``clear_counters``,
        ``buffer_enable`` (bool), ``fault`` (ErrorCode, reason: enter Error), ``note_error``
        (ErrorCode: set ERROR_CODE only, e.g. a refused write), ``process_alarm`` (bool: the
        station's process alarms, shown as STS WARNING)."""
        m = self.machine

        def run(now: float) -> list[Effect] | None:
            if name == "trigger":
                request = args[0]
                if not isinstance(request, TriggerRequest):
                    raise TypeError("trigger needs a TriggerRequest")
                return m.trigger(request, now)
            if name == "select_recipe":
                return m.request_recipe(int(args[0]), now)
            if name == "stop":
                return m.set_stop(bool(args[0]), now)
            simple: dict[str, Callable[[], object]] = {
                "enable": lambda: m.set_enable(bool(args[0]), now),
                "acknowledge": lambda: m.acknowledge(now),
                "release_ack": lambda: m.release_ack(now),
                "release_trigger": m.release_trigger,
                "reset_error": m.reset_error,
                "operator_access": lambda: m.set_operator_access(bool(args[0])),
                "clear_counters": m.clear_counters,
                "buffer_enable": lambda: setattr(m, "buffer_enable", bool(args[0])),
                "fault": lambda: m.enter_error(args[0], str(args[1])),
                "note_error": lambda: setattr(m, "error_code", args[0]),
                "process_alarm": lambda: setattr(m, "process_alarm", bool(args[0])),
            }
            if name not in simple:
                raise ValueError(f"unknown station command {name!r}")
            simple[name]()
            return None

        self._do(run)

    # ----------------------------------------------------------------- outputs
    def registers(self) -> list[int]:
        """The station status block HR100-126 (a copy)."""
        with self._cond:
            return list(self._registers)

    def image(self) -> StatusImage:
        with self._cond:
            return self.machine.image()

    def sts_seen(self, window_s: float = 1.0) -> int:
        """Every STS bit that was set at some moment of the last ``window_s`` seconds (a pulse
        stretch for the commissioning view; the PLC reads the live word, never this)."""
        with self._cond:
            since = self._clock() - window_s
            seen = 0
            for t, sts in reversed(self._sts_changes):
                seen |= sts
                if t <= since:  # in effect when the window opened
                    break
            return seen

    def add_listener(self, listener: Listener) -> None:
        """``listener()`` runs (under the station lock: keep it short) after every change."""
        with self._cond:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with self._cond:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def on_result(self, callback: Callable[[ResultRecord], None]) -> None:
        """``callback(record)`` for every published result (store, HMI); keep it short."""
        with self._cond:
            self._result_listeners.append(callback)

    def on_discard(self, callback: Callable[[ResultRecord, str], None]) -> None:
        """``callback(record, reason)`` for every result discarded because its PLC session ended
        (it was never acknowledged; the next session never sees it); keep it short."""
        with self._cond:
            self._discard_listeners.append(callback)

    def wait_for(self, predicate: Callable[[StatusImage], bool], timeout: float) -> bool:
        """Block until ``predicate(image)`` holds (evaluated on every change) or ``timeout`` s."""
        end = self._clock() + timeout
        with self._cond:
            while not predicate(self.machine.image()):
                left = end - self._clock()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    # ----------------------------------------------------------------- internals
    def _do(self, action: Callable[[float], list[Effect] | None]) -> None:
        with self._cond:
            effects = action(self._clock()) or []
            self._dispatch(effects)
            self._refresh()

    def _dispatch(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, StartJob):
                self._jobs.put(effect)
            elif isinstance(effect, PrepareRecipe):
                self._recipes.put(effect.recipe_no)
            elif isinstance(effect, Published):
                for cb in self._result_listeners:
                    try:
                        cb(effect.record)
                    except Exception:
                        logger.exception("result listener failed")
            elif isinstance(effect, Discarded):
                for dcb in self._discard_listeners:
                    try:
                        dcb(effect.record, effect.reason)
                    except Exception:
                        logger.exception("discard listener failed")

    def _refresh(self) -> None:
        regs = self.machine.image().encode(low_word_first=self.low_word_first)
        if regs != self._registers:
            self._registers = regs
            self.version += 1
            sts = regs[STS_INDEX]  # as the PLC reads it (RESULT_VALID, PASS, REJECT included)
            if sts != self._sts_changes[-1][1]:
                self._sts_changes.append((self._clock(), sts))
            for listener in self._listeners:
                try:
                    listener()
                except Exception:
                    logger.exception("station listener failed")
        self._cond.notify_all()  # wakes the supervisor (new deadline?) and wait_for()

    def _work(self) -> None:
        while (item := self._jobs.get()) is not None:
            job_id = item.job_id

            def exposure_done(job_id: int = job_id) -> None:
                self._do(lambda now: self.machine.exposure_done(job_id))

            outcome: object
            try:
                outcome = self._job(item.request, exposure_done)
            except Exception as exc:
                outcome = exc
            try:
                self._finish(job_id, outcome)
            except Exception:  # a bug here must not kill the worker: the deadline answers the part
                logger.exception("finishing job %d failed", job_id)

    def _supervise(self) -> None:
        with self._cond:
            while not self._closing:
                effects = self.machine.tick(self._clock())
                self._dispatch(effects)
                self._refresh()
                wait = self.machine.next_wakeup() - self._clock()
                if wait > 0:
                    self._cond.wait(wait)

    def _prepare_recipes(self) -> None:
        while (recipe_no := self._recipes.get()) is not None:
            try:
                outcome = self._preparer(recipe_no)
            except Exception as exc:
                logger.exception("recipe preparer raised")
                outcome = RecipeOutcome(False, message=f"{type(exc).__name__}: {exc}")
            self._recipe_done(recipe_no, outcome)

    def _finish(self, job_id: int, outcome: object) -> None:
        self._do(lambda now: self.machine.job_finished(job_id, outcome, now))

    def _recipe_done(self, recipe_no: int, outcome: RecipeOutcome) -> None:
        self._do(lambda now: self.machine.recipe_finished(recipe_no, outcome, now))
