"""Read-only connections to the result store (what-if, replay, the outbox) while a station writes:
they read what was committed, never fail with an I/O error, and cannot write."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from inspection.errors import StoreError
from inspection.store.schema import connect


def test_readers_beside_a_busy_writer(tmp_path: Path) -> None:
    db = tmp_path / "results.db"
    w = connect(db)
    w.execute("CREATE TABLE t (i INTEGER PRIMARY KEY, blob BLOB)")
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        i = 0
        while not stop.is_set():
            w.execute("BEGIN IMMEDIATE")
            w.execute("INSERT INTO t (blob) VALUES (?)", (bytes(4000),))
            w.execute("COMMIT")
            i += 1
            if i % 50 == 0:  # the WAL is checkpointed and restarted from its start, as the store's is
                w.execute("PRAGMA wal_checkpoint(RESTART)")

    th = threading.Thread(target=write)
    th.start()
    try:
        seen = 0
        for _ in range(300):
            try:
                r = connect(db, readonly=True)
                n = r.execute("SELECT COUNT(*) FROM t").fetchone()[0]
                r.close()
            except (StoreError, sqlite3.Error) as exc:
                errors.append(exc)
                continue
            assert n >= seen
            seen = n
    finally:
        stop.set()
        th.join()
    assert not errors, errors[:3]
    assert seen > 0


def test_a_reader_cannot_write_nor_create(tmp_path: Path) -> None:
    db = tmp_path / "results.db"
    connect(db).execute("CREATE TABLE t (i INTEGER)")
    r = connect(db, readonly=True)
    with pytest.raises(sqlite3.OperationalError):
        r.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(StoreError):
        connect(tmp_path / "absent.db", readonly=True)
    assert not (tmp_path / "absent.db").exists()


def test_a_store_the_user_may_not_write_is_still_read(tmp_path: Path) -> None:
    db = tmp_path / "ro" / "results.db"
    db.parent.mkdir()
    c = connect(db)
    c.execute("CREATE TABLE t (i INTEGER)")
    c.execute("INSERT INTO t VALUES (7)")
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.execute("PRAGMA journal_mode = DELETE")  # a copied store: one file, no WAL beside it
    c.close()
    db.chmod(0o400)
    db.parent.chmod(0o500)
    try:
        r = connect(db, readonly=True)
        assert r.execute("SELECT i FROM t").fetchone()[0] == 7
        r.close()
    finally:
        db.parent.chmod(0o700)
