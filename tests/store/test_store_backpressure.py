"""The writer never blocks the hot path: when it falls behind (here: another connection holds the
database's write lock), images and then records are dropped by the documented policy, counted, and
everything accepted is committed once the writer can write again."""

from __future__ import annotations

import sqlite3
import time

from inspection.record import PartInfo, PartRecord
from inspection.store import ImageState, ResultQuery, ResultStore, StoreConfig


def _locker(cfg: StoreConfig) -> sqlite3.Connection:
    conn = sqlite3.connect(cfg.db_path, isolation_level=None, timeout=5)
    conn.execute("BEGIN IMMEDIATE")  # holds the write lock: the writer's commit has to wait
    return conn


def test_record_queue_full_drops_new_records_and_counts_them(tmp_path, part_factory):
    cfg = StoreConfig(tmp_path, queue_max=5, batch_max=2)
    with ResultStore(cfg) as store:
        lock = _locker(cfg)
        accepted, refused = [], []
        t0 = time.perf_counter()
        for i in range(40):
            result, image = part_factory(i, defective=False)
            rec = PartRecord(result, PartInfo(part_id=i))
            (accepted if store.submit(rec, image) else refused).append(rec.result_id)
        submit_s = time.perf_counter() - t0
        stats = store.stats()
        assert stats.records_dropped == len(refused) >= 40 - 5 - 2
        assert stats.queued <= 5
        lock.execute("ROLLBACK")
        lock.close()
        assert store.flush(20)
        assert store.stats().committed == len(accepted)
        assert {r.result_id for r in store.query(ResultQuery(limit=100))} == set(accepted)
    # Blocking on the locked database would take the 10 s busy timeout at least.
    assert submit_s < 5.0


def test_image_budget_full_drops_images_but_keeps_records(tmp_path, part_factory):
    result, image = part_factory(0, defective=True)
    cfg = StoreConfig(tmp_path, queue_max=100, batch_max=1, pending_image_bytes_max=2 * image.nbytes)
    with ResultStore(cfg) as store:
        lock = _locker(cfg)
        ids = []
        for i in range(12):
            result, image = part_factory(i, defective=True)
            rec = PartRecord(result, PartInfo(part_id=i))
            assert store.submit(rec, image)
            ids.append(rec.result_id)
        stats = store.stats()
        assert stats.images_dropped >= 12 - 2 - 1  # 2 in the budget, 1 taken by the writer
        assert stats.pending_image_bytes <= 2 * image.nbytes
        lock.execute("ROLLBACK")
        lock.close()
        assert store.flush(20)
        got = [store.require(rid) for rid in ids]
        dropped = [g for g in got if g.image_state is ImageState.DROPPED]
        assert len(dropped) == store.stats().images_dropped
        assert all(g.image_path is None for g in dropped)
        assert all(g.image_state is ImageState.SAVED for g in got if g not in dropped)
        assert store.stats().pending_image_bytes == 0
