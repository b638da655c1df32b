"""Committing a batch of result rows: one transaction, I/O failures retried with back-off.

A batch is never silently discarded while the station runs: a failing commit (disk full, I/O error,
locked database) is retried (logged once at ERROR, then DEBUG until it recovers). A duplicate result
id fails only its own row (the batch is re-inserted row by row). At shutdown, a batch is given up
after three attempts (logged).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable

from inspection.store.rows import INSERT_SQL

logger = logging.getLogger(__name__)


class BatchCommitter:
    def __init__(self, *, on_error: Callable[[str], None], on_row_dropped: Callable[[], None],
                 max_delay_s: float = 2.0) -> None:
        self.on_error = on_error
        self.on_row_dropped = on_row_dropped
        self.max_delay_s = max_delay_s
        self.in_error = False

    def commit(self, conn: sqlite3.Connection, rows: list[dict[str, object]], *, closing: bool) -> list[str]:
        """Insert ``rows`` in one transaction; returns the ids committed."""
        delay = 0.1
        attempt = 0
        while True:
            attempt += 1
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.executemany(INSERT_SQL, rows)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                if self.in_error:
                    logger.error("result store recovered after %d attempts", attempt)
                    self.in_error = False
                return [str(r["result_id"]) for r in rows]
            except sqlite3.IntegrityError:
                return self._one_by_one(conn, rows)
            except sqlite3.Error as exc:
                self.on_error(f"commit: {exc}")
                (logger.debug if self.in_error else logger.error)("cannot commit %d results: %s",
                                                                  len(rows), exc)
                self.in_error = True
                if closing and attempt >= 3:
                    logger.error("giving up on %d results at shutdown", len(rows))
                    return []
                time.sleep(delay)
                delay = min(delay * 2, self.max_delay_s)

    def _one_by_one(self, conn: sqlite3.Connection, rows: list[dict[str, object]]) -> list[str]:
        done = []
        for row in rows:
            try:
                conn.execute(INSERT_SQL, row)  # autocommit: one transaction per row
                done.append(str(row["result_id"]))
            except sqlite3.Error as exc:
                logger.error("result %s not stored: %s", row["result_id"], exc)
                self.on_row_dropped()
        return done
