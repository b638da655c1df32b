"""Pre-aggregated statistics and the indexes that keep the HMI's pages fast at a plant's volume.

Two small tables are kept up to date by a trigger on every inserted result (no change to the
writer; any connection that inserts updates them):

- ``stats_hourly (hour, recipe_id) -> total, ok``: parts per UTC hour (``decided_ns // 1 h``);
- ``stats_causes (hour, recipe_id, code, worst_class) -> n``: rejected parts by cause;
- ``stats_defects (hour, recipe_id, cx, cy) -> n``: reported defects (score >= 0.5) of rejected
  parts by where their centre lies on the part, on a 32 x 24 grid over the image.

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
DEFECTS_KEY = "stats_defects"
GRID_COLS, GRID_ROWS = 32, 24

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
CREATE TABLE IF NOT EXISTS stats_defects (
    hour      INTEGER NOT NULL,
    recipe_id TEXT NOT NULL,
    cx        INTEGER NOT NULL,  -- 0..31 across the image
    cy        INTEGER NOT NULL,  -- 0..23 down the image
    n         INTEGER NOT NULL,
    PRIMARY KEY (hour, recipe_id, cx, cy)
) WITHOUT ROWID;
"""

_CELL = ("MIN({n} - 1, MAX(0, CAST((json_extract(f.value, '$.box[{a}]') + json_extract(f.value, '$.box[{b}]'))"
         " / 2.0 / MAX(1, {size}) * {n} AS INTEGER)))")


def _defect_cells(src: str) -> str:
    """SELECT of (hour, recipe, cx, cy, 1) per reported finding of the reject row ``src``."""
    cx = _CELL.format(n=GRID_COLS, a=0, b=2, size=f"{src}.image_w")
    cy = _CELL.format(n=GRID_ROWS, a=1, b=3, size=f"{src}.image_h")
    return (f"SELECT {src}.decided_ns / {HOUR_NS}, {src}.recipe_id, {cx}, {cy}, 1 "
            f"FROM json_each({src}.findings_json) AS f WHERE {src}.verdict = 'reject' "
            f"AND json_extract(f.value, '$.score') >= 0.5")


DEFECTS_TRIGGER = f"""
CREATE TRIGGER IF NOT EXISTS results_stats_defects AFTER INSERT ON results BEGIN
    INSERT INTO stats_defects (hour, recipe_id, cx, cy, n) {_defect_cells("NEW")}
        ON CONFLICT (hour, recipe_id, cx, cy) DO UPDATE SET n = n + 1;
END;
"""

DEFECTS_BACKFILL = f"""
DELETE FROM stats_defects;
INSERT INTO stats_defects (hour, recipe_id, cx, cy, n)
    SELECT h, rid, x, y, COUNT(*) FROM (
        SELECT r.decided_ns / {HOUR_NS} AS h, r.recipe_id AS rid,
               {_CELL.format(n=GRID_COLS, a=0, b=2, size="r.image_w")} AS x,
               {_CELL.format(n=GRID_ROWS, a=1, b=3, size="r.image_h")} AS y
        FROM results AS r, json_each(r.findings_json) AS f
        WHERE r.verdict = 'reject' AND json_extract(f.value, '$.score') >= 0.5)
    GROUP BY h, rid, x, y;
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


def _once(conn: sqlite3.Connection, key: str, backfill: str, trigger: str) -> None:
    """Back-fill and create the trigger in one transaction, once per store (meta ``key``)."""
    if conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone() is not None:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone() is None:
            for stmt in backfill.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            conn.execute(trigger)
            conn.execute("INSERT INTO meta (key, value) VALUES (?, '1')", (key,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def install(conn: sqlite3.Connection) -> None:
    """Create the indexes, the aggregate tables and their triggers (idempotent; back-fills once)."""
    conn.executescript(INDEXES + TABLES)
    _once(conn, META_KEY, BACKFILL, TRIGGER)
    _once(conn, DEFECTS_KEY, DEFECTS_BACKFILL, DEFECTS_TRIGGER)
