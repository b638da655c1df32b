"""Teaching a recipe from N good parts through the HMI, on a running station (file-replay camera,
the Modbus server with the PLC simulator as the PLC, the real store): the golden reference and the
variation model are taught like ``inspection teach`` and kept, rolled back together, and a
threshold change keeps the band."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from goodset_support import use_block_features
from station_support import PASSWORD, running_station, wait_teach_job

from hmi.app import create_app
from inspection.station.runtime import Station
from plugins.plc.simulator import PlcSimulator

pytestmark = pytest.mark.timeout(300)


@dataclasses.dataclass
class Line:
    station: Station
    sim: PlcSimulator
    client: TestClient
    eng: dict[str, str]
    op: dict[str, str]
    planted: list[bool]
    band: tuple[np.ndarray, np.ndarray]
    run: object

    def active(self):
        cur = self.station.recipes_slot.current
        assert cur is not None
        return cur.loaded.recipe


@pytest.fixture
def line(tmp_path: Path) -> Iterator[Line]:
    with running_station(tmp_path) as rs, \
            TestClient(create_app(rs.station, rs.station.store, rs.users, announce=lambda _t: None)) as c:
        heads = []
        for name in ("erik", "olga"):
            r = c.post("/api/auth/login", json={"username": name, "password": PASSWORD})
            c.cookies.clear()
            heads.append({"Authorization": f"Bearer {r.json()['token']}"})
        band = (rs.recipe.spread_dark, rs.recipe.spread_bright)
        yield Line(rs.station, rs.sim, c, heads[0], heads[1], rs.planted, band, rs.run)  # type: ignore[arg-type]


def _recipe_id(line: Line) -> str:
    return line.station.status().active_recipe


def _wait_job(line: Line, timeout: float = 120.0) -> dict:
    return wait_teach_job(line.client, line.eng, timeout)


def _shown(line: Line) -> dict[str, dict]:
    """The recipes as ``GET /api/recipes`` shows them (the recipe cards), by recipe id."""
    return {r["recipe_id"]: r for r in line.client.get("/api/recipes", headers=line.eng).json()}


def _judged_with(line: Line) -> str:
    """The model hash of the recipe the station judges the next part with."""
    cur = line.station.recipes_slot.current
    assert cur is not None
    return cur.model_hash


def test_a_threshold_change_keeps_the_variation_model(line: Line) -> None:
    dark, bright = line.band
    assert np.array_equal(line.active().spread_dark, dark)
    r = line.client.put("/api/settings/thresholds", headers=line.eng, json={"values": {"min_area_px": 30}})
    assert r.status_code == 200, r.text
    rec = line.active()
    assert rec.detect.min_area_px == 30
    assert rec.spread_dark is not None and np.array_equal(rec.spread_dark, dark)
    assert np.array_equal(rec.spread_bright, bright)
    # the recipe's model hash as shown follows the change (the results carry the new one)
    assert _shown(line)[_recipe_id(line)]["model_hash"] == _judged_with(line)


def test_teach_from_stored_good_parts_keeps_the_model_and_rollback_restores_both(line: Line) -> None:
    rid = _recipe_id(line)
    line.run(12)
    line.station.store.flush(10.0)
    before = line.client.get(f"/api/recipes/{rid}/golden/versions", headers=line.eng).json()
    old_ref = line.active().reference.copy()
    old_hash = _judged_with(line)
    assert _shown(line)[rid]["model_hash"] == old_hash and _shown(line)[rid]["detector"] == "classical"
    assert line.client.post(f"/api/recipes/{rid}/teach/parts", headers=line.op, json={}).status_code == 403
    good = sum(not p for p in line.planted)
    # more good parts than stored: refused with a clear key, nothing changes
    r = line.client.post(f"/api/recipes/{rid}/teach/parts", headers=line.eng, json={"count": good + 1})
    assert r.status_code == 409 and r.json()["key"] == "too_few_good_parts", r.text
    assert f"{good} usable good part(s)" in r.json()["detail"]
    r = line.client.post(f"/api/recipes/{rid}/teach/parts", headers=line.eng, json={"source": "stored", "count": 6})
    assert r.status_code == 202, r.text
    assert r.json()["needed"] == 6 and r.json()["collected"] == 6
    job = _wait_job(line)
    assert job["phase"] == "done", job
    # the stored OK parts (all aligned here) are the candidates: the 6 newest of them
    assert job["refused"] == 0
    newest_ok = [p["result_id"] for p in line.client.get("/api/results?verdict=pass&limit=6",
                                                         headers=line.eng).json()["items"]]
    assert sorted(job["result_ids"]) == sorted(newest_ok)
    version = job["result"]["version"]
    versions = line.client.get(f"/api/recipes/{rid}/golden/versions", headers=line.eng).json()
    top = versions[0]
    assert top["version"] == version and top["current"] and top["variation_model"] is True
    assert top["source"].startswith("6 parts: ") and all(i in top["source"] for i in job["result_ids"])
    # the recipe the station runs now: the new golden with the taught band (not the recipe's, not none)
    rec = line.active()
    assert not np.array_equal(rec.reference, old_ref)
    assert rec.spread_dark is not None and rec.spread_bright is not None
    assert not np.array_equal(rec.spread_dark, line.band[0])
    taught_band = (rec.spread_dark.copy(), rec.spread_bright.copy())
    # the line keeps judging parts with it, and the HMI shows the hash its results carry
    line.run(2)
    new_hash = _judged_with(line)
    assert new_hash != old_hash and _shown(line)[rid]["model_hash"] == new_hash
    assert [p.part.model_hash for p in line.station.recent_parts(2)] == [new_hash] * 2
    audit = [a for a in line.station.store.audit_log(limit=20) if a.action == "teach_golden"]
    assert audit and audit[0].user == "erik" and "6 parts:" in audit[0].detail and "variation model" in audit[0].detail
    # rollback to the recipe's own reference restores its own band too
    own = next(v for v in versions if v["taught_by"] == "recipe")
    assert own["variation_model"] is True and len(versions) == max(len(before), 1) + 1
    r = line.client.post(f"/api/recipes/{rid}/golden/rollback", headers=line.eng, json={"version": own["version"]})
    assert r.status_code == 200, r.text
    rec = line.active()
    assert np.array_equal(rec.reference, old_ref)
    assert np.array_equal(rec.spread_dark, line.band[0]) and np.array_equal(rec.spread_bright, line.band[1])
    assert _judged_with(line) == old_hash == _shown(line)[rid]["model_hash"]
    # and forward again to the taught one: its band comes back with it
    r = line.client.post(f"/api/recipes/{rid}/golden/rollback", headers=line.eng, json={"version": version})
    assert r.status_code == 200, r.text
    rec = line.active()
    assert np.array_equal(rec.spread_dark, taught_band[0]) and np.array_equal(rec.spread_bright, taught_band[1])
    assert _judged_with(line) == new_hash == _shown(line)[rid]["model_hash"]


def test_selection_skips_refused_parts_and_needs_enough(line: Line) -> None:
    rid = _recipe_id(line)
    line.run(12)
    line.station.store.flush(10.0)
    rows = line.client.get("/api/results?limit=50", headers=line.eng).json()["items"]
    ng = [p["result_id"] for p in rows if p["verdict"] != "pass"]
    ok = [p["result_id"] for p in rows if p["verdict"] == "pass"]
    assert ng and len(ok) >= 5
    r = line.client.post(f"/api/recipes/{rid}/teach/parts", headers=line.eng,
                         json={"source": "selection", "result_ids": ng + ok[:3]})
    assert r.status_code == 409 and r.json()["key"] == "too_few_good_parts"
    assert f"{len(ng)} NG" in r.json()["detail"]
    r = line.client.post(f"/api/recipes/{rid}/teach/parts", headers=line.eng,
                         json={"source": "selection", "result_ids": ng + ok[:5]})
    assert r.status_code == 202, r.text
    job = _wait_job(line)
    assert job["phase"] == "done", job
    assert job["refused"] == len(ng) and job["refused_by_reason"] == {"NG": len(ng)}
    assert sorted(job["result_ids"]) == sorted(ok[:5])
    r = line.client.post(f"/api/recipes/{rid}/teach/parts", headers=line.eng, json={"source": "selection"})
    assert r.status_code == 422 and r.json()["key"] == "no_parts_selected"


def test_next_parts_from_the_line_one_job_at_a_time_and_cancel(line: Line) -> None:
    rid = _recipe_id(line)
    r = line.client.post(f"/api/recipes/{rid}/teach/parts", headers=line.eng, json={"source": "line", "count": 5})
    assert r.status_code == 202 and r.json()["phase"] == "collecting"
    r = line.client.post(f"/api/recipes/{rid}/teach/parts", headers=line.eng, json={"source": "stored"})
    assert r.status_code == 409 and r.json()["key"] == "teach_busy"
    r = line.client.post("/api/teach/job/cancel", headers=line.eng)
    assert r.status_code == 200
    job = _wait_job(line)
    assert job["phase"] == "cancelled" and job["collected"] == 0
    assert line.client.post("/api/teach/job/cancel", headers=line.eng).json()["key"] == "no_teach_job"
    versions0 = line.client.get(f"/api/recipes/{rid}/golden/versions", headers=line.eng).json()
    # now the next 5 good parts the station inspects
    r = line.client.post(f"/api/recipes/{rid}/teach/parts", headers=line.eng, json={"source": "line", "count": 5})
    assert r.status_code == 202
    line.run(12)
    job = _wait_job(line)
    assert job["phase"] == "done", job
    assert job["collected"] == 5 and job["refused_by_reason"].get("NG", 0) >= 1
    versions = line.client.get(f"/api/recipes/{rid}/golden/versions", headers=line.eng).json()
    assert versions[0]["version"] == job["result"]["version"] and versions[0]["variation_model"]
    assert len(versions) > len(versions0)


def test_good_set_recipe_takes_only_its_own_parts_and_unknown_recipe_is_refused(line: Line) -> None:
    # a good-set recipe is taught from parts too (tests/hmi/test_hmi_teach_parts_goodset.py), but only
    # from its own: the stored parts here are all the other recipe's
    gs = next(r["recipe_id"] for r in line.client.get("/api/recipes", headers=line.eng).json() if r["number"] == 2)
    # the recipe list names each recipe's detector (the teach view offers single-part teach by it);
    # a recipe the station does not judge with shows its recipe file's hash
    shown = _shown(line)
    entries = {e.recipe_id: e for e in line.station.recipes_slot.catalog.entries()}
    assert shown[gs]["detector"] == "goodset" and not shown[gs]["active"]
    assert shown[gs]["model_hash"] == entries[gs].model_hash
    assert shown[_recipe_id(line)]["detector"] == "classical"
    line.run(12)
    line.station.store.flush(10.0)
    r = line.client.post(f"/api/recipes/{gs}/teach/parts", headers=line.eng, json={})
    assert r.status_code == 409 and r.json()["key"] == "too_few_good_parts", r.text
    assert "0 usable good part(s)" in r.json()["detail"]
    ok = [p["result_id"] for p in line.client.get("/api/results?verdict=pass&limit=5",
                                                  headers=line.eng).json()["items"]]
    assert len(ok) == 5
    r = line.client.post(f"/api/recipes/{gs}/teach/parts", headers=line.eng,
                         json={"source": "selection", "result_ids": ok})
    assert r.status_code == 409 and r.json()["key"] == "too_few_good_parts", r.text
    assert "5 another recipe" in r.json()["detail"]
    assert line.client.get("/api/teach/job", headers=line.eng).json() == {"job": None}
    r = line.client.post("/api/recipes/nope/teach/parts", headers=line.eng, json={})
    assert r.status_code == 404
    r = line.client.post(f"/api/recipes/{gs}/teach/parts", headers=line.eng, json={"count": 2})
    assert r.status_code == 422


def test_a_station_without_recipe_models_refuses_teach_from_parts(client, roles) -> None:
    r = client.post("/api/recipes/pcb-a/teach/parts", headers=roles["engineer"], json={})
    assert r.status_code == 409 and r.json()["key"] == "teach_unsupported"
    assert client.get("/api/teach/job", headers=roles["engineer"]).json() == {"job": None}


def test_a_recipe_not_in_use_shows_the_model_hash_its_results_will_carry(line: Line, monkeypatch) -> None:
    """Re-tuned (or re-taught) while another recipe is in use, a recipe's card shows the hash its
    results will carry once selected, not its recipe file's; the recipe left when another is selected
    keeps showing the hash it judged with."""
    use_block_features(monkeypatch)  # the good-set recipe's test extractor, to prepare it
    gs = next(r["recipe_id"] for r in line.client.get("/api/recipes", headers=line.eng).json() if r["number"] == 2)
    first = _recipe_id(line)
    entries = {e.recipe_id: e for e in line.station.recipes_slot.catalog.entries()}
    assert _shown(line)[gs]["model_hash"] == entries[gs].model_hash  # nothing local yet: the file's
    first_hash = _judged_with(line)
    r = line.client.put("/api/settings/thresholds", headers=line.eng,
                        json={"recipe_id": gs, "values": {"min_area_px": 31}})
    assert r.status_code == 200, r.text
    expected = _shown(line)[gs]["model_hash"]
    assert expected != entries[gs].model_hash and expected.startswith(f"{entries[gs].name}@")
    assert _judged_with(line) == first_hash  # the recipe in use is untouched
    r = line.client.post("/api/recipes/active", headers=line.eng, json={"recipe_id": gs})
    assert r.status_code == 200, r.text
    assert _judged_with(line) == expected == _shown(line)[gs]["model_hash"]
    assert line.active().detect.min_area_px == 31
    assert _shown(line)[first]["model_hash"] == first_hash


def test_a_station_restarted_shows_the_hashes_of_recipes_tuned_in_an_earlier_run(tmp_path: Path, monkeypatch) -> None:
    """A recipe tuned (or taught) in an earlier run and not selected since: after a restart the recipe
    list shows the hash its results will carry (learnt off the PLC's path at start), not its file's."""
    use_block_features(monkeypatch)
    with running_station(tmp_path) as rs:
        gs = next(r.recipe_id for r in rs.station.recipes() if r.number == 2)
        rs.station.set_thresholds({"min_area_px": 33}, user="erik", recipe_id=gs)
        expected = next(r.model_hash for r in rs.station.recipes() if r.recipe_id == gs)
        file_hash = next(e.model_hash for e in rs.station.recipes_slot.catalog.entries() if e.recipe_id == gs)
        assert expected != file_hash
    with running_station(tmp_path) as rs:
        station = rs.station
        assert station._hash_thread is not None
        station._hash_thread.join(30.0)
        assert next(r.model_hash for r in station.recipes() if r.recipe_id == gs) == expected
        station.select_recipe(gs, user="erik")
        cur = station.recipes_slot.current
        assert cur is not None and cur.recipe_id == gs and cur.model_hash == expected
