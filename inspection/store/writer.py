"""The store's background writer: the hot path enqueues, one thread writes images and commits.

``submit`` never blocks and never does I/O: it decides whether the part's image is kept, appends to
a bounded queue and returns. Policy when the writer falls behind (clear, counted, logged):

1. the image budget (``pending_image_bytes_max``) is full -> the new part's image is dropped,
   its record is kept with ``image_state='dropped'`` (``images_dropped``);
2. the record queue (``queue_max``) is full -> the new record is dropped (``records_dropped``).

The writer commits batches of up to ``batch_max`` records in one transaction (see ``commit.py``: a
failing commit is retried, never silently discarded while the station runs; meanwhile the queue
fills and the policy above applies).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from inspection.errors import StoreError
from inspection.record import PartRecord
from inspection.store.commit import BatchCommitter
from inspection.store.config import StoreConfig
from inspection.store.images import ImageStore
from inspection.store.retention import FreeBytes, RetentionReport, apply_retention, disk_free_bytes
from inspection.store.rows import ImageState, record_row
from inspection.store.schema import connect

logger = logging.getLogger(__name__)

OnCommit = Callable[[Sequence[str]], None]


@dataclass(frozen=True)
class WriterStats:
    submitted: int
    committed: int
    queued: int
    pending_image_bytes: int
    records_dropped: int
    images_dropped: int
    images_saved: int
    images_failed: int
    images_skipped_disk: int
    write_errors: int
    batches: int
    last_batch_ms: float
    last_commit_ns: int
    alive: bool
    low_disk: bool
    last_error: str
    records_near_limit: bool = False


@dataclass
class _Item:
    record: PartRecord
    image: np.ndarray | None
    state: ImageState
    nbytes: int


class StoreWriter:
    def __init__(self, config: StoreConfig, images: ImageStore, *, on_commit: OnCommit | None = None,
                 free_bytes: FreeBytes = disk_free_bytes) -> None:
        self.config = config
        self.images = images
        self.on_commit = on_commit
        self.free_bytes = free_bytes
        self._cond = threading.Condition()
        self._queue: deque[_Item] = deque()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._retention_wanted = False
        self._retention_done: RetentionReport | None = None
        self._retention_requests = 0  # tickets handed out by run_retention
        self._retention_served = 0  # the last ticket a finished pass started after
        self._pass_count = 0
        self._low_disk = False
        self._records_near = False
        self._critical_disk = False
        self._committer = BatchCommitter(on_error=self._commit_failed,
                                         on_row_dropped=lambda: self._count("records_dropped"))
        self.c = {k: 0 for k in ("submitted", "committed", "finished", "records_dropped", "images_dropped",
                                 "images_saved", "images_failed", "images_skipped_disk", "write_errors",
                                 "batches", "pending_image_bytes", "last_commit_ns")}
        self._last_batch_ms = 0.0
        self._last_error = ""

    # ---- hot path -------------------------------------------------------------------------------
    def submit(self, record: PartRecord, image: np.ndarray | None = None) -> bool:
        """Queue ``record`` (and ``image``, the acquired part image, which must not be mutated
        afterwards; a writeable array is copied). Returns False when the record was dropped."""
        state = ImageState.NONE
        nbytes = 0
        with self._cond:
            want = image is not None and (record.verdict == "reject" or self._sample_pass())
            if self._closing or self._thread is None:
                self.c["records_dropped"] += 1
                return False
            if len(self._queue) >= self.config.queue_max:
                self.c["records_dropped"] += 1
                self._log_drop("record queue full (%d): record %s dropped", self.config.queue_max,
                               record.result_id)
                return False
            if want and self._critical_disk:
                state = ImageState.SKIPPED_DISK
                self.c["images_skipped_disk"] += 1
            elif want:
                assert image is not None
                nbytes = int(image.nbytes)
                if self.c["pending_image_bytes"] + nbytes > self.config.pending_image_bytes_max:
                    state, nbytes = ImageState.DROPPED, 0
                    self.c["images_dropped"] += 1
                    self._log_drop("image budget full: image of %s dropped (record kept)", record.result_id)
                else:
                    state = ImageState.SAVED
                    self.c["pending_image_bytes"] += nbytes
            keep = image if state is ImageState.SAVED else None
            if keep is not None and keep.flags.writeable:
                keep = keep.copy()
            self._queue.append(_Item(record, keep, state, nbytes))
            self.c["submitted"] += 1
            self._cond.notify_all()
        return True

    def _sample_pass(self) -> bool:
        n = self.config.save_pass_every
        if n <= 0:
            return False
        self._pass_count += 1
        return self._pass_count % n == 0

    def _log_drop(self, msg: str, *args: object) -> None:
        total = self.c["records_dropped"] + self.c["images_dropped"]
        (logger.error if total in (1, 10, 100, 1000) or total % 10000 == 0 else logger.debug)(msg, *args)

    # ---- control --------------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> None:
        """Start the writer thread; returns once its first retention pass has run (so the disk
        state is known before the first image), or after ``timeout``."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()
        with self._cond:
            self._cond.wait_for(lambda: self._retention_done is not None or not self.alive, timeout)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is committed (or given up); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self.c["submitted"]
            while self.c["finished"] < target:
                left = deadline - time.monotonic()
                if left <= 0 or not self.alive:
                    return False
                self._cond.wait(left)
        return True

    def run_retention(self, timeout: float = 60.0) -> RetentionReport:
        """Ask the writer thread for a retention pass now and wait for its report."""
        with self._cond:
            if not self.alive:
                raise StoreError("the store writer is not running", key="store_closed")
            self._retention_requests += 1
            ticket = self._retention_requests
            self._retention_wanted = True
            self._cond.notify_all()
            if not self._cond.wait_for(lambda: self._retention_served >= ticket or not self.alive, timeout):
                raise StoreError("retention did not finish in time", key="store_io")
            assert self._retention_done is not None
            return self._retention_done

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.error("store writer did not stop within %.0f s; %d records still queued",
                             timeout, len(self._queue))

    @property
    def last_retention(self) -> RetentionReport | None:
        """The report of the last retention pass (one runs when the writer starts)."""
        return self._retention_done

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stats(self) -> WriterStats:
        with self._cond:
            c = dict(self.c)
            queued = len(self._queue)
        return WriterStats(
            submitted=c["submitted"], committed=c["committed"], queued=queued,
            pending_image_bytes=c["pending_image_bytes"], records_dropped=c["records_dropped"],
            images_dropped=c["images_dropped"], images_saved=c["images_saved"],
            images_failed=c["images_failed"], images_skipped_disk=c["images_skipped_disk"],
            write_errors=c["write_errors"], batches=c["batches"], last_batch_ms=self._last_batch_ms,
            last_commit_ns=c["last_commit_ns"], alive=self.alive, low_disk=self._low_disk,
            last_error=self._last_error, records_near_limit=self._records_near)

    # ---- writer thread --------------------------------------------------------------------------
    def _run(self) -> None:
        conn = connect(self.config.db_path, synchronous=self.config.synchronous)
        try:
            self._retention(conn)  # once at start: learn the disk state before the first image
            next_retention = time.monotonic() + self.config.retention_interval_s
            while True:
                with self._cond:
                    while (not self._queue and not self._closing and not self._retention_wanted
                           and time.monotonic() < next_retention):
                        self._cond.wait(max(0.0, next_retention - time.monotonic()))
                    batch = [self._queue.popleft() for _ in range(min(len(self._queue),
                                                                      self.config.batch_max))]
                    closing = self._closing
                    want_ret = self._retention_wanted
                if batch:
                    try:
                        self._write_batch(conn, batch, closing=closing)
                    except Exception as exc:  # a bug must not stop the writer: log, count, go on
                        logger.exception("store writer failed on a batch of %d", len(batch))
                        self._last_error = f"batch: {exc}"
                        with self._cond:
                            self.c["write_errors"] += 1
                            self.c["records_dropped"] += len(batch)
                            self.c["finished"] += len(batch)
                            self.c["pending_image_bytes"] -= sum(i.nbytes for i in batch
                                                                 if i.image is not None)
                            self._cond.notify_all()
                if want_ret or time.monotonic() >= next_retention:
                    self._retention(conn)
                    next_retention = time.monotonic() + self.config.retention_interval_s
                if closing and not batch:
                    with self._cond:
                        if not self._queue:
                            break
        finally:
            conn.close()
            with self._cond:
                self._cond.notify_all()

    def _retention(self, conn: sqlite3.Connection) -> None:
        with self._cond:
            serving = self._retention_requests
            self._retention_wanted = False
        try:
            report = apply_retention(conn, self.images, self.config.retention, now_ns=time.time_ns(),
                                     free_bytes=self.free_bytes)
        except Exception as exc:  # retention must never stop the writer
            logger.exception("retention failed")
            report = RetentionReport()
            self._last_error = f"retention: {exc}"
        if report.critical_disk and not self._critical_disk:
            logger.error("disk nearly full (%.2f GB free): new images are skipped", report.free_bytes / 1e9)
        self._low_disk, self._critical_disk = report.low_disk, report.critical_disk
        self._records_near = report.records_near_limit
        with self._cond:
            self._retention_done = report
            self._retention_served = serving
            self._cond.notify_all()

    def _write_batch(self, conn: sqlite3.Connection, batch: list[_Item], *, closing: bool) -> None:
        t0 = time.perf_counter()
        rows = []
        for item in batch:
            paths: tuple[str | None, str | None, int, bool] = (None, None, 0, False)
            if item.state is ImageState.SAVED and item.image is not None:
                try:
                    saved = self.images.save(item.record, item.image)
                    paths = (saved.image_path, saved.overlay_path, saved.nbytes, saved.heat)
                    self._count("images_saved")
                except Exception as exc:
                    logger.error("cannot save the image of %s: %s", item.record.result_id, exc)
                    item.state = ImageState.FAILED
                    self._count("images_failed")
                finally:
                    item.image = None
                    with self._cond:
                        self.c["pending_image_bytes"] -= item.nbytes
            rows.append(record_row(item.record, stored_ns=time.time_ns(), image_state=item.state,
                                   image_path=paths[0], overlay_path=paths[1], image_bytes=paths[2],
                                   heat=paths[3]))
        ids = self._committer.commit(conn, rows, closing=closing)
        with self._cond:
            self.c["committed"] += len(ids)
            self.c["finished"] += len(batch)
            self.c["batches"] += 1
            self.c["last_commit_ns"] = time.time_ns()
            self._cond.notify_all()
        self._last_batch_ms = (time.perf_counter() - t0) * 1e3
        if ids and self.on_commit is not None:
            try:
                self.on_commit(ids)
            except Exception:
                logger.exception("on_commit callback failed")

    def _commit_failed(self, message: str) -> None:
        self._last_error = message
        self._count("write_errors")

    def _count(self, key: str) -> None:
        with self._cond:
            self.c[key] += 1
