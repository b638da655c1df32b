"""The result store: SQLite (WAL) records, image files, retention, audit log, operator review.

One :class:`ResultStore` per station. The station's hot path calls only :meth:`submit` (a bounded,
non-blocking enqueue to the writer thread); everything else (queries, reviews, the audit log) runs
on the caller's thread over a second connection, which WAL lets read while the writer writes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inspection.errors import StoreError
from inspection.record import PartRecord
from inspection.store.audit import AuditEntry, insert_audit
from inspection.store.config import StoreConfig
from inspection.store.images import ImageStore, heat_path
from inspection.store.retention import FreeBytes, RetentionReport, disk_free_bytes
from inspection.store.rows import ResultQuery, ReviewStatus, StoredResult
from inspection.store.schema import connect, init_schema, integrity_ok
from inspection.store.writer import OnCommit, StoreWriter, WriterStats

logger = logging.getLogger(__name__)

MIN_OVERRIDE_REASON = 3


@dataclass(frozen=True)
class Counts:
    total: int
    passed: int
    rejected: int


SEQ_MARGIN = 10_000  # rows stored out of time order (a clock step) still found within this distance


class ResultStore:
    """Open (creating if needed) the store under ``config.root``; :meth:`start` the writer."""

    def __init__(self, config: StoreConfig, *, on_commit: OnCommit | None = None,
                 free_bytes: FreeBytes = disk_free_bytes) -> None:
        self.config = config
        try:
            config.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the store folder {config.root}: {exc}", key="store_io") from exc
        self._conn = connect(config.db_path, synchronous=config.synchronous)
        init_schema(self._conn, config.db_path)
        self._lock = threading.RLock()
        self.images = ImageStore(config.image_root, png_compression=config.png_compression,
                                 jpeg_quality=config.jpeg_quality)
        swept = self.images.sweep_temporary()
        if swept:
            logger.warning("removed %d partial image files left by an interrupted write", swept)
        self._on_commit = on_commit
        self._listeners: list[OnCommit] = []
        self.writer = StoreWriter(config, self.images, on_commit=self._committed, free_bytes=free_bytes)
        self._closed = False

    # ---- life cycle -----------------------------------------------------------------------------
    def start(self) -> ResultStore:
        self.writer.start()
        return self

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.writer.close()
        with self._lock:
            self._conn.close()

    def __enter__(self) -> ResultStore:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_commit_listener(self, listener: OnCommit) -> None:
        """Call ``listener(result_ids)`` on the writer thread after each commit (it must not block:
        the outbox forwarders only set an event)."""
        with self._lock:
            self._listeners = [*self._listeners, listener]

    def remove_commit_listener(self, listener: OnCommit) -> None:
        with self._lock:
            self._listeners = [f for f in self._listeners if f != listener]

    def _committed(self, ids: Sequence[str]) -> None:
        for fn in [self._on_commit, *self._listeners]:
            if fn is not None:
                try:
                    fn(ids)
                except Exception:
                    logger.exception("commit listener failed")

    # ---- hot path -------------------------------------------------------------------------------
    def submit(self, record: PartRecord, image: np.ndarray | None = None) -> bool:
        """Queue ``record`` for storage; never blocks. False when dropped (see StoreWriter)."""
        return self.writer.submit(record, image)

    def flush(self, timeout: float = 10.0) -> bool:
        return self.writer.flush(timeout)

    # ---- reading --------------------------------------------------------------------------------
    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise StoreError("the result store is closed", key="store_closed")
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise StoreError(f"result database error: {exc}", key="store_io") from exc

    def get(self, result_id: str) -> StoredResult | None:
        with self._db() as db:
            row = db.execute("SELECT * FROM results WHERE result_id = ?", (result_id,)).fetchone()
        return None if row is None else StoredResult.from_row(row)

    def require(self, result_id: str) -> StoredResult:
        found = self.get(result_id)
        if found is None:
            raise StoreError(f"no stored result {result_id!r}", key="unknown_result")
        return found

    def bounded(self, q: ResultQuery) -> ResultQuery:
        """``q`` with a time window also as a seq range: results are stored in the order they are
        decided, so the window's rows lie between the seqs of its first and last row (two index
        seeks), widened by SEQ_MARGIN for rows a clock step put out of order. The time condition
        stays, so the answer is exact for any row within the margin; the page is then read in seq
        order through the filters' indexes and stops after ``limit`` rows, whatever the window."""
        if q.since_ns is None and q.until_ns is None:
            return q
        lo = hi = None
        with self._db() as db:
            if q.since_ns is not None:
                row = db.execute("SELECT seq FROM results WHERE decided_ns >= ? ORDER BY decided_ns LIMIT 1",
                                 (q.since_ns,)).fetchone()
                lo = (int(row[0]) - SEQ_MARGIN) if row else 2**62
            if q.until_ns is not None:
                row = db.execute("SELECT seq FROM results WHERE decided_ns < ? ORDER BY decided_ns DESC LIMIT 1",
                                 (q.until_ns,)).fetchone()
                hi = (int(row[0]) + SEQ_MARGIN) if row else -1
        return dataclasses.replace(q, seq_min=lo, seq_max=hi)

    def query(self, q: ResultQuery) -> list[StoredResult]:
        """Matching results, newest first (``q.oldest_first``: oldest first), at most ``q.limit``."""
        where, params = self.bounded(q).where()
        params["limit"] = max(0, q.limit)
        order = "ASC" if q.oldest_first else "DESC"
        # Two steps: the page's seqs from an index alone, then those rows.
        with self._db() as db:
            seqs = [r[0] for r in db.execute(
                f"SELECT seq FROM results WHERE {where} ORDER BY seq {order} LIMIT :limit",
                params).fetchall()]
            if not seqs:
                return []
            rows = db.execute(f"SELECT * FROM results WHERE seq IN ({','.join('?' * len(seqs))}) "
                              f"ORDER BY seq {order}", seqs).fetchall()
        return [StoredResult.from_row(r) for r in rows]

    def count(self, q: ResultQuery, *, cap: int | None = None) -> int:
        """Matching results; with ``cap``, counting stops there (at most ``cap`` index entries are
        read, so a page's total stays cheap on a store of millions of rows)."""
        where, params = self.bounded(q).where()
        sql = f"SELECT COUNT(*) FROM results WHERE {where}"
        if cap is not None:
            sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM results WHERE {where} LIMIT :cap)"
            params["cap"] = max(0, cap)
        with self._db() as db:
            return int(db.execute(sql, params).fetchone()[0])

    def count_after(self, seq: int) -> int:
        """Committed results with a store sequence number above ``seq`` (an outbox's backlog)."""
        with self._db() as db:
            return int(db.execute("SELECT COUNT(*) FROM results WHERE seq > ?", (seq,)).fetchone()[0])

    def counts(self, *, since_ns: int = 0) -> Counts:
        with self._db() as db:
            row = db.execute("SELECT COUNT(*), COALESCE(SUM(verdict = 'pass'), 0) FROM results "
                             "WHERE decided_ns >= ?", (since_ns,)).fetchone()
        total, passed = int(row[0]), int(row[1])
        return Counts(total, passed, total - passed)

    def recent_timings(self, n: int = 200) -> list[tuple[str, float, dict[str, float]]]:
        """(result_id, cycle_ms, timings) of the last ``n`` stored results, oldest first."""
        with self._db() as db:
            rows = db.execute("SELECT result_id, cycle_ms, timings_json FROM results "
                              "ORDER BY seq DESC LIMIT ?", (n,)).fetchall()
        return [(r[0], r[1], json.loads(r[2])) for r in reversed(rows)]

    def image_file(self, result_id: str, *, overlay: bool = False) -> Path:
        """The stored image (or overlay) file of a result; StoreError when there is none."""
        res = self.require(result_id)
        rel = res.overlay_path if overlay else res.image_path
        if rel is None:
            raise StoreError(f"result {result_id} has no stored image (image state: "
                             f"{res.image_state.value})", key="no_image")
        path = self.images.path(rel)
        if not path.is_file():
            raise StoreError(f"the image file of {result_id} is missing", key="no_image")
        return path

    def heat_file(self, result_id: str) -> Path:
        """The stored heat map (8-bit PNG in the image's frame, the threshold at level 128) of a
        result; StoreError (``no_heat_map``) when there is none."""
        res = self.require(result_id)
        if res.image_path is None or res.heat_map is None:
            raise StoreError(f"result {result_id} has no stored heat map", key="no_heat_map")
        path = self.images.path(heat_path(res.image_path))
        if not path.is_file():
            raise StoreError(f"the heat map file of {result_id} is missing", key="no_heat_map")
        return path

    # ---- review and audit ---------------------------------------------------------------------
    def review(self, result_id: str, *, decision: ReviewStatus, user: str, reason: str = "",
               may_change: bool = False) -> StoredResult:
        """Record an operator's review of a reject: CONFIRMED (it is bad) or OVERRIDDEN (it is
        good; a reason is required). A second review needs ``may_change``. Audited."""
        if decision not in (ReviewStatus.CONFIRMED, ReviewStatus.OVERRIDDEN):
            raise StoreError("a review decision is 'confirmed' or 'overridden'", key="bad_review")
        reason = reason.strip()
        if decision is ReviewStatus.OVERRIDDEN and len(reason) < MIN_OVERRIDE_REASON:
            raise StoreError("overriding a reject needs a reason (at least 3 characters)",
                             key="reason_required")
        now = time.time_ns()
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT verdict, review_status, review_reason FROM results "
                                 "WHERE result_id = ?", (result_id,)).fetchone()
                if row is None:
                    raise StoreError(f"no stored result {result_id!r}", key="unknown_result")
                if row["verdict"] != "reject":
                    raise StoreError("only rejected parts are reviewed", key="not_reviewable")
                if row["review_status"] != ReviewStatus.NONE.value and not may_change:
                    raise StoreError("this reject was already reviewed; an engineer can change the "
                                     "review", key="already_reviewed")
                db.execute("UPDATE results SET review_status = ?, review_reason = ?, review_user = ?, "
                           "review_ns = ? WHERE result_id = ?",
                           (decision.value, reason, user, now, result_id))
                insert_audit(db, ts_ns=now, user=user, action="review", target=f"result:{result_id}",
                             old={"status": row["review_status"], "reason": row["review_reason"]},
                             new={"status": decision.value, "reason": reason})
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return self.require(result_id)

    def confirm_pending(self, q: ResultQuery, *, user: str, limit: int) -> list[str]:
        """Confirm (as NG) the pending rejects matching ``q``, oldest first, at most ``limit``, in one
        transaction; each is audited like a single review (detail "bulk"). Returns their ids."""
        where, params = q.where()
        params["limit"] = max(0, limit)
        now = time.time_ns()
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                ids = [r[0] for r in db.execute(
                    f"SELECT result_id FROM results WHERE {where} AND review_status = 'none' "
                    "AND verdict = 'reject' ORDER BY seq ASC LIMIT :limit", params).fetchall()]
                for rid in ids:
                    db.execute("UPDATE results SET review_status = 'confirmed', review_reason = '', "
                               "review_user = ?, review_ns = ? WHERE result_id = ?", (user, now, rid))
                    insert_audit(db, ts_ns=now, user=user, action="review", target=f"result:{rid}",
                                 old={"status": "none", "reason": None},
                                 new={"status": "confirmed", "reason": ""}, detail="bulk")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return ids

    def audit(self, *, user: str, action: str, target: str, old: object = None, new: object = None,
              detail: str | None = None) -> int:
        """Append one audit entry; returns its id."""
        with self._db() as db:
            return insert_audit(db, ts_ns=time.time_ns(), user=user, action=action, target=target,
                                old=old, new=new, detail=detail)

    def audit_log(self, *, limit: int = 100, before_id: int | None = None, user: str | None = None,
                  action: str | None = None) -> list[AuditEntry]:
        """Audit entries, newest first."""
        clauses: list[str] = ["1"]
        params: list[object] = []
        if before_id is not None:
            clauses.append("id < ?")
            params.append(before_id)
        if user is not None:
            clauses.append("user = ?")
            params.append(user)
        if action is not None:
            clauses.append("action = ?")
            params.append(action)
        params.append(max(0, limit))
        with self._db() as db:
            rows = db.execute(f"SELECT * FROM audit WHERE {' AND '.join(clauses)} ORDER BY id DESC LIMIT ?",
                              params).fetchall()
        return [AuditEntry.from_row(r) for r in rows]

    def select(self, sql: str, params: dict[str, object] | tuple[object, ...] = ()) -> list[sqlite3.Row]:
        """A read-only query on the result database (statistics, exports): the caller's SQL."""
        with self._db() as db:
            return db.execute(sql, params).fetchall()

    # ---- metadata, maintenance ------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self._db() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._db() as db:
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    def run_retention(self, timeout: float = 60.0) -> RetentionReport:
        return self.writer.run_retention(timeout)

    def integrity(self) -> tuple[bool, str]:
        with self._db() as db:
            return integrity_ok(db)

    def stats(self) -> WriterStats:
        return self.writer.stats()

    def db_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.config.db_path) + suffix)
            if p.exists():
                total += p.stat().st_size
        return total
