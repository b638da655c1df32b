"""Re-teaching a good-set recipe from N good parts in headless Chromium (Debian's package, driven by
Playwright) against the HMI on a real uvicorn server in front of a running station: the file-replay
camera serving textured tiles, the Modbus server with the PLC simulator as the PLC, the real store,
the block-statistics test extractor. The engineer sees the refusals (one part is no good-set model;
too few good parts in a selection), then teaches from the next good parts of the line while the page
shows the job's progress, and the new version with its model (the recipe card shows the model hash
the station judges with). Single-part and upload teach are not offered for a good-set recipe (the
station still refuses them through the API), and the view shows the part's anomaly heat map and its
peak against the model's threshold instead of a pixel difference from the golden (meaningless on
textured tiles). Screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import open_page, sign_in
from goodset_support import use_block_features
from station_support import PASSWORD, Running, running_goodset_station
from tests_support import ARTIFACTS

from hmi.app import create_app
from hmi.server import HmiServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

# the camera's tiles (True: a smooth spot, judged NG): the first ten become stored parts before the
# teach view opens, the next ones are the line's parts while the job collects
STORED = [False, True, False, False, True, False, False, False, True, False]
LINE = [False, True, False, False, True, False, False]
N = 5


@pytest.fixture
def served_goodset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Running, HmiServer]]:
    use_block_features(monkeypatch)
    with running_goodset_station(tmp_path, STORED + LINE) as rs:
        server = HmiServer(create_app(rs.station, rs.station.store, rs.users, announce=lambda _t: None)).start()
        try:
            yield rs, server
        finally:
            server.stop()


def _get(page: Any, path: str) -> Any:
    """``GET path`` with the page's session (the API as the signed-in engineer)."""
    got = page.evaluate("async (p) => { const r = await fetch(p); return [r.status, await r.json()]; }", path)
    assert got[0] == 200, got
    return got[1]


def _post(page: Any, path: str, body: Any) -> tuple[int, Any]:
    """``POST path`` with a JSON body and the page's session: (status, answer)."""
    return tuple(page.evaluate(
        "async ([p, b]) => { const r = await fetch(p, {method: 'POST', headers: {'Content-Type': 'application/json'}, "
        "body: JSON.stringify(b)}); return [r.status, await r.json()]; }", [path, body]))


def _card_model(page: Any, rid: str, expected: str) -> str:
    """The recipe card's "Model" line, once it reads ``expected`` (the cards are reloaded after a
    teach or a rollback)."""
    js = ("([rid, want]) => { const c = document.querySelector(`#recipe-cards .card[data-recipe=\"${rid}\"]`);"
          " const dt = c && [...c.querySelectorAll('dt')].find((d) => d.textContent === 'Model');"
          " return dt ? dt.nextElementSibling.textContent === want : false; }")
    page.wait_for_function(js, arg=[rid, expected])
    return str(page.eval_on_selector(f'#recipe-cards .card[data-recipe="{rid}"]',
                                     "c => [...c.querySelectorAll('dt')].find((d) => d.textContent === 'Model')"
                                     ".nextElementSibling.textContent"))


def _shows_heat_map(page: Any, part: dict[str, Any]) -> None:
    """The teach view's third panel is ``part``'s anomaly heat map (loaded), its details the map's
    peak against the model's threshold, and nothing of a pixel difference from the golden."""
    rid = part["result_id"]
    page.wait_for_selector(f'#teach-compare img#teach-heat[src^="/api/parts/{rid}/heatmap"]')
    page.wait_for_function("() => { const i = document.querySelector('#teach-heat'); return i && i.complete && i.naturalWidth > 0; }")
    captions = page.locator("#teach-compare figcaption").all_text_contents()
    assert captions[2] == "Anomaly heat map (good-set model)", captions
    assert not any("Difference" in c for c in captions), captions
    assert page.locator("#teach-diff").count() == 0
    info = page.text_content("#teach-info")
    assert "Differs from golden" not in info and "% of pixels" not in info, info
    assert part["part_id_str"] in info
    peak, threshold = float(part["heat_map"]["peak"]), float(part["heat_map"]["threshold"])
    score = float(part["heat_map"]["score"])  # the verdict's image score, kept with the map
    assert (score > threshold) == (part["verdict"] != "pass"), part
    shown = page.text_content("#teach-anomaly")
    assert shown.startswith(f"{score / threshold:.2f} × threshold (score {score:.4g}, threshold "
                            f"{threshold:.4g} of the model that judged it; map peak {peak:.4g}"), shown
    assert "Anomaly score" in info


def test_engineer_reteaches_a_goodset_recipe_from_good_parts_of_the_line(browser, served_goodset) -> None:
    rs, server = served_goodset
    rid = rs.station.status().active_recipe
    rs.run(len(STORED))
    assert rs.station.store.flush(10.0)
    page = open_page(browser, (1280, 1000))
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.text} {m.location.get('url')}") if m.type == "error" else None)
    sign_in(page, server.url, "erik", PASSWORD)
    before = next(r for r in _get(page, "/api/recipes") if r["recipe_id"] == rid)
    old_digest = rs.recipe.goodset.digest()  # type: ignore[union-attr]
    old_hash = rs.station.recipes_slot.current.model_hash  # type: ignore[union-attr]
    assert before["detector"] == "goodset" and before["model_hash"] == old_hash, before
    stored = _get(page, "/api/results?limit=50")["items"]
    ok = [p["result_id"] for p in stored if p["verdict"] == "pass"]
    ng = [p["result_id"] for p in stored if p["verdict"] != "pass"]
    assert len(ng) == STORED.count(True) and len(ok) == STORED.count(False), stored

    page.click('#nav a[data-page="recipes"]')
    card = f'#recipe-cards .card[data-recipe="{rid}"]'
    # the card: the model hash the station judges with; a good-set recipe is not taught from an
    # uploaded image, so the card says how it is taught instead of offering the upload
    assert _card_model(page, rid, old_hash) == old_hash
    assert "taught from N good parts" in page.text_content(f"{card} .teach-note")
    assert page.locator(f"{card} button.teach-upload").count() == 0
    assert page.locator(f"{card} button >> text=Upload golden image").count() == 0
    page.click(f"{card} button.teach-open")
    page.wait_for_selector("#teach-parts")
    # the recipe's own reference and model, in use until a teach: the current version
    page.wait_for_selector("#teach-versions tbody tr.current >> text=the recipe's own reference · with good-set model")
    # one part is no good-set model: the view does not offer "Teach this part" and says why, while
    # "Teach from N good parts" is there
    page.wait_for_selector("#teach-single-note >> text=taught from N good parts")
    assert page.locator("#teach-go").count() == 0 and page.locator("#teach-view >> text=Teach this part").count() == 0
    assert not page.is_visible("#teach-refused")
    assert page.is_enabled("#teach-parts-go")
    # no pixel golden comparison for a good-set recipe: the candidate's anomaly heat map (the picture
    # review shows) instead of the difference, and its peak against the model's threshold instead of
    # "Differs from golden"
    last = stored[0]  # newest first: the candidate the view opens with
    assert last["verdict"] == "pass" and last["heat_map"] is not None, last
    _shows_heat_map(page, last)
    page.locator("#teach-compare").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "hmi-teach-goodset-heatmap-1280x1000.png"))
    page.locator("#teach-view").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "hmi-teach-goodset-view-1280x1000.png"))
    # another part from the strip, an NG one: its own heat map and peak
    bad = next(p for p in stored if p["verdict"] != "pass")
    page.click(f'#teach-recent .teach-pick.ng[title^="{bad["part_id_str"]} "]')
    _shows_heat_map(page, bad)
    # a part whose heat map cannot be had (404): a short note, no broken image
    gone = next(p for p in stored[1:] if p["verdict"] == "pass")
    heat_url = f"{server.url}/api/parts/{gone['result_id']}/heatmap?width=800"
    page.route(heat_url, lambda route: route.fulfill(status=404, content_type="application/json",
                                                     body='{"detail": "no heat map"}'))
    page.click(f'#teach-recent .teach-pick.ok[title^="{gone["part_id_str"]} "]')
    page.wait_for_selector("#teach-compare #teach-heat-none >> text=no anomaly heat map stored for this part")
    assert page.locator("#teach-compare img#teach-heat").count() == 0
    page.unroute(heat_url)
    page.click(f'#teach-recent .teach-pick.ok[title^="{last["part_id_str"]} "]')
    _shows_heat_map(page, last)
    # the station still refuses one part and an uploaded image, with the way to teach it instead
    status, answer = _post(page, f"/api/recipes/{rid}/teach", {"result_id": ok[0]})
    assert status == 409 and answer["key"] == "teach_unsupported", answer
    assert "Teach from N good parts" in answer["detail"]
    # a selection with fewer good parts than a good-set model needs: refused on the page, with why
    page.select_option("#teach-source", "selection")
    page.fill("#teach-ids", " ".join(ng + ok[: N - 1]))
    page.click("#teach-parts-go")
    page.wait_for_selector("#teach-parts-result >> text=usable good part(s)")
    refused = page.text_content("#teach-parts-result")
    assert f"{N - 1} usable good part(s)" in refused and f"{N} needed" in refused and f"{len(ng)} NG" in refused
    assert page.is_enabled("#teach-parts-go") and page.get_attribute("#teach-parts", "data-phase") is None
    assert rs.station.recipes_slot.current.loaded.recipe.goodset.digest() == old_digest  # type: ignore[union-attr]

    # the next N good parts of the line: the page follows the job while the parts come
    page.select_option("#teach-source", "line")
    page.fill("#teach-n", str(N))
    page.click("#teach-parts-go")
    page.wait_for_selector('#teach-parts[data-phase="collecting"]')
    page.wait_for_selector(f"#teach-progress-text >> text=collecting · 0 / {N} parts")
    assert page.is_disabled("#teach-parts-go") and page.is_enabled("#teach-parts-cancel")
    rs.run(2)  # a good part, then an NG one: counted, with the reason
    page.wait_for_selector(f"#teach-progress-text >> text=collecting · 1 / {N} parts · refused 1 (1 NG)")
    assert page.eval_on_selector("#teach-progress", "e => e.value") == pytest.approx(1 / N)
    page.locator("#teach-parts").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "hmi-teach-goodset-progress-1280x1000.png"))
    rs.run(len(LINE) - 2)
    page.wait_for_selector('#teach-parts[data-phase="done"]', timeout=120_000)
    job = _get(page, "/api/teach/job")["job"]
    res = job["result"]
    assert job["phase"] == "done" and job["collected"] == N and job["refused_by_reason"] == {"NG": 2}, job
    assert res["detector"] == "goodset" and res["parts_used"] == N and res["previous_model_digest"] == old_digest
    # the result as the page shows it: the new version, its good-set model and its threshold
    assert page.text_content("#teach-progress-text").startswith(f"done · {N} / {N} parts")
    assert page.eval_on_selector("#teach-progress", "e => e.value") == 1
    shown = page.text_content("#teach-parts-result")
    assert f"new golden {res['version']} with its good-set model, taught from {N} of {N} parts" in shown
    assert f"threshold {float(res['threshold']):.4g} from {N} held-out scores" in shown
    odd = res["most_unusual_parts"][0]  # named for the engineer to check
    # named by the part id operators know (result ids of one minute share their first digits)
    assert odd["part_id_str"].startswith("SN")
    assert f"least like the others (check they are good): {odd['part_id_str']} " in shown, shown
    page.wait_for_selector(f"#toast.good >> text=good-set model taught from {N} parts (version {res['version']})")
    current = page.locator("#teach-versions tbody tr.current")
    current.locator(f"text={res['version']}").wait_for()
    assert "with good-set model" in current.text_content() and f"{N} parts:" in current.text_content()
    page.screenshot(path=str(ARTIFACTS / "hmi-teach-goodset-done-1280x1000.png"))
    # the card follows: the new model hash, the one the station judges with now
    new_hash = rs.station.recipes_slot.current.model_hash  # type: ignore[union-attr]
    assert new_hash != old_hash and _card_model(page, rid, new_hash) == new_hash

    # through the API: the recipe's current version is the new one, kept with a good-set model
    after = next(r for r in _get(page, "/api/recipes") if r["recipe_id"] == rid)
    assert after["golden"]["version"] == res["version"] != before["golden"]["version"]
    assert after["model_hash"] == new_hash
    top = _get(page, f"/api/recipes/{rid}/golden/versions")[0]
    assert top["version"] == res["version"] and top["current"] and top["goodset_model"] is True
    assert top["variation_model"] is False and all(i in top["source"] for i in job["result_ids"])
    assert [v["current"] for v in _get(page, f"/api/recipes/{rid}/golden/versions")[1:]] == [False]
    # and the station judges with it: still the good-set detector, with the taught model
    cur = rs.station.recipes_slot.current
    assert cur is not None and cur.loaded.recipe.detector == "goodset"
    assert cur.loaded.recipe.goodset.digest() == res["model_digest"] != old_digest  # type: ignore[union-attr]
    # a rollback to the recipe's own model from the versions table: the card shows its hash again
    page.click("#teach-versions button.rollback")
    page.wait_for_selector("#toast.good >> text=rolled back")
    assert _card_model(page, rid, old_hash) == old_hash
    assert rs.station.recipes_slot.current.model_hash == old_hash  # type: ignore[union-attr]
    # no script error, and the browser's only console errors are the answers the page was meant to get
    assert page.errors == []
    failed = "Failed to load resource: the server responded with a status of"
    assert console == [f"{failed} 401 (Unauthorized) {server.url}/api/auth/me",  # before signing in
                       f"{failed} 404 (Not Found) {heat_url}",  # the heat map answered 404 above
                       f"{failed} 409 (Conflict) {server.url}/api/recipes/{rid}/teach",
                       f"{failed} 409 (Conflict) {server.url}/api/recipes/{rid}/teach/parts"]


@pytest.fixture
def served_same_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Running, HmiServer]]:
    """A local-bank recipe keeping every patch of a part (the test extractor's two block statistics
    say little about which tile a patch is from: a coreset of a few rows would match any tile alike),
    and a line where the same four tiles come again and again."""
    use_block_features(monkeypatch)
    with running_goodset_station(tmp_path, [False] * 12, bank_knn=4, parts=4, tile_rows=400, target_frr=0.01) as rs:
        server = HmiServer(create_app(rs.station, rs.station.store, rs.users, announce=lambda _t: None)).start()
        try:
            yield rs, server
        finally:
            server.stop()


def test_teaching_from_the_same_parts_again_warns_the_engineer(browser, served_same_parts) -> None:
    """Good parts that are the same few parts presented again make a threshold too low for new parts:
    the job's result names the look-alike pairs and the page shows the warning."""
    rs, server = served_same_parts
    rid = rs.station.status().active_recipe
    rs.run(12)
    assert rs.station.store.flush(10.0)
    page = open_page(browser, (1280, 1000))
    sign_in(page, server.url, "erik", PASSWORD)
    stored = _get(page, "/api/results?limit=50")["items"]
    ok = [p["result_id"] for p in stored if p["verdict"] == "pass"]
    assert len(ok) >= 6, stored  # at least two of the four tiles pass, each three times
    page.click('#nav a[data-page="recipes"]')
    page.click(f'#recipe-cards .card[data-recipe="{rid}"] button.teach-open')
    page.wait_for_selector("#teach-parts")
    page.select_option("#teach-source", "selection")
    page.fill("#teach-ids", " ".join(ok))
    page.click("#teach-parts-go")
    page.wait_for_selector('#teach-parts[data-phase="done"]', timeout=120_000)
    res = _get(page, "/api/teach/job")["job"]["result"]
    pairs = res["look_alike_parts"]
    assert len(pairs) == len(ok) and {p["result_id"] for p in pairs} == set(ok), pairs
    part_of = {p["result_id"]: p["part_id_str"] for p in stored}
    assert all(p["part_id_str"] == part_of[p["result_id"]] != "" for p in pairs), pairs
    # the same tile came every fourth part: each look-alike is one of its other showings
    serial = {p["result_id"]: int(p["part_id_str"].removeprefix("SN")) for p in stored}
    assert all((serial[p["result_id"]] - serial[p["like"]]) % 4 == 0 for p in pairs), pairs
    warning = res["look_alike_warning"]
    assert warning and warning.startswith(f"{len(ok)} of {len(ok)} taught parts look far more like")
    assert f"({pairs[0]['part_id_str']} ~ {part_of[pairs[0]['like']]}, " in warning, warning
    assert "the same part presented more than once?" in warning and "--part-pattern" not in warning
    note = page.locator("#teach-parts-result .warn-note.look-alikes")
    assert note.text_content() == f"WARNING: {warning}"
    assert page.eval_on_selector("#teach-parts-result .warn-note.look-alikes", "e => getComputedStyle(e).color") \
        == "rgb(240, 165, 0)"  # --warn, apart from the result's green
    # a dozen parts cannot carry a 1% false-reject target either: its own line, first
    few = res["few_parts_warning"]
    assert few and few.startswith(f"the threshold rests on {len(ok)} held-out good scores"), few
    assert page.text_content("#teach-parts-result .warn-note >> nth=0") == f"WARNING: {few}"
    page.locator("#teach-parts").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "hmi-teach-goodset-look-alikes-1280x1000.png"))
