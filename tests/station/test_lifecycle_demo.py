"""What-if and a shadow recipe end to end against the running demo (``inspection demo`` as a user
starts it: a subprocess with the pylon emulator, the Modbus server, the simulated PLC at 4 parts/s
and the HMI), driven through the HMI's API and its thresholds page in headless Chromium.

The PLC's cycle time (trigger to result, ``cycle_ms`` of every stored part) is measured in a window
without and a window with the shadow recipe running; both p99s go to test-artifacts/shadow-cycle.json.
``SHADOW_WINDOW_S`` sets the window length (default 12 s), ``SHADOW_RATE`` the parts per second (4)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from browser_support import DEMO_PASSWORD, add_demo_user, open_page, running_demo, sign_in
from tests_support import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

WINDOW_S = float(os.environ.get("SHADOW_WINDOW_S", "12"))
RATE = float(os.environ.get("SHADOW_RATE", "4"))  # parts/s from the simulated PLC
DEADLINE_MS = 2000.0  # the demo's PLC deadline


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("demo")
    data = root / "data"
    add_demo_user(data, "erik", "engineer")
    add_demo_user(data, "olga", "operator")
    with running_demo(root, rate=RATE, threads_1=True) as (url, _):
        yield url, data


def _client(url: str, user: str) -> httpx.Client:
    c = httpx.Client(base_url=url, timeout=120.0)
    r = c.post("/api/auth/login", json={"username": user, "password": DEMO_PASSWORD})
    if r.status_code != 200:
        c.close()
        raise AssertionError(r.text)
    c.headers["Authorization"] = f"Bearer {r.json()['token']}"
    return c


def _db(data: Path) -> sqlite3.Connection:
    return sqlite3.connect(data / "store" / "results.db")


def _wait_stored(data: Path, n: int, timeout: float = 60.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        with _db(data) as c:
            if c.execute("select count(*) from results where image_state = 'saved'").fetchone()[0] >= n:
                return
        time.sleep(0.5)
    raise AssertionError(f"fewer than {n} stored parts with images after {timeout} s")


def _cycles(data: Path, t0_ns: int, t1_ns: int) -> np.ndarray:
    with _db(data) as c:
        rows = c.execute("select cycle_ms from results where decided_ns >= ? and decided_ns < ? and code != 4",
                         (t0_ns, t1_ns)).fetchall()
    return np.array([r[0] for r in rows], float)


def _login(browser, url: str, user: str):
    page = open_page(browser, (1280, 1000))
    page.on("dialog", lambda d: d.accept())
    return sign_in(page, url, user, DEMO_PASSWORD, live=False)


def test_whatif_and_shadow_on_the_running_demo(browser, demo) -> None:
    url, data = demo
    api, op = _client(url, "erik"), _client(url, "olga")
    try:
        _flow(browser, url, data, api, op)
    finally:
        api.close()
        op.close()


def _flow(browser, url: str, data: Path, api: httpx.Client, op: httpx.Client) -> None:
    _wait_stored(data, 8)

    # what-if with the values in force: nothing changes (the HMI's what-if reproduces the line)
    same = api.post("/api/whatif", json={"values": {"threshold": 0.25}, "last": 500}).json()
    assert same["parts"] >= 5 and same["changed_count"] == 0, same
    assert same["rejected_now"] == same["rejected_before"] >= 1

    # operators' reviews show up in what-if: confirm one reject, override another to OK
    with _db(data) as c:
        rejects = [r[0] for r in c.execute("select result_id from results where verdict = 'reject' and "
                                           "image_state = 'saved' order by seq")]
    assert op.post(f"/api/results/{rejects[0]}/review", json={"decision": "overridden",
                                                              "reason": "label only"}).status_code == 200
    assert op.post(f"/api/results/{rejects[1]}/review", json={"decision": "confirmed"}).status_code == 200
    assert op.post("/api/whatif", json={"values": {"threshold": 0.7}}).status_code == 403  # engineers only

    # the thresholds page: a higher threshold would reject fewer of the stored parts (0.7: the demo's
    # faintest defect, part 6 of 10, scores about 0.5 at 0.6, on the report threshold; at 0.7 it is
    # gone, the others stay rejected)
    page = _login(browser, url, "erik")
    page.click('#nav a[data-page="settings"]')
    page.wait_for_selector("#settings-fields input[name=threshold]")
    page.fill("#settings-fields input[name=threshold]", "0.7")
    page.click("#btn-whatif")
    page.wait_for_function("() => /would have rejected/.test(document.querySelector('#whatif-sentence').textContent)",
                           timeout=120_000)
    sentence = page.text_content("#whatif-sentence") or ""
    m = re.search(r"rejected (\d+) of the last (\d+) stored parts \(now (\d+)\); (\d+) of them (?:was|were) reviewed OK", sentence)
    assert m, sentence
    now, parts, before, reviewed_ok = map(int, m.groups())
    assert parts >= 5 and now < before, sentence
    assert page.locator("#whatif-changed li").count() == before - now
    assert reviewed_ok in (0, 1)
    # the one reject reviewed OK is either still rejected (counted in the sentence) or changes
    r = api.post("/api/whatif", json={"values": {"threshold": 0.7}}).json()
    assert r["rejected_now_reviewed_ok"] + r["changed_reviewed_ok"] == 1, r
    assert r["changed_confirmed_ng"] == r["passed_now_confirmed_ng"] <= 1, r
    page.screenshot(path=str(ARTIFACTS / "engineering-whatif-1280x1000.png"), full_page=True)

    # the PLC's cycle without a shadow ...
    a0 = time.time_ns()
    time.sleep(WINDOW_S)
    a1 = time.time_ns()
    # ... and with one, started from the page with the threshold in the field
    page.click("#btn-shadow-start")
    page.wait_for_selector("#shadow-status[data-running=yes]", timeout=30_000)
    b0 = time.time_ns()
    time.sleep(WINDOW_S)
    b1 = time.time_ns()
    status = api.get("/api/shadow").json()
    run = status["run"]
    assert status["running"] and run["candidate"]["thresholds"]["threshold"] == 0.7
    assert run["seen"] >= 5 and run["disagreed"] >= 1 and run["seen"] == run["agreed"] + run["disagreed"]
    assert all(d["live_verdict"] == "reject" and d["shadow_verdict"] == "pass" for d in status["disagreements"])
    with sqlite3.connect(data / "station" / "shadow.db") as c:
        stored = c.execute("select count(*) from shadow_disagreements where run_id = ?", (run["run_id"],)).fetchone()[0]
    assert stored >= run["disagreed"] >= 1
    page.wait_for_function("() => document.querySelectorAll('#shadow-disagreements li').length > 0", timeout=10_000)
    page.locator("#whatif-card").screenshot(path=str(ARTIFACTS / "engineering-shadow-1280x1000.png"))

    without, with_shadow = _cycles(data, a0, a1), _cycles(data, b0, b1)
    assert len(without) >= 10 and len(with_shadow) >= 10
    numbers = {"window_s": WINDOW_S, "rate_parts_s": RATE,
               "without_shadow": {"parts": len(without), "p50_ms": float(np.percentile(without, 50)),
                                  "p99_ms": float(np.percentile(without, 99)), "max_ms": float(without.max())},
               "with_shadow": {"parts": len(with_shadow), "p50_ms": float(np.percentile(with_shadow, 50)),
                               "p99_ms": float(np.percentile(with_shadow, 99)), "max_ms": float(with_shadow.max())},
               "shadow": {k: run[k] for k in ("seen", "disagreed", "dropped", "shadow_ms_mean", "shadow_ms_max")}}
    (ARTIFACTS / "shadow-cycle.json").write_text(json.dumps(numbers, indent=2))
    print("PLC cycle:", json.dumps(numbers))
    assert numbers["with_shadow"]["p99_ms"] < DEADLINE_MS

    # promote with one click (confirmed): the thresholds change between cycles, audited
    page.click("#btn-shadow-promote")
    page.wait_for_selector("#shadow-status[data-running=no]", timeout=30_000)
    th = api.get("/api/settings/thresholds").json()
    assert th["values"]["threshold"] == 0.7
    assert api.post("/api/shadow/promote").status_code == 409  # nothing left to promote
    # a new recipe version is kept for the parts judged from now on, and they replay with it
    t_promoted = time.time_ns()
    hashes: set[str] = set()
    deadline = time.monotonic() + 30.0  # parts judged after the promotion, once the store has them
    while time.monotonic() < deadline:
        time.sleep(1.0)
        with _db(data) as c:
            hashes = {h for (h,) in c.execute("select distinct model_hash from results where decided_ns > ?",
                                              (t_promoted + 500_000_000,))}
        if hashes and time.time_ns() > t_promoted + 3_000_000_000:
            break
    assert len(hashes) == 1 and len(list((data / "station" / "recipe-versions").iterdir())) >= 2

    # a shadow that is dropped changes nothing
    api.post("/api/shadow", json={"values": {"min_area_px": 40}}).raise_for_status()
    assert api.delete("/api/shadow").status_code == 200
    assert api.delete("/api/shadow").status_code == 409
    assert api.get("/api/settings/thresholds").json()["values"]["min_area_px"] == 8
    want = [("shadow_start", "erik"), ("set_thresholds", "erik"), ("shadow_promote", "erik"),
            ("shadow_start", "erik"), ("shadow_drop", "erik")]
    deadline = time.monotonic() + 10.0  # audits are written before the API answers; a margin all the same
    while True:
        c = _db(data)
        try:
            actions = [(a, u) for a, u in c.execute("select action, user from audit where action like "
                                                    "'shadow_%' or action = 'set_thresholds' order by id")]
            tail = c.execute("select id, ts_ns, action, user, target from audit order by id desc limit 12").fetchall()
        finally:
            c.close()
        if actions == want or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    # (failed twice on 2026-12-07, once in 8 runs and once in 6 CI runs: the second shadow's two
    # entries absent from the database; cause not found). On a mismatch, say whether the station
    # itself lists them (through its own connection) while another connection does not see them.
    if actions != want:
        listed = [(e["action"], e["user"], e["id"]) for e in api.get("/api/audit?limit=50").json()
                  if e["action"].startswith("shadow_") or e["action"] == "set_thresholds"]
        print("audit in the database:", actions, "\naudit tail:", tail, "\naudit the station lists:", listed)
    assert actions == want, actions
    assert page.errors == []
    page.close()

    # a variant golden: teach a reject as an allowed variant of the part; when that very part comes
    # again (the demo serves its parts in a cycle) it passes, judged against the variant, named
    (rid_active,) = [r["recipe_id"] for r in api.get("/api/recipes").json() if r["active"]]
    with _db(data) as c:
        rid, part_id = c.execute("select result_id, part_id from results where verdict = 'reject' and code = 2 "
                                 "and image_state = 'saved' order by seq desc limit 1").fetchone()
    r = api.post(f"/api/recipes/{rid_active}/variants", json={"name": "supplier-b", "result_id": rid})
    assert r.status_code == 200, r.text
    assert [v["name"] for v in api.get(f"/api/recipes/{rid_active}/variants").json()] == ["supplier-b"]
    taught = time.time_ns()
    deadline = time.monotonic() + 30
    again = None
    while again is None and time.monotonic() < deadline:
        time.sleep(1)
        with _db(data) as c:
            again = c.execute("select verdict, message from results where part_id > ? and (part_id - ?) % 10 = 0 "
                              "and decided_ns > ? order by seq limit 1", (part_id, part_id, taught)).fetchone()
    assert again is not None and again[0] == "pass" and "reference: supplier-b" in again[1], again
    with _db(data) as c:
        named = [m for (m,) in c.execute("select message from results where decided_ns > ? and code in (1, 2)",
                                         (taught + 500_000_000,))]
    assert named and all("(reference: " in m for m in named)
    assert api.delete(f"/api/recipes/{rid_active}/variants/nope").status_code == 404
    with _db(data) as c:
        assert c.execute("select count(*) from audit where action = 'teach_variant' and user = 'erik'").fetchone()[0] == 1

    # the same from the thresholds page: teach the last part as a variant, then remove it
    page = _login(browser, url, "erik")
    page.click('#nav a[data-page="settings"]')
    page.wait_for_selector("#variant-list li[data-name=supplier-b]", timeout=10_000)
    page.fill("#variant-name", "label-flipped")
    page.click("#btn-variant-teach")
    page.wait_for_selector("#variant-list li[data-name=label-flipped]", timeout=30_000)
    page.locator("#variants-card").screenshot(path=str(ARTIFACTS / "engineering-variants-1280x1000.png"))
    page.click("#variant-list li[data-name=label-flipped] button.variant-remove")
    page.wait_for_selector("#variant-list li[data-name=label-flipped]", state="detached", timeout=10_000)
    assert [v["name"] for v in api.get(f"/api/recipes/{rid_active}/variants").json()] == ["supplier-b"]
    with _db(data) as c:
        assert [a for (a,) in c.execute("select action from audit where action like '%variant' order by id")] == [
            "teach_variant", "teach_variant", "remove_variant"]
    assert page.errors == []
    page.close()

    # every stored part of this run replays to its stored verdict: several recipe versions (tuned
    # thresholds, a variant golden), each part with the version that judged it
    from inspection.recipe.versions import RecipeVersions
    from inspection.station.replay import run_replay, versions_dir

    report = run_replay(data / "store", RecipeVersions(versions_dir(data)))
    print("replay of the running demo:", {k: report.to_dict()[k] for k in ("parts", "same_verdict", "not_replayable")})
    assert report.parts >= 20 and report.same_verdict == report.parts and report.unknown_recipe == 0
    with _db(data) as c:
        assert c.execute("select count(distinct model_hash) from results").fetchone()[0] >= 3
