"""Station state and commands, recipes and golden references, thresholds, audit, system routes."""

from __future__ import annotations

import math
import re

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from hmi_support import build_env
from prometheus_client.parser import text_string_to_metric_families

from hmi.settings import HmiSettings
from inspection.result import InspectionResult, ResultCode
from inspection.station.port import PlcLink, StationState


def test_station_status_arm_disarm_audited(env, client, roles):
    op, eng = roles["operator"], roles["engineer"]
    st = client.get("/api/station", headers=op).json()
    assert st["state"] == "READY" and st["armed"] is True and st["plc"]["connected"] is False
    env.station.set_plc_link(PlcLink(True, "modbus-tcp", "127.0.0.1:5020", 12.0, True))
    st = client.get("/api/station", headers=op).json()
    plc = st["plc"]
    assert (plc["connected"], plc["protocol"], plc["address"]) == (True, "modbus-tcp", "127.0.0.1:5020")
    assert client.post("/api/station/disarm", headers=op).status_code == 403
    st = client.post("/api/station/disarm", headers=eng).json()
    assert st["armed"] is False and st["state"] == "OPERATOR_ACCESS"
    st = client.post("/api/station/arm", headers=eng).json()
    assert st["armed"] is True and st["state"] == "READY"
    log = [(a.user, a.action, a.old_value, a.new_value) for a in env.store.audit_log(user="engineer")
           if a.action != "login"]
    assert log == [("engineer", "arm", '{"armed":false}', '{"armed":true}'),
                   ("engineer", "disarm", '{"armed":true}', '{"armed":false}')]


def test_counters_timings_and_store_stats(env, client, roles):
    op, eng = roles["operator"], roles["engineer"]
    env.inject(6)
    c = client.get("/api/stats/counters", headers=op).json()
    assert (c["total"], c["ok"], c["ng"], c["yield_pct"]) == (6, 3, 3, 50.0)
    t = client.get("/api/stats/timings?n=4", headers=op).json()
    assert len(t["series"]) == 4 and set(t["series"][0]["timings_ms"]) >= {"acquire", "detect"}
    det = t["stages"]["detect"]
    assert det["n"] == 6 and 9.0 <= det["p50"] <= det["p99"] <= det["max"] <= 9.6
    assert client.get("/api/stats/timings?n=0", headers=op).status_code == 422
    assert client.post("/api/stats/counters/clear", headers=op).status_code == 403
    c = client.post("/api/stats/counters/clear", headers=eng).json()
    assert (c["total"], c["yield_pct"]) == (0, None)
    env.inject(1, defective=True)
    assert client.get("/api/stats/counters", headers=op).json()["ng"] == 1
    env.store.flush(10)
    s = client.get("/api/station/store", headers=op).json()
    assert s["alive"] and s["committed"] == 7 and s["records_dropped"] == 0 and s["db_bytes"] > 0
    assert any(a.action == "clear_counters" for a in env.store.audit_log())


def test_counters_survive_a_restart(tmp_path):
    env = build_env(tmp_path)
    env.inject(3)
    env.store.close()
    env.users.close()
    env2 = build_env(tmp_path)
    try:
        c = env2.station.counters()
        assert (c.total, c.ok, c.ng) == (3, 2, 1)
    finally:
        env2.store.close()
        env2.users.close()


def test_recipes_select_and_teach_golden(env, client, roles):
    op, eng = roles["operator"], roles["engineer"]
    recipes = client.get("/api/recipes", headers=op).json()
    assert [(r["recipe_id"], r["active"], r["golden"]) for r in recipes] == [("pcb-a", True, None),
                                                                             ("pcb-b", False, None)]
    assert client.get("/api/recipes/pcb-a/golden", headers=op).status_code == 404
    r = client.post("/api/recipes/pcb-a/teach", headers=eng, json={})
    assert r.status_code == 409 and r.json()["key"] == "nothing_to_teach"
    (part,) = env.inject(1, defective=False)
    assert client.post("/api/recipes/pcb-a/teach", headers=op, json={}).status_code == 403
    g = client.post("/api/recipes/pcb-a/teach", headers=eng, json={}).json()
    assert g["taught_by"] == "engineer" and g["shape"] == [120, 160]
    jpg = client.get("/api/recipes/pcb-a/golden", headers=op).content
    img = cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_UNCHANGED)
    assert img.shape[:2] == (120, 160)
    g2 = client.post("/api/recipes/pcb-b/teach", headers=eng, json={"result_id": part.result_id}).json()
    assert g2["version"] == g["version"]  # the same image, the same content version
    r = client.post("/api/recipes/pcb-b/teach", headers=eng, json={"result_id": "d" * 20})
    assert r.status_code == 404
    assert client.post("/api/recipes/nope/teach", headers=eng, json={}).status_code == 404
    assert client.post("/api/recipes/bad id/teach", headers=eng, json={}).status_code in (404, 422)
    # Upload a golden image file: it must have the camera's frame size (issue #13, item 4: a golden
    # of another size was accepted and every later part rejected).
    small = cv2.imencode(".png", np.full((60, 80), 50, np.uint8))[1].tobytes()
    r = client.post("/api/recipes/pcb-b/teach/upload", headers=eng, content=small)
    assert r.status_code == 422 and r.json()["key"] == "bad_image" and "160x120" in r.json()["detail"]
    board = np.full((120, 160), 50, np.uint8)
    cv2.rectangle(board, (10, 20), (70, 30), 200, -1)
    png = cv2.imencode(".png", board)[1].tobytes()
    r = client.post("/api/recipes/pcb-b/teach/upload", headers=eng, content=png)
    assert r.status_code == 200 and r.json()["shape"] == [120, 160]
    r = client.post("/api/recipes/pcb-b/teach/upload", headers=eng, content=b"not an image")
    assert r.status_code == 422 and r.json()["key"] == "bad_image"
    r = client.post("/api/recipes/pcb-b/teach/upload", headers=eng, content=b"")
    assert r.status_code == 422
    r = client.post("/api/recipes/pcb-b/teach/upload", headers=eng, content=png[: len(png) // 2])
    assert r.status_code == 422
    # Select the active recipe.
    assert client.post("/api/recipes/active", headers=op, json={"recipe_id": "pcb-b"}).status_code == 403
    r = client.post("/api/recipes/active", headers=eng, json={"recipe_id": "pcb-x"})
    assert r.status_code == 404 and r.json()["key"] == "unknown_recipe"
    r = client.post("/api/recipes/active", headers=eng, json={"recipe_id": "pcb-b"})
    assert r.status_code == 200 and r.json()["active"] is True
    assert client.get("/api/station", headers=op).json()["active_recipe"] == "pcb-b"
    actions = [(a.action, a.target) for a in env.store.audit_log(user="engineer")]
    assert ("select_recipe", "station") in actions and ("teach_golden", "recipe:pcb-a") in actions
    assert actions.count(("teach_golden", "recipe:pcb-b")) == 2


def test_upload_larger_than_the_limit_is_refused(tmp_path):
    env = build_env(tmp_path, HmiSettings(max_upload_bytes=2048))
    try:
        with TestClient(env.app) as c:
            from hmi_support import bearer

            from hmi.auth.roles import Role

            env.user("eng", Role.ENGINEER)
            h = bearer(c, "eng")
            noise = np.random.default_rng(0).integers(0, 255, (200, 200), dtype=np.uint8)
            big = cv2.imencode(".png", noise)[1].tobytes()
            r = c.post("/api/recipes/pcb-a/teach/upload", headers=h, content=big)
            assert r.status_code == 413 and "larger" in r.json()["detail"]
    finally:
        env.store.close()
        env.users.close()


def test_thresholds_validated_and_audited(env, client, roles):
    op, eng = roles["operator"], roles["engineer"]
    assert client.get("/api/settings/thresholds", headers=op).status_code == 403
    t = client.get("/api/settings/thresholds", headers=eng).json()
    assert t["recipe_id"] == "pcb-a" and {s["name"] for s in t["specs"]} == set(t["values"])
    r = client.put("/api/settings/thresholds", headers=eng, json={"values": {"min_area_px": 40}})
    assert r.status_code == 200 and r.json()["values"]["min_area_px"] == 40
    r = client.put("/api/settings/thresholds", headers=eng, json={"values": {"threshold": 4}})
    assert r.status_code == 422 and r.json()["detail"] == "threshold: 4 is outside 0.02..1 x contrast"
    r = client.put("/api/settings/thresholds", headers=eng, json={"values": {"min_area_px": 2.5}})
    assert r.status_code == 422 and "whole number" in r.json()["detail"]
    r = client.put("/api/settings/thresholds", headers=eng, json={"values": {"gain": 1}})
    assert r.status_code == 422 and r.json()["key"] == "unknown_threshold"
    r = client.put("/api/settings/thresholds", headers=eng, json={"values": {}})
    assert r.status_code == 422
    r = client.put("/api/settings/thresholds", headers={**eng, "content-type": "application/json"},
                   content=b'{"values": {"threshold": NaN}}')
    assert r.status_code == 422
    url = "/api/settings/thresholds"
    r = client.put(url, headers=eng, json={"recipe_id": "pcb-z", "values": {"tolerance_px": 2}})
    assert r.status_code == 404
    r = client.put(url, headers=eng, json={"recipe_id": "pcb-b", "values": {"tolerance_px": 2}})
    assert r.json()["recipe_id"] == "pcb-b" and r.json()["values"]["tolerance_px"] == 2
    assert client.get(f"{url}?recipe_id=pcb-a", headers=eng).json()["values"]["tolerance_px"] == 0.7
    (a1, a2) = env.store.audit_log(action="set_thresholds")
    assert (a2.target, a2.old_value, a2.new_value) == ("recipe:pcb-a", '{"min_area_px":8.0}',
                                                       '{"min_area_px":40.0}')
    assert a1.target == "recipe:pcb-b"


def test_audit_log_for_engineers(env, client, roles):
    env.station.disarm(user="engineer")
    assert client.get("/api/audit", headers=roles["operator"]).status_code == 403
    rows = client.get("/api/audit?action=disarm", headers=roles["engineer"]).json()
    assert [r["action"] for r in rows] == ["disarm"]
    rows = client.get("/api/audit?by=admin&limit=5", headers=roles["admin"]).json()
    assert rows and {r["user"] for r in rows} == {"admin"}
    assert client.get("/api/audit?limit=0", headers=roles["admin"]).status_code == 422


def test_health_metrics_docs_page(env, client):
    env.inject(4)
    h = client.get("/health")
    assert h.status_code == 200 and h.json()["status"] == "ok" and h.json()["store_writer"] is True
    m = client.get("/metrics")
    assert m.headers["content-type"].startswith("text/plain; version=")
    samples = {}
    kinds = {}
    for family in text_string_to_metric_families(m.text):  # prometheus-client's own parser
        kinds[family.name] = family.type
        for s in family.samples:
            assert math.isfinite(s.value)
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    parts = {k: v for k, v in samples.items() if k[0] == "inspection_parts_total"}
    assert sum(v for k, v in parts.items() if ("verdict", "pass") in k[1]) == 2
    assert sum(v for k, v in parts.items() if ("verdict", "reject") in k[1]) == 2
    assert all(dict(k[1])["result_code"] in {c.name for c in ResultCode} for k in parts)
    assert samples[("inspection_station_state", (("state", "READY"),))] == 6
    # stage times are histograms (aggregatable across stations): buckets, a count per stage
    assert kinds["inspection_stage_seconds"] == "histogram"
    assert samples[("inspection_stage_seconds_count", (("stage", "cycle"),))] == 4
    assert ("inspection_stage_seconds_bucket", (("le", "+Inf"), ("stage", "cycle"))) in samples
    assert kinds["inspection_defects"] == "counter" and kinds["inspection_camera_errors"] == "counter"
    assert kinds["inspection_plc_errors"] == "counter"
    assert samples[("inspection_store_writer_up", ())] == 1
    assert client.get("/openapi.json").json()["info"]["title"].endswith("HMI")
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "<title>Inspection HMI</title>" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/static/js/app.js").status_code == 200


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_api_docs_load_nothing_from_another_host(client, path):
    """An isolated line network has no CDN: every script, stylesheet and icon of /docs and /redoc
    comes from the HMI itself, and it is really served."""
    page = client.get(path)
    assert page.status_code == 200
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", page.text)
    refs += re.findall(r"""url\s*:\s*["']([^"']+)["']""", page.text)
    assert refs, page.text
    for ref in refs:
        assert not re.match(r"^(https?:)?//", ref), f"{path} loads {ref} from another host"
        assert client.get(ref).status_code == 200, ref
    assert "cdn.jsdelivr" not in page.text and "fonts.googleapis" not in page.text


def test_metrics_count_camera_and_plc_errors(env, client):
    env.inject(2)
    station = env.station
    station.inject(InspectionResult(code=ResultCode.NG_ACQUISITION, message="grab timeout"))
    station.set_plc_link(PlcLink(connected=True, protocol="modbus-tcp"))
    station.set_plc_link(PlcLink(connected=False, protocol="modbus-tcp"))
    station.set_state(StationState.ERROR, "PLC heartbeat lost")
    station.set_state(StationState.ERROR, "still")  # staying in the error state counts once
    text = client.get("/metrics").text
    values = {(s.name, tuple(sorted(s.labels.items()))): s.value
              for f in text_string_to_metric_families(text) for s in f.samples}
    assert values[("inspection_camera_errors_total", ())] == 1
    assert values[("inspection_plc_errors_total", (("kind", "link_lost"),))] == 1
    assert values[("inspection_plc_errors_total", (("kind", "error_state"),))] == 1
    assert values[("inspection_parts_total", (("result_code", "NG_ACQUISITION"), ("verdict", "reject")))] == 1


def test_health_degraded_when_the_store_writer_is_gone(env, client):
    env.store.writer.close()
    r = client.get("/health")
    assert r.status_code == 503 and r.json()["status"] == "degraded"


def test_bad_requests_get_clear_4xx(env, client, roles):
    op = roles["operator"]
    r = client.get("/api/nothing-here", headers=op)
    assert r.status_code == 404 and r.json()["key"] == "not_found"
    r = client.delete("/api/station", headers=op)
    assert r.status_code == 405
    r = client.post("/api/auth/login", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["key"] == "validation_error"
    r = client.post("/api/auth/login", json={"username": "x"})
    assert r.status_code == 422 and "password" in r.json()["message"]
    r = client.post("/api/auth/login", json={"username": "", "password": "x", "more": 1})
    assert r.status_code == 422
    r = client.post("/api/station/arm", headers={**roles["engineer"], "origin": "http://evil.example"})
    assert r.status_code == 403 and r.json()["key"] == "cross_site"
    r = client.get("/api/live", headers={"Authorization": "Bearer " + "x" * 500})
    assert r.status_code == 401
