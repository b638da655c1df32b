"""Result store: records round-trip, images and overlays, queries, review and audit."""

from __future__ import annotations

import sqlite3
import time

import cv2
import numpy as np
import pytest

from inspection.errors import ConfigError, StoreError
from inspection.record import PartInfo, PartRecord
from inspection.store import ImageState, ResultQuery, ResultStore, ReviewStatus, StoreConfig
from inspection.store.schema import SCHEMA_VERSION


@pytest.fixture
def store(tmp_path):
    with ResultStore(StoreConfig(tmp_path / "data", save_pass_every=3)) as s:
        yield s


def _submit(store, part_factory, n, *, defective_every=2, start=0, shift=(0, 0)):
    records = []
    for i in range(start, start + n):
        result, image = part_factory(i, defective=(i % defective_every == 0), shift=shift)
        rec = PartRecord(result, PartInfo(trigger_seq=i, part_id=1000 + i, part_id_str=f"SN-{i:04d}",
                                          recipe_number=3, model_hash="abc123", camera_id="cam0",
                                          station_id="st1"))
        assert store.submit(rec, image)
        records.append((rec, image))
    assert store.flush(10)
    return records


def test_records_round_trip_with_all_fields(store, part_factory):
    records = _submit(store, part_factory, 6)
    for rec, _ in records:
        got = store.get(rec.result_id)
        assert got is not None
        d = rec.to_dict()
        assert (got.verdict, got.code, got.trigger_seq, got.part_id, got.part_id_str) == (
            rec.verdict, int(rec.result.code), rec.part.trigger_seq, rec.part.part_id, rec.part.part_id_str)
        assert (got.recipe_id, got.recipe_number, got.model_hash) == ("pcb-a", 3, "abc123")
        assert got.findings == d["findings"] and got.overlay == d["overlay"]
        assert got.timings_ms == d["timings_ms"] and got.cycle_ms == pytest.approx(rec.cycle_ms)
        assert got.defect_count == len(rec.result.reported)
        assert got.decided_ns == rec.decided_ns and got.stored_ns >= rec.decided_ns
        assert got.alignment is not None and got.alignment["ok"] is True
    assert store.stats().committed == 6
    assert store.get("0" * 20) is None


def test_rejects_always_saved_passes_sampled_with_overlay(store, part_factory):
    records = _submit(store, part_factory, 12, defective_every=4)
    passes = [r.result_id for r, _ in records if r.verdict == "pass"]
    for i, (rec, image) in enumerate(records):
        got = store.require(rec.result_id)
        if rec.verdict == "reject":
            assert got.image_state is ImageState.SAVED
        else:
            sampled = (passes.index(rec.result_id) + 1) % 3 == 0
            assert got.image_state is (ImageState.SAVED if sampled else ImageState.NONE), i
        if got.image_state is ImageState.SAVED:
            raw = cv2.imread(str(store.image_file(rec.result_id)), cv2.IMREAD_UNCHANGED)
            np.testing.assert_array_equal(raw, image)  # lossless
            ovl = cv2.imread(str(store.image_file(rec.result_id, overlay=True)))
            assert ovl.shape == (*image.shape, 3)
            if rec.verdict == "reject":
                # The defect's outline is drawn in red around the finding's box.
                x1, y1, x2, y2 = (int(v) for v in rec.result.findings[0].box)
                ring = ovl[max(0, y1 - 2):y2 + 2, max(0, x1 - 2):x2 + 2].reshape(-1, 3).astype(int)
                red = (ring[:, 2] > 150) & (ring[:, 1] < 110) & (ring[:, 0] < 110)
                assert red.sum() >= 8
        else:
            with pytest.raises(StoreError) as err:
                store.image_file(rec.result_id)
            assert err.value.key == "no_image"


def test_overlay_follows_the_alignment(store, part_factory):
    (rec, _), = _submit(store, part_factory, 1, shift=(9, 5))
    got = store.require(rec.result_id)
    x1, y1, _, _ = rec.result.findings[0].box
    xs = [p[0] for p in got.overlay[0]["points"]]
    ys = [p[1] for p in got.overlay[0]["points"]]
    assert min(xs) == pytest.approx(x1 + 9 - 0.5, abs=1.0) and min(ys) == pytest.approx(y1 + 5, abs=1.0)


def test_query_filters_and_paging(store, part_factory):
    t0 = time.time_ns()
    records = _submit(store, part_factory, 10)
    assert store.count(ResultQuery()) == 10
    assert {r.verdict for r in store.query(ResultQuery(verdict="reject"))} == {"reject"}
    assert store.count(ResultQuery(verdict="reject")) == 5
    assert store.count(ResultQuery(code=1)) == 5
    assert store.count(ResultQuery(recipe_id="nope")) == 0
    assert [r.part_id_str for r in store.query(ResultQuery(part="SN-0007"))] == ["SN-0007"]
    assert store.count(ResultQuery(part="1003")) == 1  # numeric part id
    assert store.count(ResultQuery(part="%")) == 0
    assert store.count(ResultQuery(part="SN-000")) == 10  # the start of the serial
    assert store.count(ResultQuery(part="0007")) == 0 and store.count(ResultQuery(part="*0007")) == 1  # anywhere
    assert store.count(ResultQuery(part="*%")) == 0  # LIKE wildcards are escaped
    assert store.count(ResultQuery(trigger_seq=4)) == 1
    assert store.count(ResultQuery(since_ns=t0)) == 10
    assert store.count(ResultQuery(until_ns=t0)) == 0
    assert store.count(ResultQuery(has_image=True)) == 5 + 1  # 5 rejects + every 3rd of 5 passes
    page1 = store.query(ResultQuery(limit=4))
    page2 = store.query(ResultQuery(limit=4, before_seq=page1[-1].seq))
    assert [r.result_id for r in page1 + page2] == [r.result_id for r, _ in records[::-1][:8]]
    assert store.count(ResultQuery(review="pending")) == 5


def test_review_rules_and_audit(store, part_factory):
    records = _submit(store, part_factory, 4)
    rej = [r for r, _ in records if r.verdict == "reject"]
    ok = [r for r, _ in records if r.verdict == "pass"]

    got = store.review(rej[0].result_id, decision=ReviewStatus.CONFIRMED, user="olga")
    assert got.review is not None
    assert got.review.status is ReviewStatus.CONFIRMED and got.review.user == "olga"

    with pytest.raises(StoreError) as e:
        store.review(rej[1].result_id, decision=ReviewStatus.OVERRIDDEN, user="olga", reason=" ")
    assert e.value.key == "reason_required"
    with pytest.raises(StoreError) as e:
        store.review(ok[0].result_id, decision=ReviewStatus.CONFIRMED, user="olga")
    assert e.value.key == "not_reviewable"
    with pytest.raises(StoreError) as e:
        store.review("f" * 20, decision=ReviewStatus.CONFIRMED, user="olga")
    assert e.value.key == "unknown_result"
    with pytest.raises(StoreError) as e:
        store.review(rej[0].result_id, decision=ReviewStatus.OVERRIDDEN, user="olga", reason="dust")
    assert e.value.key == "already_reviewed"
    with pytest.raises(StoreError) as e:
        store.review(rej[0].result_id, decision=ReviewStatus.NONE, user="olga")
    assert e.value.key == "bad_review"

    changed = store.review(rej[0].result_id, decision=ReviewStatus.OVERRIDDEN, user="erik",
                           reason="dust on the lens", may_change=True)
    assert changed.review is not None and changed.review.reason == "dust on the lens"
    assert store.count(ResultQuery(review="overridden")) == 1
    log = store.audit_log(action="review")
    assert [(a.user, a.target) for a in log] == [("erik", f"result:{rej[0].result_id}"),
                                                 ("olga", f"result:{rej[0].result_id}")]
    assert '"status":"confirmed"' in (log[0].old_value or "")
    assert '"status":"overridden"' in (log[0].new_value or "")


def test_audit_meta_and_counts(store, part_factory):
    aid = store.audit(user="ann", action="set_thresholds", target="recipe:a", old={"x": 1}, new={"x": 2})
    assert aid > 0
    (entry,) = store.audit_log(user="ann")
    assert (entry.old_value, entry.new_value) == ('{"x":1}', '{"x":2}')
    store.set_meta("k", "v1")
    store.set_meta("k", "v2")
    assert store.get_meta("k") == "v2" and store.get_meta("missing") is None
    _submit(store, part_factory, 5)
    c = store.counts()
    assert (c.total, c.passed, c.rejected) == (5, 2, 3)


def test_reopen_keeps_everything_and_refuses_newer_schema(tmp_path, part_factory):
    cfg = StoreConfig(tmp_path)
    with ResultStore(cfg) as s:
        recs = _submit(s, part_factory, 3)
    with ResultStore(cfg) as s:
        assert s.count(ResultQuery()) == 3 and s.integrity() == (True, "ok")
        assert s.get(recs[0][0].result_id) is not None
    conn = sqlite3.connect(cfg.db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError) as e:
        ResultStore(cfg)
    assert e.value.key == "store_schema"


def test_closed_store_and_bad_config(tmp_path, part_factory):
    s = ResultStore(StoreConfig(tmp_path)).start()
    s.close()
    result, image = part_factory(0)
    assert s.submit(PartRecord(result), image) is False
    with pytest.raises(StoreError) as e:
        s.get("0" * 20)
    assert e.value.key == "store_closed"
    with pytest.raises(ConfigError):
        StoreConfig(tmp_path, queue_max=0)
    with pytest.raises(ConfigError):
        StoreConfig(tmp_path, synchronous="OFF")  # type: ignore[arg-type]


def _other_process_reads(db, sql: str) -> object:
    """``sql`` through a connection of another process, closed at its end (a reader, a CLI)."""
    import subprocess
    import sys

    code = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
            "print(c.execute(sys.argv[2]).fetchone()[0]); c.close()")
    out = subprocess.run([sys.executable, "-c", code, str(db), sql], capture_output=True, text=True,
                         check=True, timeout=30)
    return int(out.stdout)


def test_writes_stay_visible_after_another_process_closes_its_connection(tmp_path, part_factory):
    """The store opens the database more than once in its process (its own connection, the writer's,
    the audit's). Another process that opens and closes a connection must not be able to take the
    station for gone: before the fix, opening a second connection closed a plain descriptor of the
    file, which released SQLite's locks; the other process's close then checkpointed and deleted the
    WAL and every later commit of the station went to the deleted WAL (lost: reviews and audit
    entries answered with 200 were missing from the file)."""
    with ResultStore(StoreConfig(tmp_path / "data")) as store:
        records = _submit(store, part_factory, 4)
        db = store.config.db_path
        assert _other_process_reads(db, "SELECT COUNT(*) FROM results") == 4
        rej = next(r for r, _ in records if r.verdict == "reject")
        store.review(rej.result_id, decision=ReviewStatus.CONFIRMED, user="olga")
        aid = store.audit(user="ann", action="set_thresholds", target="recipe:a", old=1, new=2)
        _submit(store, part_factory, 2, start=4)
        # what the file holds for everyone else, not only what the station's own connection sees
        assert _other_process_reads(db, "SELECT COUNT(*) FROM results WHERE review_status = 'confirmed'") == 1
        assert _other_process_reads(db, "SELECT MAX(id) FROM audit") == aid
        assert _other_process_reads(db, "SELECT COUNT(*) FROM results") == 6
        assert db.with_name(db.name + "-wal").exists()  # the station's WAL was not taken from it
    assert oct(db.stat().st_mode & 0o777) == oct(0o600)
