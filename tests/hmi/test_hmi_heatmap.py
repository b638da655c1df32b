"""The heat map of a good-set result over the part (GET /api/parts/{id}/heatmap): from the station's
memory while the part is recent, from the store afterwards; for operators; 404 without one."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from goodset_support import goodset_recipe, inspected_tiles

from inspection.record import PartInfo
from inspection.result import ResultCode


@pytest.fixture(scope="module")
def recipe():
    return goodset_recipe(0)


def _red_at(data: bytes, x: float, y: float) -> bool:
    """Whether the JPEG is red around (x, y) given as fractions of its width and height."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    h, w = img.shape[:2]
    b, g, r = (float(v) for v in img[round(y * h) - 2:round(y * h) + 3, round(x * w) - 2:round(x * w) + 3]
               .reshape(-1, 3).mean(0))
    return r > g + 40 and r > b + 20


def test_heat_map_of_a_goodset_result(env, client, roles, recipe, monkeypatch):
    op = roles["operator"]
    [(bad, image)] = inspected_tiles(monkeypatch, recipe, [True])
    assert bad.code is ResultCode.NG_DEFECT
    rec = env.station.inject(bad, image, part=PartInfo(part_id=1, recipe_number=1))
    url = f"/api/parts/{rec.result_id}/heatmap"
    assert client.get(url).status_code == 401
    r = client.get(f"{url}?width=320", headers=op)  # recent: from the station's memory
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert _red_at(r.content, 60 / 160, 30 / 120)  # the smooth spot: above the model's threshold
    assert not _red_at(r.content, 140 / 160, 100 / 120)  # good texture: below it
    env.inject(16, start=10)  # the part's image leaves the station's memory: the store serves it
    assert env.store.flush(10) and env.station.part_image(rec.result_id) is None
    stored = client.get(f"/api/results/{rec.result_id}", headers=op).json()
    assert stored["heat_map"]["kind"] == "anomaly"
    assert stored["heat_map"]["threshold"] == pytest.approx(recipe.goodset.threshold, rel=1e-5)
    r = client.get(f"{url}?width=400", headers=op)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    img = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape[:2] == (120, 160)  # never larger than the part
    assert _red_at(r.content, 60 / 160, 30 / 120) and not _red_at(r.content, 140 / 160, 100 / 120)


def test_no_heat_map_is_404(env, client, roles):
    op = roles["operator"]
    plain = env.inject(1, defective=True)[0]  # a golden-based result: no heat map
    assert env.store.flush(10)
    r = client.get(f"/api/parts/{plain.result_id}/heatmap", headers=op)
    assert r.status_code == 404 and r.json()["key"] == "no_heat_map"
    assert client.get(f"/api/parts/{'f' * 20}/heatmap", headers=op).status_code == 404
    assert client.get("/api/parts/nothex/heatmap", headers=op).status_code == 422
