"""Retention by age, by image quota and by free disk space frees real disk space."""

from __future__ import annotations

import time
from pathlib import Path

from inspection.record import PartInfo, PartRecord
from inspection.store import ImageState, ResultQuery, ResultStore, RetentionPolicy, StoreConfig

DAY = 86_400 * 10**9


def _du(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _fill(store, part_factory, n, *, age_days=0.0, defective=lambda i: i % 2 == 0, size=(120, 160)):
    now = time.time_ns()
    ids = []
    for i in range(n):
        result, image = part_factory(i, defective=defective(i), size=size)
        rec = PartRecord(result, PartInfo(part_id=i), decided_ns=now - int(age_days * DAY) + i * 1000)
        assert store.submit(rec, image)
        ids.append(rec.result_id)
    assert store.flush(20)
    return ids


def test_age_deletes_old_images_then_old_records(tmp_path, part_factory):
    policy = RetentionPolicy(image_max_age_days=7, record_max_age_days=30, min_free_bytes=0)
    with ResultStore(StoreConfig(tmp_path, save_pass_every=1, retention=policy)) as store:
        very_old = _fill(store, part_factory, 3, age_days=40)
        old = _fill(store, part_factory, 4, age_days=10)
        new = _fill(store, part_factory, 4, age_days=0)
        old_files = [store.images.path(store.require(r).image_path or "") for r in old]
        before = _du(store.images.root)
        report = store.run_retention()
        assert report.records_deleted == 3 and report.images_deleted == 4
        assert all(store.get(r) is None for r in very_old)
        assert all(store.require(r).image_state is ImageState.DELETED for r in old)
        assert not any(p.exists() for p in old_files)
        assert all(store.require(r).image_state is ImageState.SAVED for r in new)
        assert report.bytes_freed == before - _du(store.images.root) > 0


def test_quota_deletes_pass_images_first_then_oldest_rejects(tmp_path, part_factory):
    with ResultStore(StoreConfig(tmp_path, save_pass_every=1,
                                 retention=RetentionPolicy(min_free_bytes=0))) as store:
        ids = _fill(store, part_factory, 12)
        total = _du(store.images.root)
        reject_bytes = sum(store.require(r).image_bytes for r in ids if store.require(r).verdict == "reject")
        # A quota that fits the rejects minus about two of them: all passes must go first.
        quota = reject_bytes - 2 * (reject_bytes // 6) + 10
        cfg = StoreConfig(tmp_path, save_pass_every=1,
                          retention=RetentionPolicy(min_free_bytes=0, max_image_bytes=quota))
    with ResultStore(cfg) as store:
        report = store.writer.last_retention  # the pass the writer runs when it starts
        assert report is not None
        assert store.run_retention().images_deleted == 0  # under quota now: nothing more to do
        saved = store.query(ResultQuery(has_image=True, limit=100))
        assert all(r.verdict == "reject" for r in saved)
        assert sum(r.image_bytes for r in saved) <= quota
        assert _du(store.images.root) <= quota
        assert report.bytes_freed >= total - quota - 100
        # The newest rejects survive; the oldest went.
        reject_ids = [r for r in ids if store.require(r).verdict == "reject"]
        assert {r.result_id for r in saved} == set(reject_ids[-len(saved):])


def test_low_free_space_frees_disk_and_skips_images_when_critical(tmp_path, part_factory):
    # A small simulated disk: its capacity is fixed, its use is the real size of the image folder.
    capacity = 0

    def free_bytes(root: Path) -> int:
        return capacity - _du(tmp_path / "images")

    cfg = StoreConfig(tmp_path, save_pass_every=1, retention=RetentionPolicy(min_free_bytes=0))
    with ResultStore(cfg) as store:
        ids = _fill(store, part_factory, 10)
    image_bytes = _du(tmp_path / "images")
    capacity = image_bytes + image_bytes // 4  # free: a quarter of the image bytes
    min_free = image_bytes // 2  # wants half of them free
    policy = RetentionPolicy(min_free_bytes=min_free)
    cfg = StoreConfig(tmp_path, save_pass_every=1, retention=policy)
    with ResultStore(cfg, free_bytes=free_bytes) as store:
        report = store.writer.last_retention  # the pass the writer runs when it starts
        assert report is not None
        assert store.run_retention().images_deleted == 0  # enough free now: nothing more to do
        assert report.images_deleted > 0 and not report.low_disk
        assert free_bytes(tmp_path) >= min_free
        assert store.count(ResultQuery(has_image=True)) > 0  # it stopped once enough was free
        gone = [r for r in ids if store.require(r).image_state is ImageState.DELETED]
        assert all(store.require(r).verdict == "pass" for r in gone[: len(gone) // 2 or 1])

        # Now the disk is nearly full even with every image deleted: new images are skipped.
        capacity = min_free // 4
        report = store.run_retention()
        assert report.critical_disk and report.low_disk
        assert store.count(ResultQuery(has_image=True)) == 0
        assert all(store.get(r) is not None for r in ids)  # records are never deleted for space
        new = _fill(store, part_factory, 2, defective=lambda i: True)
        assert all(store.require(r).image_state is ImageState.SKIPPED_DISK for r in new)
        assert store.stats().images_skipped_disk == 2


def test_records_go_under_pressure_passes_first_reviewed_rejects_last(tmp_path, part_factory):
    """Issue #13, item 8: records were deleted by age only and filled the disk."""
    from inspection.store import ReviewStatus

    with ResultStore(StoreConfig(tmp_path, save_pass_every=0,
                                 retention=RetentionPolicy(min_free_bytes=0))) as store:
        ids = _fill(store, part_factory, 12)  # even: rejects, odd: passes
        rejects = [r for r in ids if store.require(r).verdict == "reject"]
        store.review(rejects[0], decision=ReviewStatus.CONFIRMED, user="op")
    policy = RetentionPolicy(min_free_bytes=0, max_records=5)
    with ResultStore(StoreConfig(tmp_path, save_pass_every=0, retention=policy)) as store:
        report = store.run_retention()
        left = [r for r in ids if store.get(r) is not None]
        assert len(left) == 5 and report.records_near_limit
        assert all(store.require(r).verdict == "reject" for r in left)  # every pass went first
        assert rejects[0] in left  # the reviewed reject is kept longest
        assert store.stats().records_near_limit


def test_a_full_disk_deletes_records_when_no_image_is_left(tmp_path, part_factory):
    with ResultStore(StoreConfig(tmp_path, save_pass_every=0,
                                 retention=RetentionPolicy(min_free_bytes=0))) as store:
        ids = _fill(store, part_factory, 6, defective=lambda i: False)  # passes without images
    policy = RetentionPolicy(min_free_bytes=10**15, batch=4)  # the disk is "full"
    with ResultStore(StoreConfig(tmp_path, retention=policy), free_bytes=lambda p: 10**6) as store:
        first = store.writer.last_retention  # the pass the writer runs when it starts
        report = store.run_retention()
        assert first is not None and first.records_deleted == 4 and report.records_deleted == 2
        assert report.low_disk and all(store.get(r) is None for r in ids)
