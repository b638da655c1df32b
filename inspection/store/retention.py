"""Retention: delete what the policy says is too old, over quota, or needed for free disk space.

Under pressure (quota, free space) pass images go before reject images, oldest first. Records go by
age, and under pressure too (``max_records``, or free space still too low when no image is left):
oldest passes first, then unreviewed rejects, reviewed rejects last (issue #13: at 20 parts/s the
records alone fill a panel PC's disk in months). Files are deleted before the
database is updated, so a crash in between leaves a record pointing at a missing file (served as
"image deleted"), never an orphan file that nothing would ever delete.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from inspection.store.config import RetentionPolicy
from inspection.store.images import ImageStore

logger = logging.getLogger(__name__)

NS_PER_DAY = 86_400 * 10**9

FreeBytes = Callable[[Path], int]


def disk_free_bytes(path: Path) -> int:
    """Free bytes on the file system holding ``path`` (for unprivileged users)."""
    return shutil.disk_usage(path).free


@dataclass(frozen=True)
class RetentionReport:
    images_deleted: int = 0
    records_deleted: int = 0
    bytes_freed: int = 0
    free_bytes: int = 0
    low_disk: bool = False  # still below min_free_bytes after this run
    critical_disk: bool = False  # below min_free_bytes / 2: new images are skipped
    records: int = 0  # records kept after this run
    records_near_limit: bool = False  # at records_warn_fraction of max_records or more


def apply_retention(conn: sqlite3.Connection, images: ImageStore, policy: RetentionPolicy, *,
                    now_ns: int, free_bytes: FreeBytes = disk_free_bytes) -> RetentionReport:
    """One retention pass (at most ``policy.batch`` files); ``conn`` must not be in a transaction."""
    budget = policy.batch
    freed = 0
    n_images = 0
    n_records = 0

    # 1. Records (and their images) past the record age.
    cutoff = now_ns - int(policy.record_max_age_days * NS_PER_DAY)
    rows = conn.execute("SELECT seq, image_path, overlay_path FROM results WHERE decided_ns < ? "
                        "ORDER BY seq LIMIT ?", (cutoff, budget)).fetchall()
    if rows:
        for r in rows:
            freed += images.delete(r["image_path"], r["overlay_path"])
        _in_txn(conn, "DELETE FROM results WHERE seq = ?", [(r["seq"],) for r in rows])
        n_records = len(rows)
        budget -= len(rows)

    # 2. Images past the image age.
    cutoff = now_ns - int(policy.image_max_age_days * NS_PER_DAY)
    if budget > 0:
        rows = conn.execute("SELECT seq, image_path, overlay_path, image_bytes FROM results "
                            "WHERE image_state = 'saved' AND decided_ns < ? ORDER BY decided_ns LIMIT ?",
                            (cutoff, budget)).fetchall()
        f, n = _delete_images(conn, images, rows, need=None)
        freed, n_images, budget = freed + f, n_images + n, budget - n

    # 3. Image folder quota.
    if policy.max_image_bytes and budget > 0:
        total = conn.execute("SELECT COALESCE(SUM(image_bytes), 0) FROM results "
                             "WHERE image_state = 'saved'").fetchone()[0]
        if total > policy.max_image_bytes:
            f, n = _delete_images(conn, images, _pressure_rows(conn, budget),
                                  need=total - policy.max_image_bytes)
            freed, n_images, budget = freed + f, n_images + n, budget - n

    # 4. Free disk space (with 10 % hysteresis, so it does not run on every pass).
    free = free_bytes(images.root)
    if policy.min_free_bytes and free < policy.min_free_bytes and budget > 0:
        need = policy.min_free_bytes - free + policy.min_free_bytes // 10
        f, n = _delete_images(conn, images, _pressure_rows(conn, budget), need=need)
        freed, n_images = freed + f, n_images + n
        free = free_bytes(images.root)
    # 5. Records: over max_records, or the disk still too full with no image left to delete.
    count = int(conn.execute("SELECT COUNT(*) FROM results").fetchone()[0])
    if policy.max_records and count > policy.max_records:
        n, f = _delete_records(conn, images, count - policy.max_records, budget=policy.batch)
        n_records, freed, count = n_records + n, freed + f, count - n
    if policy.min_free_bytes and free < policy.min_free_bytes // 8:
        left = conn.execute("SELECT COUNT(*) FROM results WHERE image_state = 'saved'").fetchone()[0]
        if not left:
            n, f = _delete_records(conn, images, policy.batch, budget=policy.batch)
            n_records, freed, count = n_records + n, freed + f, count - n
            free = free_bytes(images.root)
    near = bool(policy.max_records) and count >= policy.max_records * policy.records_warn_fraction
    if n_images:
        images.prune_empty_dirs()
    low = bool(policy.min_free_bytes) and free < policy.min_free_bytes
    critical = bool(policy.min_free_bytes) and free < policy.min_free_bytes // 2
    if n_images or n_records:
        logger.info("retention: deleted %d images and %d records, freed %.1f MB (free %.1f GB)",
                    n_images, n_records, freed / 1e6, free / 1e9)
    if near:
        logger.warning("retention: %d records kept, %.0f %% of max_records %d: the oldest passes go next",
                       count, 100.0 * count / policy.max_records, policy.max_records)
    return RetentionReport(n_images, n_records, freed, free, low, critical, count, near)


def _delete_records(conn: sqlite3.Connection, images: ImageStore, n: int, *, budget: int) -> tuple[int, int]:
    """Delete ``n`` records (at most ``budget``) in pressure order: passes, then unreviewed rejects,
    then reviewed rejects, oldest first in each; returns (records deleted, bytes freed)."""
    rows = conn.execute("SELECT seq, image_path, overlay_path FROM results "
                        "ORDER BY (verdict = 'reject'), (review_status != 'none'), decided_ns LIMIT ?",
                        (min(n, budget),)).fetchall()
    freed = 0
    for r in rows:
        freed += images.delete(r["image_path"], r["overlay_path"])
    if rows:
        _in_txn(conn, "DELETE FROM results WHERE seq = ?", [(r["seq"],) for r in rows])
        logger.warning("retention: %d records deleted under pressure (oldest passes first)", len(rows))
    return len(rows), freed


def _pressure_rows(conn: sqlite3.Connection, limit: int) -> list[sqlite3.Row]:
    """Saved images in the order they go under pressure: passes first, then oldest first."""
    return conn.execute("SELECT seq, image_path, overlay_path, image_bytes FROM results "
                        "WHERE image_state = 'saved' "
                        "ORDER BY (verdict = 'reject'), decided_ns LIMIT ?", (limit,)).fetchall()


def _delete_images(conn: sqlite3.Connection, images: ImageStore, rows: list[sqlite3.Row], *,
                   need: int | None) -> tuple[int, int]:
    """Delete the images of ``rows`` in order (all of them, or until ``need`` bytes are freed)."""
    freed = 0
    done: list[tuple[int]] = []
    for r in rows:
        if need is not None and freed >= need:
            break
        freed += images.delete(r["image_path"], r["overlay_path"])
        done.append((r["seq"],))
    if done:
        _in_txn(conn, "UPDATE results SET image_state = 'deleted', image_path = NULL, "
                      "overlay_path = NULL, image_bytes = 0 WHERE seq = ?", done)
    return freed, len(done)


def _in_txn(conn: sqlite3.Connection, sql: str, params: list[tuple[int]]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(sql, params)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
