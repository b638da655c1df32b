"""Heat maps in the result store: written beside the part's image (8-bit PNG in the image's frame,
small), read back as stored, deleted with the image by retention; a database of the first schema
gets the new column and its rows still read."""

from __future__ import annotations

import dataclasses
import sqlite3
import time

import cv2
import numpy as np
import pytest

from inspection.errors import StoreError
from inspection.record import PartInfo, PartRecord
from inspection.store import ImageState, ResultStore, RetentionPolicy, StoreConfig
from inspection.store.images import heat_path
from inspection.vision.heatmap import MAX_SIDE, THRESHOLD_LEVEL, HeatMap, levels_in_image

DAY = 86_400 * 10**9


def _heat(shape: tuple[int, int], center: tuple[int, int]) -> HeatMap:
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    values = 0.9 * np.exp(-((xx - center[0]) ** 2 + (yy - center[1]) ** 2) / (2 * 10.0**2))
    return HeatMap.from_values(values.astype(np.float32), threshold=0.45, kind="anomaly", ref_shape=shape)


def _record(part_factory, i: int, *, heat: bool = True, size=(300, 400), shift=(12, -7), decided_ns=None):
    result, image = part_factory(i, defective=True, size=size, shift=shift)
    if heat:
        result = dataclasses.replace(result, heat_map=_heat(size, (200, 100)))
    kw = {} if decided_ns is None else {"decided_ns": decided_ns}
    return PartRecord(result, PartInfo(part_id=i), **kw), image


def test_heat_map_round_trip(tmp_path, part_factory):
    with ResultStore(StoreConfig(tmp_path, save_pass_every=0)) as store:
        rec, image = _record(part_factory, 1)
        plain, plain_image = _record(part_factory, 2, heat=False)
        assert store.submit(rec, image) and store.submit(plain, plain_image)
        assert store.flush(10)
        got = store.require(rec.result_id)
        hm = rec.result.heat_map
        assert hm is not None
        assert got.heat_map == hm.meta() and got.to_dict()["heat_map"] == hm.meta()
        path = store.heat_file(rec.result_id)
        assert path.name == f"{rec.result_id}.heat.png"
        levels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        # stored in the acquired image's frame: what levels_in_image gives, losslessly
        assert levels.dtype == np.uint8 and levels.shape == (192, 256) and max(levels.shape) <= MAX_SIDE
        np.testing.assert_array_equal(levels, levels_in_image(hm, rec.result.alignment, image.shape[:2]))
        y, x = np.unravel_index(int(np.argmax(levels)), levels.shape)  # the part lies 12 px right, 7 up
        assert abs(x / 0.64 - 212) <= 3 and abs(y / 0.64 - 93) <= 3
        assert levels.max() >= THRESHOLD_LEVEL
        assert path.stat().st_size < 20_000  # small beside the raw image
        assert got.image_bytes == sum(store.images.path(p).stat().st_size for p in
                                      (got.image_path or "", got.overlay_path or "", heat_path(got.image_path or "")))
        # a result without a heat map: none stored, a clear 404-style error
        assert store.require(plain.result_id).heat_map is None
        with pytest.raises(StoreError) as err:
            store.heat_file(plain.result_id)
        assert err.value.key == "no_heat_map"


def test_heat_map_needs_the_image(tmp_path, part_factory):
    """A pass outside the image sample keeps no image, so no heat map either (nothing to draw it on)."""
    with ResultStore(StoreConfig(tmp_path, save_pass_every=0)) as store:
        result, image = part_factory(3, defective=False)
        result = dataclasses.replace(result, heat_map=_heat((120, 160), (40, 40)))
        rec = PartRecord(result, PartInfo(part_id=3))
        assert store.submit(rec, image) and store.flush(10)
        got = store.require(rec.result_id)
        assert got.image_state is ImageState.NONE and got.heat_map is None
        assert not list(store.images.root.rglob("*.heat.png"))


def test_retention_deletes_the_heat_map_with_the_image(tmp_path, part_factory):
    policy = RetentionPolicy(image_max_age_days=7, record_max_age_days=30, min_free_bytes=0)
    with ResultStore(StoreConfig(tmp_path, save_pass_every=1, retention=policy)) as store:
        now = time.time_ns()
        old_img, old_rec = (_record(part_factory, i, decided_ns=now - int(age * DAY))
                            for i, age in ((4, 10), (5, 40)))
        new = _record(part_factory, 6)
        for rec, image in (old_img, old_rec, new):
            assert store.submit(rec, image)
        assert store.flush(10)
        files = {r.result_id: store.heat_file(r.result_id) for r, _ in (old_img, old_rec, new)}
        report = store.run_retention()
        assert report.images_deleted == 1 and report.records_deleted == 1
        assert not files[old_img[0].result_id].exists() and not files[old_rec[0].result_id].exists()
        assert files[new[0].result_id].exists()
        gone = store.require(old_img[0].result_id)
        assert gone.image_state is ImageState.DELETED and gone.to_dict()["heat_map"] is None
        with pytest.raises(StoreError):
            store.heat_file(old_img[0].result_id)
        assert store.heat_file(new[0].result_id) == files[new[0].result_id]


def test_a_first_schema_database_gets_the_column(tmp_path, part_factory):
    """A store written before heat maps (no heat_json column) opens, keeps its rows and stores maps."""
    cfg = StoreConfig(tmp_path, save_pass_every=1)
    with ResultStore(cfg) as store:
        old, image = _record(part_factory, 7, heat=False)
        assert store.submit(old, image) and store.flush(10)
    conn = sqlite3.connect(cfg.db_path)
    conn.execute("ALTER TABLE results DROP COLUMN heat_json")  # as the first schema had it
    conn.commit()
    conn.close()
    with ResultStore(cfg) as store:
        assert store.require(old.result_id).heat_map is None
        rec, image = _record(part_factory, 8)
        assert store.submit(rec, image) and store.flush(10)
        assert store.require(rec.result_id).heat_map is not None and store.heat_file(rec.result_id).is_file()

