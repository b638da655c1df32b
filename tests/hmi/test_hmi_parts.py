"""Live snapshot, recent parts and their images, history with filters, review of rejects."""

from __future__ import annotations

import cv2
import numpy as np


def _jpeg(r) -> np.ndarray:
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg", r.text[:200]
    img = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert img is not None
    return img


def _red_pixels(img: np.ndarray) -> int:
    if img.ndim == 2:
        return 0
    b, g, r = (img[..., i].astype(int) for i in range(3))
    return int(((r > 170) & (g < 110) & (b < 110)).sum())


def test_live_snapshot_and_recent_parts(env, client, roles):
    op = roles["operator"]
    snap = client.get("/api/live", headers=op).json()
    assert snap["last"] is None and snap["filmstrip"] == [] and snap["counters"]["total"] == 0
    assert snap["status"]["state"] == "READY" and snap["status"]["active_recipe"] == "pcb-a"
    recs = env.inject(5)
    assert env.store.flush(10)
    snap = client.get("/api/live", headers=op).json()
    assert snap["last"]["result_id"] == recs[-1].result_id
    assert [p["result_id"] for p in snap["filmstrip"]] == [r.result_id for r in recs[::-1]]
    assert snap["counters"] == {**snap["counters"], "total": 5, "ok": 3, "ng": 2, "yield_pct": 60.0}
    assert snap["pending_reviews"] == 2
    assert set(snap["stages"]) >= {"acquire", "align", "detect", "decide", "publish", "cycle"}
    assert "total" not in snap["stages"]
    recent = client.get("/api/parts/recent?n=2", headers=op).json()
    assert [p["result_id"] for p in recent] == [recs[-1].result_id, recs[-2].result_id]
    assert recent[1]["overlay"] and recent[1]["findings"] and not recent[0]["findings"]
    for bad in ("0", "257", "x"):
        r = client.get(f"/api/parts/recent?n={bad}", headers=op)
        assert r.status_code == 422 and r.json()["message"].startswith("n:")


def test_part_by_id_from_memory_then_store(env, client, roles):
    op = roles["operator"]
    (rec,) = env.inject(1, defective=True)
    got = client.get(f"/api/parts/{rec.result_id}", headers=op).json()
    assert got["stored"] is False and got["part_id_str"] == "SN000100"
    env.inject(40, start=1)  # the part leaves the station's memory (32 parts): now served from the store
    env.store.flush(10)
    got = client.get(f"/api/parts/{rec.result_id}", headers=op).json()
    assert got["stored"] is True and got["verdict"] == "reject" and got["overlay"]
    assert client.get("/api/parts/" + "0" * 20, headers=op).status_code == 404
    r = client.get("/api/parts/not-an-id", headers=op)
    assert r.status_code == 422 and "result_id" in r.json()["message"]


def test_part_images_scaled_with_and_without_overlay(env, client, roles):
    op = roles["operator"]
    ok, ng = env.inject(2)
    plain = _jpeg(client.get(f"/api/parts/{ng.result_id}/image", headers=op))
    assert plain.shape[:2] == (120, 160)
    assert _red_pixels(plain) == 0
    drawn = _jpeg(client.get(f"/api/parts/{ng.result_id}/image?overlay=true", headers=op))
    assert _red_pixels(drawn) > 20
    small = _jpeg(client.get(f"/api/parts/{ng.result_id}/image?width=80", headers=op))
    assert small.shape[1] == 80
    thumb = _jpeg(client.get(f"/api/parts/{ng.result_id}/thumb", headers=op))
    assert _red_pixels(thumb) > 10
    _jpeg(client.get(f"/api/parts/{ok.result_id}/thumb", headers=op))
    assert client.get(f"/api/parts/{ng.result_id}/image?width=5", headers=op).status_code == 422
    assert client.get("/api/parts/" + "a" * 20 + "/image", headers=op).status_code == 404

    # Out of the station's memory: a reject's stored PNG is served; a pass outside the sample
    # (every 2nd pass is kept) has no image.
    ok2, ng2, ok3 = env.inject(3, start=4)
    env.inject(40, start=10)
    env.store.flush(10)
    stored = _jpeg(client.get(f"/api/parts/{ng2.result_id}/image?overlay=1", headers=op))
    assert _red_pixels(stored) > 20
    unsampled = ok3 if env.store.require(ok2.result_id).image_path else ok2
    r = client.get(f"/api/parts/{unsampled.result_id}/image", headers=op)
    assert r.status_code == 404 and r.json()["key"] == "no_image"


def test_history_filters_paging_and_stored_images(env, client, roles):
    op = roles["operator"]
    recs = env.inject(12)
    env.store.flush(10)
    page = client.get("/api/results?limit=5", headers=op).json()
    assert page["total"] == 12 and len(page["items"]) == 5 and page["next_before_seq"]
    older = client.get(f"/api/results?limit=5&before_seq={page['next_before_seq']}", headers=op).json()
    ids = [i["result_id"] for i in page["items"] + older["items"]]
    assert ids == [r.result_id for r in recs[::-1][:10]]
    assert client.get("/api/results?verdict=reject", headers=op).json()["total"] == 6
    assert client.get("/api/results?code=1", headers=op).json()["total"] == 6
    assert client.get("/api/results?review=pending", headers=op).json()["total"] == 6
    assert client.get("/api/results?part=SN000103", headers=op).json()["total"] == 1
    assert client.get("/api/results?part=103", headers=op).json()["total"] == 1
    assert client.get("/api/results?trigger_seq=3", headers=op).json()["total"] == 1
    assert client.get("/api/results?has_image=true", headers=op).json()["total"] == 6 + 3
    assert client.get("/api/results?since=2000-01-01T00:00:00Z", headers=op).json()["total"] == 12
    assert client.get("/api/results?until=2000-01-01T00:00", headers=op).json()["total"] == 0
    for bad in ("verdict=maybe", "limit=0", "limit=501", "since=yesterday", "code=0", "review=x",
                "trigger_seq=70000", "before_seq=-1"):
        r = client.get(f"/api/results?{bad}", headers=op)
        assert r.status_code == 422, bad
        assert r.json()["key"] == "validation_error" and r.json()["message"]
    ng = recs[1]
    one = client.get(f"/api/results/{ng.result_id}", headers=op).json()
    assert one["verdict"] == "reject" and one["has_image"] and one["review"] is None
    raw = client.get(f"/api/results/{ng.result_id}/image", headers=op)
    assert raw.headers["content-type"] == "image/png"
    png = cv2.imdecode(np.frombuffer(raw.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert png.shape == (120, 160)
    ovl = client.get(f"/api/results/{ng.result_id}/image?overlay=true", headers=op)
    assert ovl.headers["content-type"] == "image/jpeg" and _red_pixels(_jpeg(ovl)) > 20
    assert client.get("/api/results/" + "b" * 20, headers=op).status_code == 404
    assert client.get("/api/results/" + "b" * 20 + "/image", headers=op).status_code == 404


def test_operator_reviews_a_reject(env, client, roles):
    op, eng = roles["operator"], roles["engineer"]
    ok, ng, _, ng2 = env.inject(4)
    env.store.flush(10)
    url = f"/api/results/{ng.result_id}/review"
    r = client.post(url, headers=op, json={"decision": "overridden", "reason": " "})
    assert r.status_code == 422 and r.json()["key"] == "reason_required"
    r = client.post(url, headers=op, json={"decision": "maybe"})
    assert r.status_code == 422
    r = client.post(url, headers=op, json={"decision": "confirmed", "extra": 1})
    assert r.status_code == 422
    r = client.post(url, headers=op, json={"decision": "confirmed"})
    assert r.status_code == 200 and r.json()["review"]["status"] == "confirmed"
    assert r.json()["review"]["user"] == "operator"
    r = client.post(url, headers=op, json={"decision": "overridden", "reason": "dust"})
    assert r.status_code == 409 and r.json()["key"] == "already_reviewed"
    r = client.post(url, headers=eng, json={"decision": "overridden", "reason": "dust on the lens"})
    assert r.status_code == 200 and r.json()["review"]["reason"] == "dust on the lens"
    r = client.post(f"/api/results/{ok.result_id}/review", headers=op, json={"decision": "confirmed"})
    assert r.status_code == 409 and r.json()["key"] == "not_reviewable"
    r = client.post("/api/results/" + "c" * 20 + "/review", headers=op, json={"decision": "confirmed"})
    assert r.status_code == 404
    pending = client.get("/api/review/pending", headers=op).json()
    assert [i["result_id"] for i in pending["items"]] == [ng2.result_id] and pending["total"] == 1
    log = env.store.audit_log(action="review")
    assert [(a.user, a.target) for a in log] == [("engineer", f"result:{ng.result_id}"),
                                                 ("operator", f"result:{ng.result_id}")]


def test_review_of_a_part_not_yet_committed_waits_for_the_store(env, client, roles):
    (ng,) = env.inject(1, defective=True)  # no flush: the route flushes for a part it knows
    r = client.post(f"/api/results/{ng.result_id}/review", headers=roles["operator"],
                    json={"decision": "confirmed"})
    assert r.status_code == 200
