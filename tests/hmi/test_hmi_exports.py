"""CSV exports over HTTP: /api/results.csv (the history's filters, header naming result_id, one row
per result) and /api/audit.csv."""

from __future__ import annotations

import csv
import io

import pytest

from hmi.routers import exports


@pytest.fixture
def small_page(monkeypatch):
    monkeypatch.setattr(exports, "PAGE", 5)  # a tiny page: the keyset paging runs several times


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_results_csv_one_row_per_result_with_the_history_filters(env, client, roles):
    op = roles["operator"]
    parts = env.inject(9)  # 5 OK, 4 NG
    env.store.flush(10)
    r = client.get("/api/results.csv", headers=op)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.text.splitlines()[0].startswith("result_id,")
    rows = _rows(r.text)
    assert [x["result_id"] for x in rows] == [p.result_id for p in reversed(parts)]
    assert rows[0]["serial"] == "SN000108" and rows[0]["decided"][:2] == "20"
    ng = _rows(client.get("/api/results.csv?verdict=reject", headers=op).text)
    api = client.get("/api/results?verdict=reject", headers=op).json()
    assert [x["result_id"] for x in ng] == [x["result_id"] for x in api["items"]] and len(ng) == 4
    assert {x["code_name"] for x in ng} == {"NG_DEFECT"}
    assert len(_rows(client.get("/api/results.csv?part=SN000103", headers=op).text)) == 1
    assert len(_rows(client.get("/api/results.csv?limit=3", headers=op).text)) == 3
    assert client.get("/api/results.csv?verdict=maybe", headers=op).status_code == 422
    assert client.get("/api/results.csv").status_code == 401
    # review columns, and a cell that a spreadsheet would run as a formula is quoted
    client.post(f"/api/results/{ng[0]['result_id']}/review", headers=op,
                json={"decision": "overridden", "reason": "=HYPERLINK(\"x\")"})
    row = _rows(client.get("/api/results.csv?review=overridden", headers=op).text)[0]
    assert row["review_status"] == "overridden" and row["review_user"] == "operator"
    assert row["review_reason"].startswith("'=")


def test_results_csv_pages_through_many_rows(env, client, roles, small_page):
    op = roles["operator"]
    parts = env.inject(23)
    env.store.flush(10)
    rows = _rows(client.get("/api/results.csv", headers=op).text)
    assert [x["result_id"] for x in rows] == [p.result_id for p in reversed(parts)]
    assert len(_rows(client.get("/api/results.csv?limit=12", headers=op).text)) == 12


def test_audit_csv(env, client, roles):
    op, eng = roles["operator"], roles["engineer"]
    client.post("/api/station/disarm", headers=eng)
    client.post("/api/station/arm", headers=eng)
    assert client.get("/api/audit.csv", headers=op).status_code == 403
    r = client.get("/api/audit.csv?action=disarm", headers=eng)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    (row,) = _rows(r.text)
    assert (row["user"], row["action"], row["target"]) == ("engineer", "disarm", "station")
    assert row["old_value"] == '{"armed":true}' and row["new_value"] == '{"armed":false}'
    assert len(_rows(client.get("/api/audit.csv?user=engineer", headers=eng).text)) >= 3  # logins too


def test_audit_reads_as_text_with_part_serials(env, client, roles):
    op, eng = roles["operator"], roles["engineer"]
    (_, ng) = env.inject(2)
    env.store.flush(10)
    client.post(f"/api/results/{ng.result_id}/review", headers=op, json={"decision": "overridden", "reason": "dust"})
    client.put("/api/settings/thresholds", headers=eng, json={"values": {"min_area_px": 12}})
    log = client.get("/api/audit?limit=5", headers=eng).json()
    by_action = {a["action"]: a for a in log}
    assert by_action["review"]["part"] == "SN000101"
    assert by_action["review"]["summary"] == "reason: — → dust; status: none → overridden"
    assert by_action["set_thresholds"]["summary"] == "min_area_px: 8 → 12"
    rows = _rows(client.get("/api/audit.csv?action=review", headers=eng).text)
    assert (rows[0]["part"], rows[0]["change"]) == ("SN000101", "reason: — → dust; status: none → overridden")
