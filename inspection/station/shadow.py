"""A shadow recipe: a candidate judged beside the active recipe on live parts, off the PLC's path.

The station hands each decided part to :meth:`ShadowRunner.offer` after the PLC has its answer
(from the publishing thread, like the HMI and the store). ``offer`` never blocks: the queue holds
at most ``maxsize`` parts and a part that finds it full is dropped and counted (the shadow is the
first thing dropped under load). One worker thread, at the lowest CPU priority the OS gives a
thread (nice 19 on Linux), inspects each part with the candidate and compares verdicts; it starts
an inspection only while the station is between cycles (``busy``), since Python threads also
share one interpreter lock that no CPU priority reaches.
Disagreements are stored in SQLite (``shadow.db``, next to the station's settings) with the run
they belong to, so they survive a restart and can be shown and exported.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inspection.errors import InspectionError
from inspection.pipeline import inspect
from inspection.recipe.definition import PreparedRecipe, Recipe, prepare
from inspection.record import PartRecord
from inspection.station.recipes import make_detector
from inspection.vision.detector import Detector

logger = logging.getLogger(__name__)

_DDL = """
CREATE TABLE IF NOT EXISTS shadow_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    started_ns  INTEGER NOT NULL,
    started_by  TEXT NOT NULL,
    recipe_id   TEXT NOT NULL,
    candidate   TEXT NOT NULL,
    ended_ns    INTEGER,
    ended_by    TEXT,
    outcome     TEXT,
    seen        INTEGER NOT NULL DEFAULT 0,
    agreed      INTEGER NOT NULL DEFAULT 0,
    disagreed   INTEGER NOT NULL DEFAULT 0,
    dropped     INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS shadow_disagreements (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id        INTEGER NOT NULL REFERENCES shadow_runs (id),
    result_id     TEXT NOT NULL,
    decided_ns    INTEGER NOT NULL,
    live_verdict  TEXT NOT NULL,
    shadow_verdict TEXT NOT NULL,
    live_code     INTEGER NOT NULL,
    shadow_code   INTEGER NOT NULL,
    live_recipe   TEXT NOT NULL,
    shadow_recipe TEXT NOT NULL,
    message       TEXT NOT NULL,
    shadow_ms     REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS shadow_disagreements_run ON shadow_disagreements (run_id, id);
"""

# (the recipe that judged the part live) -> the recipe the shadow judges it with
CandidateFn = Callable[[Recipe], Recipe]
# a stored model_hash -> the recipe version (RecipeVersions.load)
RecipeLookup = Callable[[str], Recipe]


@dataclass
class ShadowRun:
    run_id: int
    recipe_id: str
    recipe_number: int
    candidate: dict[str, Any]
    started_ns: int
    started_by: str
    seen: int = 0
    agreed: int = 0
    disagreed: int = 0
    dropped: int = 0
    other_recipe: int = 0
    errors: int = 0
    #: parts not judged because the recipe that judged them live cannot be rebuilt whole (a recipe
    #: version not kept, incomplete or changed) or its detector cannot be built, by error key
    refused: dict[str, int] = field(default_factory=dict)
    shadow_ms_max: float = 0.0
    shadow_ms_sum: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["shadow_ms_mean"] = round(self.shadow_ms_sum / self.seen, 2) if self.seen else None
        d.pop("shadow_ms_sum")
        return d


@dataclass(frozen=True)
class Disagreement:
    result_id: str
    decided_ns: int
    live_verdict: str
    shadow_verdict: str
    live_code: int
    shadow_code: int
    live_recipe: str
    shadow_recipe: str
    message: str
    shadow_ms: float


@dataclass
class _Job:
    run: ShadowRun
    record: PartRecord
    image: np.ndarray
    candidate: CandidateFn = field(repr=False)


class ShadowRunner:
    """Runs at most one shadow candidate at a time (see the module doc)."""

    def __init__(self, db_path: str | Path, lookup: RecipeLookup, *, maxsize: int = 2,
                 nice: int = 19, busy: Callable[[], bool] | None = None) -> None:
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(self.db_path), isolation_level=None, check_same_thread=False,
                                     timeout=10.0)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.executescript(_DDL)
        self._db_lock = threading.Lock()
        self._lookup = lookup
        self._nice = nice
        self._busy = busy
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=max(1, maxsize))
        self._lock = threading.Lock()
        self._run: ShadowRun | None = None
        self._candidate: CandidateFn | None = None
        self._prepared: dict[str, tuple[PreparedRecipe, Detector]] = {}
        self._thread: threading.Thread | None = None
        self._closed = False
        self.idle = threading.Event()
        self.idle.set()

    # ---- control (HMI requests) -----------------------------------------------------------------
    def start(self, *, recipe_id: str, recipe_number: int, candidate: CandidateFn,
              describe: Mapping[str, Any], user: str) -> ShadowRun:
        """Start shadowing ``candidate`` on parts of recipe ``recipe_number``; ends a running one."""
        self.stop(user=user, outcome="replaced")
        now = time.time_ns()
        with self._db_lock:
            cur = self._conn.execute("INSERT INTO shadow_runs (started_ns, started_by, recipe_id, candidate) "
                                     "VALUES (?, ?, ?, ?)", (now, user, recipe_id, json.dumps(dict(describe))))
        run = ShadowRun(int(cur.lastrowid or 0), recipe_id, recipe_number, dict(describe), now, user)
        with self._lock:
            self._run, self._candidate = run, candidate
            self._prepared.clear()
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="station-shadow", daemon=True)
                self._thread.start()
        logger.info("shadow run %d started by %s: %s", run.run_id, user, dict(describe))
        return run

    def stop(self, *, user: str, outcome: str) -> ShadowRun | None:
        """End the running shadow (``outcome``: promoted, dropped, replaced); returns it."""
        with self._lock:
            run, self._run, self._candidate = self._run, None, None
        if run is None:
            return None
        self._save_counts(run, ended_by=user, outcome=outcome)
        logger.info("shadow run %d ended (%s) by %s: %s", run.run_id, outcome, user, run.to_dict())
        return run

    def close(self) -> None:
        if self._closed:
            return
        self.stop(user="station", outcome="station stopped")
        self._closed = True
        if self._thread is not None:
            while True:  # make room for the sentinel: pending shadow work is dropped
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            self._queue.put(None)
            self._thread.join(10.0)
        with self._db_lock:
            self._conn.close()

    @property
    def run(self) -> ShadowRun | None:
        with self._lock:
            return self._run

    # ---- producer (the station's publishing thread) ---------------------------------------------
    def offer(self, record: PartRecord, image: np.ndarray | None) -> bool:
        """Queue a decided part for the shadow; never blocks. False when there is no shadow, the
        part is not for it, or it was dropped (queue full)."""
        with self._lock:
            run, candidate = self._run, self._candidate
            if run is None or candidate is None or image is None or self._closed:
                return False
            if record.part.recipe_number != run.recipe_number or not record.part.model_hash:
                run.other_recipe += 1
                return False
            try:
                self._queue.put_nowait(_Job(run, record, image, candidate))
            except queue.Full:
                run.dropped += 1
                return False
            self.idle.clear()
            return True

    # ---- worker ---------------------------------------------------------------------------------
    def _work(self) -> None:
        if hasattr(os, "setpriority"):
            with contextlib.suppress(OSError):  # Linux: a thread id is a process id to setpriority
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self._nice)
        while True:
            job = self._queue.get()
            if job is None:
                return
            self._wait_until_idle()
            try:
                self._judge(job)
            except Exception:
                logger.exception("shadow inspection failed")
                job.run.errors += 1
            finally:
                if self._queue.empty():
                    self.idle.set()

    def _wait_until_idle(self, max_s: float = 1.0) -> None:
        """Start an inspection only between the station's cycles (it also competes for the GIL,
        which no priority reaches); parts arriving meanwhile queue up and are dropped when full."""
        if self._busy is None:
            return
        t_end = time.monotonic() + max_s
        while self._busy() and not self._closed and time.monotonic() < t_end:
            time.sleep(0.002)

    def _prepared_for(self, recipe: Recipe) -> tuple[PreparedRecipe, Detector]:
        key = recipe.content_hash()
        if key not in self._prepared:
            if len(self._prepared) > 8:
                self._prepared.clear()
            self._prepared[key] = (prepare(recipe), make_detector(recipe))
        return self._prepared[key]

    def _judge(self, job: _Job) -> None:
        t0 = time.perf_counter()
        try:  # the live recipe version and the detector it names (a good-set recipe: its model)
            base = self._lookup(job.record.part.model_hash)
            prepared, detector = self._prepared_for(job.candidate(base))
        except InspectionError as exc:  # never judged with another recipe or detector
            logger.warning("shadow: part %s not judged (%s): %s", job.record.result_id, exc.key, exc)
            with self._lock:
                job.run.refused[exc.key] = job.run.refused.get(exc.key, 0) + 1
            return
        result = inspect(prepared, job.image, detector=detector)
        ms = (time.perf_counter() - t0) * 1e3
        live = job.record.result
        run = job.run
        with self._lock:
            if run is not self._run:
                return  # ended while this part was in work
            run.seen += 1
            run.shadow_ms_sum += ms
            run.shadow_ms_max = max(run.shadow_ms_max, ms)
            same = result.verdict == live.verdict
            if same:
                run.agreed += 1
            else:
                run.disagreed += 1
        if not same:
            with self._db_lock:
                self._conn.execute(
                    "INSERT INTO shadow_disagreements (run_id, result_id, decided_ns, live_verdict, "
                    "shadow_verdict, live_code, shadow_code, live_recipe, shadow_recipe, message, shadow_ms) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run.run_id, job.record.result_id, job.record.decided_ns, live.verdict.value,
                     result.verdict.value, int(live.code), int(result.code), job.record.part.model_hash,
                     prepared.recipe_id, result.message, ms))
        if run.seen % 20 == 0:
            self._save_counts(run)

    def _save_counts(self, run: ShadowRun, *, ended_by: str | None = None, outcome: str | None = None) -> None:
        with self._db_lock:
            if self._closed:
                return
            self._conn.execute("UPDATE shadow_runs SET seen = ?, agreed = ?, disagreed = ?, dropped = ?, "
                               "ended_ns = COALESCE(?, ended_ns), ended_by = COALESCE(?, ended_by), "
                               "outcome = COALESCE(?, outcome) WHERE id = ?",
                               (run.seen, run.agreed, run.disagreed, run.dropped,
                                time.time_ns() if outcome else None, ended_by, outcome, run.run_id))

    # ---- reading --------------------------------------------------------------------------------
    def wait_idle(self, timeout: float = 10.0) -> bool:
        return self.idle.wait(timeout)

    def disagreements(self, run_id: int | None = None, *, limit: int = 50) -> list[Disagreement]:
        """Newest first; of ``run_id`` (default: the running or last run)."""
        with self._db_lock:
            if run_id is None:
                row = self._conn.execute("SELECT MAX(id) FROM shadow_runs").fetchone()
                run_id = None if row is None else row[0]
            if run_id is None:
                return []
            rows = self._conn.execute(
                "SELECT result_id, decided_ns, live_verdict, shadow_verdict, live_code, shadow_code, "
                "live_recipe, shadow_recipe, message, shadow_ms FROM shadow_disagreements "
                "WHERE run_id = ? ORDER BY id DESC LIMIT ?", (run_id, max(0, limit))).fetchall()
        return [Disagreement(*r) for r in rows]

    def runs(self, *, limit: int = 20) -> list[dict[str, Any]]:
        with self._db_lock:
            cur = self._conn.execute("SELECT * FROM shadow_runs ORDER BY id DESC LIMIT ?", (limit,))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
