"""Pre-aggregated statistics and the indexes that keep the HMI's pages fast at a plant's volume.

Two small tables are kept up to date by a trigger on every inserted result (no change to the
writer; any connection that inserts updates them):

- ``stats_hourly (hour, recipe_id) -> total, ok``: parts per UTC hour (``decided_ns // 1 h``);
- ``stats_causes (hour, recipe_id, code, worst_class) -> n``: rejected parts by cause.

Statistics read these (a month is 720 rows a recipe) instead of scanning results. They are not
touched by retention, so trends outlive the records. A store created before them is back-filled
once, in the same transaction that creates the trigger (meta key ``stats_aggregates``).

Indexes (each also holds the row id = ``seq``, so ``WHERE x = ? ORDER BY seq DESC LIMIT n`` walks
the index and stops after n rows): result code, recipe, numeric part id, trigger sequence, review
status, verdict; and a partial index of the review queue (rejects not reviewed yet).
"""

from __future__ import annotations

import sqlite3

HOUR_NS = 3_600_000_000_000
META_KEY = "stats_aggregates"

INDEXES = """
CREATE INDEX IF NOT EXISTS results_code ON results (code);
CREATE INDEX IF NOT EXISTS results_recipe ON results (recipe_id);
CREATE INDEX IF NOT EXISTS results_part_num ON results (part_id);
CREATE INDEX IF NOT EXISTS results_trigger ON results (trigger_seq);
CREATE INDEX IF NOT EXISTS results_review_seq ON results (review_status);
CREATE INDEX IF NOT EXISTS results_verdict_seq ON results (verdict);
CREATE INDEX IF NOT EXISTS results_pending ON results (seq) WHERE review_status = 'none' AND verdict = 'reject';
"""

TABLES = """
CREATE TABLE IF NOT EXISTS stats_hourly (
    hour      INTEGER NOT NULL,
    recipe_id TEXT NOT NULL,
    total     INTEGER NOT NULL,
    ok        INTEGER NOT NULL,
    PRIMARY KEY (hour, recipe_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stats_causes (
    hour        INTEGER NOT NULL,
    recipe_id   TEXT NOT NULL,
    code        INTEGER NOT NULL,
    worst_class INTEGER NOT NULL,  -- -1: none
    n           INTEGER NOT NULL,
    PRIMARY KEY (hour, recipe_id, code, worst_class)
) WITHOUT ROWID;
"""

TRIGGER = f"""
CREATE TRIGGER IF NOT EXISTS results_stats AFTER INSERT ON results BEGIN
    INSERT INTO stats_hourly (hour, recipe_id, total, ok)
        VALUES (NEW.decided_ns / {HOUR_NS}, NEW.recipe_id, 1, NEW.verdict = 'pass')
        ON CONFLICT (hour, recipe_id) DO UPDATE SET total = total + 1, ok = ok + excluded.ok;
    INSERT INTO stats_causes (hour, recipe_id, code, worst_class, n)
        SELECT NEW.decided_ns / {HOUR_NS}, NEW.recipe_id, NEW.code, COALESCE(NEW.worst_class, -1), 1
        WHERE NEW.verdict = 'reject'
        ON CONFLICT (hour, recipe_id, code, worst_class) DO UPDATE SET n = n + 1;
END;
"""

BACKFILL = f"""
DELETE FROM stats_hourly;
DELETE FROM stats_causes;
INSERT INTO stats_hourly (hour, recipe_id, total, ok)
    SELECT decided_ns / {HOUR_NS}, recipe_id, COUNT(*), SUM(verdict = 'pass') FROM results
    GROUP BY decided_ns / {HOUR_NS}, recipe_id;
INSERT INTO stats_causes (hour, recipe_id, code, worst_class, n)
    SELECT decided_ns / {HOUR_NS}, recipe_id, code, COALESCE(worst_class, -1), COUNT(*) FROM results
    WHERE verdict = 'reject' GROUP BY 1, 2, 3, 4;
"""


def install(conn: sqlite3.Connection) -> None:
    """Create the indexes, the aggregate tables and their trigger (idempotent; back-fills once)."""
    conn.executescript(INDEXES + TABLES)
    done = conn.execute("SELECT value FROM meta WHERE key = ?", (META_KEY,)).fetchone()
    if done is not None:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("SELECT value FROM meta WHERE key = ?", (META_KEY,)).fetchone() is None:
            for stmt in BACKFILL.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            conn.execute(TRIGGER)
            conn.execute("INSERT INTO meta (key, value) VALUES (?, '1')", (META_KEY,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
