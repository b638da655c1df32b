"""The SQLite schema of the result store and how connections to it are opened."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

from inspection.errors import StoreError
from inspection.store import aggregates

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS results (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    result_id      TEXT NOT NULL UNIQUE,
    trigger_seq    INTEGER NOT NULL,
    part_id        INTEGER NOT NULL,
    part_id_str    TEXT NOT NULL,
    recipe_id      TEXT NOT NULL,
    recipe_number  INTEGER NOT NULL,
    model_hash     TEXT NOT NULL,
    camera_id      TEXT NOT NULL,
    station_id     TEXT NOT NULL,
    verdict        TEXT NOT NULL CHECK (verdict IN ('pass', 'reject')),
    code           INTEGER NOT NULL CHECK (code BETWEEN 1 AND 255),
    message        TEXT NOT NULL,
    defect_count   INTEGER NOT NULL,
    max_score      REAL NOT NULL,
    worst_class    INTEGER,
    findings_json  TEXT NOT NULL,
    overlay_json   TEXT NOT NULL,
    alignment_json TEXT,
    timings_json   TEXT NOT NULL,
    cycle_ms       REAL NOT NULL,
    image_h        INTEGER NOT NULL,
    image_w        INTEGER NOT NULL,
    trigger_ns     INTEGER NOT NULL,
    decided_ns     INTEGER NOT NULL,
    stored_ns      INTEGER NOT NULL,
    image_state    TEXT NOT NULL DEFAULT 'none'
                   CHECK (image_state IN ('none', 'saved', 'dropped', 'failed', 'skipped_disk', 'deleted')),
    image_path     TEXT,
    overlay_path   TEXT,
    image_bytes    INTEGER NOT NULL DEFAULT 0,
    review_status  TEXT NOT NULL DEFAULT 'none' CHECK (review_status IN ('none', 'confirmed', 'overridden')),
    review_reason  TEXT,
    review_user    TEXT,
    review_ns      INTEGER,
    heat_json      TEXT
);
CREATE INDEX IF NOT EXISTS results_decided ON results (decided_ns);
CREATE INDEX IF NOT EXISTS results_verdict ON results (verdict, decided_ns);
CREATE INDEX IF NOT EXISTS results_review ON results (review_status, verdict);
CREATE INDEX IF NOT EXISTS results_part ON results (part_id_str);
CREATE INDEX IF NOT EXISTS results_images ON results (image_state, verdict, decided_ns);

CREATE TABLE IF NOT EXISTS audit (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ns     INTEGER NOT NULL,
    user      TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT,
    detail    TEXT
);
CREATE INDEX IF NOT EXISTS audit_ts ON audit (ts_ns);

CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def private_file(path: Path) -> None:
    """Create ``path`` readable by its owner only (0600), or tighten an existing one; SQLite gives
    its -wal and -shm files the database file's permissions.

    An existing file is never opened here: closing any descriptor of a file releases every POSIX
    lock this process holds on it, SQLite's included. A process whose connection had silently lost
    its shared lock lets the next other process that closes a connection (a reader, a CLI) believe
    it was the last one: that process checkpoints and deletes the WAL, and this process's later
    commits go to the deleted WAL, seen by no one and lost (reviews and audit entries in the
    lifecycle-demo test). Only a file that does not exist yet is created (O_EXCL: no connection
    can hold it)."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        pass
    else:
        os.close(fd)
    os.chmod(path, 0o600)


def connect(path: Path, *, synchronous: str = "FULL", readonly: bool = False) -> sqlite3.Connection:
    """Open ``path`` in WAL mode with autocommit (transactions are explicit ``BEGIN IMMEDIATE``).
    The connection may be used from any thread; callers serialise access themselves."""
    if not readonly:
        private_file(path)
    try:
        if readonly:
            # not mode=ro: a read-only connection to a WAL database that a station is writing fails
            # now and then with SQLITE_IOERR_SHORT_READ ("disk I/O error") when the writer restarts
            # the WAL; an ordinary connection that refuses writes (query_only) shares the WAL index
            # like any reader. mode=rw: a missing file is an error, not a new empty database; a
            # store the user may not write (a copy on a read-only medium) is opened mode=ro.
            mode = "rw" if os.access(path, os.W_OK) and os.access(path.parent, os.W_OK) else "ro"
            conn = sqlite3.connect(f"file:{path}?mode={mode}", uri=True, isolation_level=None,
                                   check_same_thread=False, timeout=10.0)
            conn.execute("PRAGMA query_only = ON")
        else:
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=10.0)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 10000")
        if not readonly:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{path}: cannot enable WAL journal (got {mode})", key="store_io")
        conn.execute(f"PRAGMA synchronous = {'FULL' if synchronous == 'FULL' else 'NORMAL'}")
        return conn
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot open the result database: {exc}", key="store_io") from exc


def init_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Create the tables (idempotent) and refuse a database written by a newer version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path}: schema version {version} is newer than this software "
                         f"({SCHEMA_VERSION}); upgrade the station software", key="store_schema")
    try:
        conn.executescript(_DDL)
        _add_columns(conn)
        aggregates.install(conn)
        if version < SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot create the schema: {exc}", key="store_io") from exc


#: columns added after schema version 1 was released: nullable, so software that does not know them
#: keeps working on the same database (no version bump, no refusal on a downgrade)
_ADDED_COLUMNS = {"heat_json": "TEXT"}  # the stored heat map's kind and threshold (JSON), or NULL


def _add_columns(conn: sqlite3.Connection) -> None:
    have = {r[1] for r in conn.execute("PRAGMA table_info(results)").fetchall()}
    for name, kind in _ADDED_COLUMNS.items():
        if name not in have:
            conn.execute(f"ALTER TABLE results ADD COLUMN {name} {kind}")
            logger.info("result store: column %s added", name)


def integrity_ok(conn: sqlite3.Connection) -> tuple[bool, str]:
    """``PRAGMA integrity_check``: (True, "ok") or (False, the first problems)."""
    rows = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
    return rows == ["ok"], "; ".join(rows[:5])
