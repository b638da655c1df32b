"""What-if of a good-set recipe through the HMI's API: ``GET /api/whatif`` offers the model's
threshold (``anomaly_threshold``) with the active recipe's value and keeps the last what-if;
``POST /api/whatif`` judges stored parts with it (the good-set detector, the model kept with the
recipe version) and lists the parts it could not judge. A recipe without a good-set model refuses
the parameter. The station here is the HMI tests' in-process one with a real
:class:`~inspection.station.lifecycle.RecipeLifecycle` on its data folder."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
from goodset_support import goodset_recipe, inspected_tiles

from inspection.record import PartInfo
from inspection.result import ResultCode
from inspection.station.lifecycle import RecipeLifecycle

DEFECTS = [True, False, True, True]


@pytest.fixture
def lifecycle(env):
    env.station.config = SimpleNamespace(station=SimpleNamespace(data_dir=env.root))  # store: root/store
    lc = RecipeLifecycle(env.station)
    env.station.lifecycle = lc
    yield lc
    lc.close()


def _active(env, recipe) -> None:
    env.station.recipes_slot = SimpleNamespace(current=SimpleNamespace(loaded=SimpleNamespace(recipe=recipe)))


def test_whatif_with_the_goodset_threshold(env, client, roles, lifecycle, monkeypatch):
    eng = roles["engineer"]
    assert client.get("/api/whatif", headers=roles["operator"]).status_code == 403
    state = client.get("/api/whatif", headers=eng).json()
    assert state == {"running": None, "last": None, "parameters": []}  # no good-set recipe active
    r = client.post("/api/whatif", headers=eng, json={"values": {"anomaly_threshold": 1.0}})
    assert r.status_code == 422 and r.json()["key"] == "not_goodset"

    recipe = dataclasses.replace(goodset_recipe(0), number=1)
    lifecycle.versions.keep(recipe)
    _active(env, recipe)
    parts = inspected_tiles(monkeypatch, recipe, DEFECTS)
    for k, (result, image) in enumerate(parts):
        assert result.code is (ResultCode.NG_DEFECT if DEFECTS[k] else ResultCode.OK)
        env.station.inject(result, image, part=PartInfo(part_id=k + 1, recipe_number=1, model_hash=result.recipe_id))
    assert env.store.flush(10)
    (param,) = client.get("/api/whatif", headers=eng).json()["parameters"]
    assert param["name"] == "anomaly_threshold" and param["value"] == pytest.approx(recipe.goodset.threshold)

    high = max(r.heat_map.peak for r, _ in parts) * 10  # above every part's score
    r = client.post("/api/whatif", headers=eng, json={"values": {"anomaly_threshold": high}, "last": 50})
    assert r.status_code == 200, r.text
    rep = r.json()
    stored = rep["parts"]
    assert stored >= sum(DEFECTS) and rep["refused"] == [] and rep["refused_count"] == 0
    assert rep["newly_passed"] == sum(DEFECTS) and rep["rejected_now"] == 0
    assert rep["candidate"]["thresholds"] == {"anomaly_threshold": high}
    assert all("image" not in c for c in rep["changed"])
    last = client.get("/api/whatif", headers=eng).json()["last"]
    assert last["user"] == "engineer" and last["values"] == {"anomaly_threshold": high}
    assert last["report"]["newly_passed"] == sum(DEFECTS) and last["report"]["sentence"] == rep["sentence"]

    # the version without its model: every part refused, with why, none judged by another detector
    (lifecycle.versions.root / recipe.content_hash() / "goodset.npz").unlink()
    lifecycle.versions._cache.clear()
    rep = client.post("/api/whatif", headers=eng, json={"values": {"anomaly_threshold": high}}).json()
    assert rep["parts"] == 0 and rep["refused_count"] == stored
    assert {f["reason"] for f in rep["refused"]} == {"recipe_version_incomplete"}


@pytest.mark.browser
def test_thresholds_page_offers_the_goodset_threshold(browser, served, monkeypatch):
    from browser_support import open_page, sign_in
    from hmi_support import PASSWORD

    env, server = served
    env.station.config = SimpleNamespace(station=SimpleNamespace(data_dir=env.root))
    lc = env.station.lifecycle = RecipeLifecycle(env.station)
    try:
        recipe = dataclasses.replace(goodset_recipe(0), number=1)
        lc.versions.keep(recipe)
        _active(env, recipe)
        parts = inspected_tiles(monkeypatch, recipe, DEFECTS)
        for k, (result, image) in enumerate(parts):
            env.station.inject(result, image, part=PartInfo(part_id=k + 1, recipe_number=1,
                                                            model_hash=result.recipe_id))
        assert env.store.flush(10)
        page = open_page(browser, (1280, 1000))
        sign_in(page, server.url, "erik", PASSWORD, live=False)
        page.click('#nav a[data-page="settings"]')
        field = page.wait_for_selector('#whatif-extra input[name="anomaly_threshold"]')
        assert float(field.input_value()) == pytest.approx(recipe.goodset.threshold)
        field.fill(str(max(r.heat_map.peak for r, _ in parts) * 10))
        page.click("#btn-whatif")
        page.wait_for_function("() => document.querySelector('#whatif-sentence').dataset.changed !== undefined")
        assert page.get_attribute("#whatif-sentence", "data-changed") == str(sum(DEFECTS))
        assert page.get_attribute("#whatif-sentence", "data-refused") == "0"
        assert page.locator("#whatif-changed li").count() == sum(DEFECTS)
        sent = lc.whatif_state()["last"]["values"]  # the thresholds above as they are, and the model's
        assert sent["anomaly_threshold"] == pytest.approx(float(field.input_value()))
        assert page.errors == []
    finally:
        lc.close()
