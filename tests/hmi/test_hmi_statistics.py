"""Statistics over HTTP: yield per hour and per shift, the defect Pareto, the defect-location map."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import cv2
import numpy as np
from tests_support import make_result

from inspection.record import PartInfo
from inspection.result import ResultCode
from inspection.store import stats
from inspection.store.stats import Bucket


def test_yield_pareto_and_defect_map(env, client, roles):
    op = roles["operator"]
    parts = env.inject(10)  # 5 OK, 5 NG (defects)
    result, image = make_result(99, defective=False)
    env.station.inject(dataclasses.replace(result, code=ResultCode.NG_ALIGNMENT), image,
                       part=PartInfo(part_id_str="SN-ALIGN", recipe_number=1))
    env.store.flush(10)
    y = client.get("/api/stats/yield", headers=op).json()
    assert (y["total"], y["ok"], y["ng"], y["yield_pct"]) == (11, 5, 6, 45.45)
    assert sum(b["total"] for b in y["buckets"]) == 11 and y["buckets"][-1]["label"].endswith(":00")
    s = client.get("/api/stats/yield?bucket=shift", headers=op).json()
    assert sum(b["total"] for b in s["buckets"]) == 11
    assert any(n in s["buckets"][-1]["label"] for n in ("early", "late", "night"))
    p = client.get("/api/stats/pareto", headers=op).json()
    assert p[0]["parts"] == 5 and p[-1] == {"cause": "alignment", "parts": 1, "pct": 16.67, "cumulative_pct": 100.0}
    m = client.get("/api/stats/defect-map", headers=op).json()
    assert m["defects"] == 5 and sum(map(sum, m["grid"])) == 5 and (len(m["grid"]), len(m["grid"][0])) == (24, 32)
    # the cells are where the findings' centres are
    want = np.zeros((24, 32), int)
    for p in parts:
        for f in p.result.reported:
            x1, y1, x2, y2 = f.box
            h, w = p.result.image_shape
            want[int((y1 + y2) / 2 / h * 24), int((x1 + x2) / 2 / w * 32)] += 1
    assert m["grid"] == want.tolist()
    r = client.get("/api/stats/defect-map.jpg", headers=op)
    assert r.status_code == 200 and cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR) is not None
    assert client.get("/api/stats/yield?hours=0", headers=op).status_code == 422
    assert client.get("/api/stats/yield?bucket=week", headers=op).status_code == 422


def test_hours_fold_into_shifts():
    def at(day: int, hour: int) -> int:
        return int(datetime(2026, 3, day, hour).timestamp() * 1e9)

    hours = [Bucket(at(2, 5), 10, 9), Bucket(at(2, 6), 10, 8), Bucket(at(2, 13), 10, 10),
             Bucket(at(2, 14), 4, 2), Bucket(at(2, 23), 5, 5), Bucket(at(3, 1), 5, 0)]
    shifts = stats.yield_per_shift(hours)
    assert [(b.label, b.total, b.ok) for b in shifts] == [
        ("2026-03-01 night (22:00)", 10, 9), ("2026-03-02 early (06:00)", 20, 18),
        ("2026-03-02 late (14:00)", 4, 2), ("2026-03-02 night (22:00)", 10, 5)]


def test_camera_focus_measure(env, client, roles):
    op = roles["operator"]
    assert client.get("/api/camera/focus", headers=op).json() == {"result_id": None}
    (part,) = env.inject(1, defective=False)
    d = client.get("/api/camera/focus", headers=op).json()
    assert d["result_id"] == part.result_id and d["focus"] > 0 and 0 < d["brightness"] < 255
    blurred = cv2.GaussianBlur(env.station.part_image(part.result_id), (9, 9), 4)
    from hmi.routers.camera import image_quality

    assert image_quality(blurred)["focus"] < d["focus"] / 2  # sharper image, higher focus measure
