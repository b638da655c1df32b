"""Guarded teaching over HTTP: NG / not aligned / low-score parts refused with 409 unless an
engineer overrides with a reason; every golden kept as a version; rollback restores the previous
golden (audited); the teach view's candidate check and difference map."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
from tests_support import make_result

from hmi.teaching import difference
from inspection.record import PartInfo
from inspection.result import ResultCode
from inspection.vision.geometry import Alignment, rigid_matrix


def _golden(client, headers, rid="pcb-a"):
    jpg = client.get(f"/api/recipes/{rid}/golden?width=160", headers=headers).content
    return cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_GRAYSCALE)


def test_teach_from_a_stored_ng_part_is_refused_then_rollback_restores(env, client, roles):
    op, eng = roles["operator"], roles["engineer"]
    good, bad = env.inject(2)  # OK, then NG
    env.store.flush(10)
    # teach the good part: allowed
    r = client.post("/api/recipes/pcb-a/teach", headers=eng, json={"result_id": good.result_id})
    assert r.status_code == 200, r.text
    v1 = r.json()["version"]
    # push both parts out of the station's memory: the NG part is taught from the store
    env.inject(40, defective=False, start=10)
    env.store.flush(10)
    assert env.station.part_image(bad.result_id) is None and env.store.get(bad.result_id) is not None
    r = client.post("/api/recipes/pcb-a/teach", headers=eng, json={"result_id": bad.result_id})
    assert r.status_code == 409 and r.json()["key"] == "teach_refused"
    assert "NG_DEFECT" in r.json()["detail"]
    # the default (the last part) is good: allowed, but refused when the last part is NG
    env.inject(1, defective=True, start=90)
    r = client.post("/api/recipes/pcb-a/teach", headers=eng, json={})
    assert r.status_code == 409 and r.json()["key"] == "teach_refused"
    assert client.get("/api/recipes", headers=op).json()[0]["golden"]["version"] == v1
    # an engineer overrides with a reason; too short a reason is still refused
    r = client.post("/api/recipes/pcb-a/teach", headers=eng,
                    json={"result_id": bad.result_id, "override_reason": "x"})
    assert r.status_code == 409
    r = client.post("/api/recipes/pcb-a/teach", headers=eng,
                    json={"result_id": bad.result_id, "override_reason": "new board revision B"})
    assert r.status_code == 200, r.text
    v2 = r.json()["version"]
    assert v2 != v1
    versions = client.get("/api/recipes/pcb-a/golden/versions", headers=op).json()
    assert [(v["version"], v["current"]) for v in versions] == [(v2, True), (v1, False)]
    assert "new board revision B" in versions[0]["reason"] and bad.result_id in versions[0]["source"]
    assert good.result_id in versions[1]["source"]
    img = client.get(f"/api/recipes/pcb-a/golden/versions/{v1}/image", headers=op)
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
    # rollback: engineer only, audited, restores the previous golden's pixels
    assert client.post("/api/recipes/pcb-a/golden/rollback", headers=op, json={"version": v1}).status_code == 403
    r = client.post("/api/recipes/pcb-a/golden/rollback", headers=eng, json={"version": "abcdef123456"})
    assert r.status_code == 404 and r.json()["key"] == "unknown_golden_version"
    r = client.post("/api/recipes/pcb-a/golden/rollback", headers=eng, json={"version": v1})
    assert r.status_code == 200 and r.json()["version"] == v1
    assert client.get("/api/recipes", headers=op).json()[0]["golden"]["version"] == v1
    expected = env.station.golden_version_image("pcb-a", v1)
    assert np.array_equal(env.station.golden_image("pcb-a"), expected)
    versions = client.get("/api/recipes/pcb-a/golden/versions", headers=op).json()
    assert [v["version"] for v in versions if v["current"]] == [v1]
    log = [(a.action, a.old_value, a.new_value, a.detail) for a in env.store.audit_log(user="engineer")
           if a.action in ("teach_golden", "rollback_golden")]
    assert log[0][:3] == ("rollback_golden", v2, v1)
    assert log[1][:3] == ("teach_golden", v1, v2) and "override: new board revision B" in (log[1][3] or "")
    assert log[2][:3] == ("teach_golden", None, v1) and good.result_id in (log[2][3] or "")


def test_not_aligned_and_low_score_parts_are_refused(env, client, roles):
    eng = roles["engineer"]
    result, image = make_result(1, defective=False)
    low = dataclasses.replace(result, alignment=dataclasses.replace(result.alignment, score=0.3))
    rec = env.station.inject(low, image, part=PartInfo(part_id_str="SN-LOW", recipe_number=1))
    r = client.post("/api/recipes/pcb-a/teach", headers=eng, json={"result_id": rec.result_id})
    assert r.status_code == 409 and "alignment score 0.300 is below" in r.json()["detail"]
    off = dataclasses.replace(result, code=ResultCode.NG_ALIGNMENT,
                              alignment=Alignment(matrix=rigid_matrix(0.0, 0.0, 0.0), score=0.1, ok=False, reason="no match"))
    rec2 = env.station.inject(off, image, part=PartInfo(part_id_str="SN-OFF", recipe_number=1))
    r = client.post("/api/recipes/pcb-a/teach", headers=eng, json={"result_id": rec2.result_id})
    assert r.status_code == 409
    assert "NG_ALIGNMENT" in r.json()["detail"] and "not aligned (no match)" in r.json()["detail"]
    c = client.get(f"/api/recipes/pcb-a/teach/candidate?result_id={rec2.result_id}", headers=eng).json()
    assert c["allowed"] is False and len(c["refusals"]) == 2 and c["difference"] is None  # no golden yet


def test_teach_view_candidate_and_difference(env, client, roles):
    eng = roles["engineer"]
    good, bad = env.inject(2)
    client.post("/api/recipes/pcb-a/teach", headers=eng, json={"result_id": good.result_id})
    c = client.get(f"/api/recipes/pcb-a/teach/candidate?result_id={good.result_id}", headers=eng).json()
    assert c["allowed"] is True and c["refusals"] == [] and c["difference"]["changed_pct"] == 0.0
    assert c["heat_map"] is None  # a golden-based result keeps no heat map
    c = client.get(f"/api/recipes/pcb-a/teach/candidate?result_id={bad.result_id}", headers=eng).json()
    assert c["allowed"] is False and c["verdict"] == "reject" and c["difference"]["changed_pct"] > 0.0
    r = client.get(f"/api/recipes/pcb-a/teach/diff?result_id={bad.result_id}", headers=eng)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert client.get("/api/recipes/pcb-b/teach/diff", headers=eng).status_code == 404  # no golden


def test_difference_registers_a_shift():
    _, golden = make_result(3, defective=False, size=(200, 240))
    _, shifted = make_result(3, defective=False, size=(200, 240), shift=(6, -4))
    d = difference(golden, shifted)
    assert abs(d.shift_px[0]) > 3 and abs(d.shift_px[1]) > 2
    assert d.changed_pct < 3.0  # registered: only the borders differ
    _, bad = make_result(3, defective=True, size=(200, 240))
    assert difference(golden, bad).changed_pct > difference(golden, golden).changed_pct


def test_review_difference_for_operators(env, client, roles):
    op, eng = roles["operator"], roles["engineer"]
    good, bad = env.inject(2)
    assert client.get(f"/api/recipes/pcb-a/difference?result_id={bad.result_id}", headers=op).status_code == 404
    client.post("/api/recipes/pcb-a/teach", headers=eng, json={"result_id": good.result_id})
    r = client.get(f"/api/recipes/pcb-a/difference?result_id={bad.result_id}", headers=op)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
