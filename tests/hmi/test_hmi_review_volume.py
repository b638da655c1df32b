"""Review at volume over HTTP: pending rejects oldest first with keyset pages, the history's filters,
and bulk confirm of a filtered set (each audited)."""

from __future__ import annotations


def test_pending_oldest_first_with_keyset_pages(env, client, roles):
    op = roles["operator"]
    parts = env.inject(20)  # 10 NG: odd indexes
    env.store.flush(10)
    ng = [p.result_id for p in parts if p.verdict == "reject"]
    page = client.get("/api/review/pending?limit=4", headers=op).json()
    assert [i["result_id"] for i in page["items"]] == ng[:4] and page["total"] == 10
    seen = [i["result_id"] for i in page["items"]]
    while page["next_after_seq"] is not None:
        page = client.get(f"/api/review/pending?limit=4&after_seq={page['next_after_seq']}", headers=op).json()
        seen += [i["result_id"] for i in page["items"]]
    assert seen == ng
    newest = client.get("/api/review/pending?order=newest&limit=3", headers=op).json()
    assert [i["result_id"] for i in newest["items"]] == ng[::-1][:3] and newest["next_before_seq"]
    one = client.get("/api/review/pending?part=SN000105", headers=op).json()
    assert [i["result_id"] for i in one["items"]] == [parts[5].result_id] and one["total"] == 1


def test_bulk_confirm_of_a_filtered_set(env, client, roles):
    op = roles["operator"]
    parts = env.inject(12)
    env.store.flush(10)
    ng = [p for p in parts if p.verdict == "reject"]  # SN000101, 103, ..., 111
    client.post(f"/api/results/{ng[0].result_id}/review", headers=op,
                json={"decision": "overridden", "reason": "dust on the part"})
    r = client.post("/api/review/confirm?part=SN00010&limit=2", headers=op)  # 101 103 105 107 109 match
    assert r.status_code == 200
    out = r.json()
    assert out["result_ids"] == [ng[1].result_id, ng[2].result_id] and out["pending_left"] == 2
    r = client.post("/api/review/confirm?part=SN00010", headers=op).json()
    assert r["confirmed"] == 2 and r["pending_left"] == 0
    left = client.get("/api/review/pending", headers=op).json()
    assert [i["result_id"] for i in left["items"]] == [ng[5].result_id]  # SN000111 did not match
    assert client.get(f"/api/results/{ng[0].result_id}", headers=op).json()["review"]["status"] == "overridden"
    bulk = [a for a in env.store.audit_log(action="review") if a.detail == "bulk"]
    assert len(bulk) == 4 and {a.user for a in bulk} == {"operator"}
    assert client.post("/api/review/confirm?verdict=nope", headers=op).status_code == 422
    assert client.post("/api/review/confirm").status_code == 401


def test_totals_are_capped(env, client, roles, monkeypatch):
    from hmi.routers import results

    monkeypatch.setattr(results, "COUNT_CAP", 3)
    env.inject(10)
    env.store.flush(10)
    page = client.get("/api/results", headers=roles["operator"]).json()
    assert (page["total"], page["total_capped"], len(page["items"])) == (3, True, 10)
    pend = client.get("/api/review/pending", headers=roles["operator"]).json()
    assert (pend["total"], pend["total_capped"], len(pend["items"])) == (3, True, 5)
    exact = client.get("/api/results?verdict=pass&part=SN000100", headers=roles["operator"]).json()
    assert (exact["total"], exact["total_capped"]) == (1, False)
