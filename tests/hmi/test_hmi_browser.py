"""The HMI page in headless Chromium (Debian's package, driven by Playwright) against a real uvicorn
server on 127.0.0.1. Screenshots go to test-artifacts/ (1280x800 and 1920x1080)."""

from __future__ import annotations

import pytest
from browser_support import open_page, sign_in
from hmi_support import PASSWORD, build_env
from tests_support import ARTIFACTS

from hmi.auth.roles import Role
from hmi.server import HmiServer
from inspection.store import ReviewStatus

pytestmark = pytest.mark.browser

VIEWPORTS = [(1280, 800), (1920, 1080)]


def _page(browser, size: tuple[int, int]):
    return open_page(browser, size)


def _login(page, url: str, user: str, password: str = PASSWORD) -> None:
    sign_in(page, url, user, password)


def _shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_live_view_shows_parts_with_overlays_and_counters_move(browser, served):
    env, server = served
    last = env.inject(7)[-1]
    n = 7
    for size in VIEWPORTS:
        page = _page(browser, size)
        _login(page, server.url, "olga")
        page.wait_for_selector(f'#viewer[data-result-id="{last.result_id}"]')  # the snapshot is shown
        total0, ng0, ok0 = (int(page.text_content(s)) for s in ("#c-total", "#c-ng", "#c-ok"))
        assert total0 == n
        (ng,) = env.inject(1, defective=True, start=n + 1)
        n += 1
        page.wait_for_selector(f'#viewer[data-result-id="{ng.result_id}"]')
        assert page.text_content("#verdict-text") == "NG"
        assert page.get_attribute("#viewer", "class") == "viewer ng"
        assert int(page.text_content("#c-total")) == total0 + 1 and int(page.text_content("#c-ng")) == ng0 + 1
        shapes = ng.to_dict()["overlay"]
        assert page.locator("#live-shapes polygon.shape.reported").count() == len(shapes)
        labels = page.locator("#live-shapes .shape-label text").all_text_contents()
        assert labels == [f"{s['class_name']} {s['score']:.2f}" for s in shapes]
        # The outline sits on the defect: its box in image pixels is the finding's.
        bbox = page.evaluate("() => { const b = document.querySelector('#live-shapes polygon').getBBox();"
                             " return [b.x, b.y, b.width, b.height]; }")
        xs = [p[0] for p in shapes[0]["points"]]
        ys = [p[1] for p in shapes[0]["points"]]
        assert bbox == pytest.approx([min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)], abs=0.01)
        first = page.locator("#filmstrip .thumb").first
        assert first.get_attribute("data-result-id") == ng.result_id and "ng" in first.get_attribute("class")
        page.wait_for_function("() => document.querySelector('#filmstrip .thumb img').naturalWidth > 0")
        _shot(page, f"hmi-live-ng-{size[0]}x{size[1]}")

        (ok,) = env.inject(1, defective=False, start=n + 2)
        n += 1
        last = ok
        page.wait_for_selector(f'#viewer[data-result-id="{ok.result_id}"]')
        assert page.text_content("#verdict-text") == "OK"
        assert int(page.text_content("#c-ok")) == ok0 + 1 and int(page.text_content("#c-total")) == total0 + 2
        assert page.locator("#live-shapes polygon.reported").count() == 0
        _shot(page, f"hmi-live-ok-{size[0]}x{size[1]}")
        assert page.errors == []
        page.close()


def test_operator_reviews_a_reject(browser, served):
    env, server = served
    parts = env.inject(6)
    env.store.flush(10)
    rejects = [p for p in parts if p.verdict == "reject"]
    page = _page(browser, VIEWPORTS[0])
    _login(page, server.url, "olga")
    page.click('#nav a[data-page="review"]')
    oldest = rejects[0].result_id  # oldest first
    page.wait_for_selector(f'#review-svg[data-result-id="{oldest}"]')
    assert page.text_content("#review-count") == "(3)"
    assert page.locator("#review-svg polygon.reported").count() >= 1
    _shot(page, "hmi-review-1280x800")
    page.click("#btn-override")  # no reason yet: refused on the page
    page.wait_for_selector("#toast.bad")
    assert env.store.require(oldest).review is None
    page.select_option("#override-reason", label="Reflection or lighting")
    page.fill("#override-text", "glare on pad 3")
    page.click("#btn-override")
    page.wait_for_selector("#review-count:has-text('(2)')")
    got = env.store.require(oldest).review
    assert got is not None and got.status is ReviewStatus.OVERRIDDEN and got.user == "olga"
    assert got.reason == "Reflection or lighting: glare on pad 3"
    page.wait_for_selector(f'#review-svg[data-result-id="{rejects[1].result_id}"]')  # the next pending one
    page.click("#btn-confirm")
    page.wait_for_selector("#review-count:has-text('(1)')")
    assert env.store.require(rejects[1].result_id).review.status is ReviewStatus.CONFIRMED  # type: ignore[union-attr]
    assert [a.user for a in env.store.audit_log(action="review")] == ["olga", "olga"]
    assert page.errors == []


def test_operator_cannot_open_engineer_pages(browser, served):
    _, server = served
    page = _page(browser, VIEWPORTS[0])
    _login(page, server.url, "olga")
    for name in ("settings", "audit", "users"):
        assert page.locator(f'#nav a[data-page="{name}"]').is_hidden()
    page.goto(f"{server.url}/#settings")
    page.wait_for_selector("#page-denied", state="visible")
    assert "needs the engineer role" in page.text_content("#denied-text")
    assert page.locator("#page-settings").is_hidden()
    _shot(page, "hmi-operator-denied-1280x800")
    status = page.evaluate("() => fetch('/api/settings/thresholds').then(r => r.status)")
    assert status == 403
    page.goto(f"{server.url}/#users")
    page.wait_for_selector("#denied-text:has-text('needs the admin role')")
    page.goto(f"{server.url}/#recipes")  # visible to operators, but without the engineer buttons
    page.wait_for_selector('#recipe-cards .card[data-recipe="pcb-a"]')
    assert page.locator("#recipe-cards button").count() == 0
    assert page.errors == []


def test_engineer_pages_disarm_thresholds_history(browser, served):
    env, server = served
    parts = env.inject(10)
    good = env.station.part_image(parts[-2].result_id)  # teach from a good part
    env.station.teach_golden("pcb-a", user="erik", image=good)
    env.store.flush(10)
    for size in VIEWPORTS:
        page = _page(browser, size)
        _login(page, server.url, "erik")
        tag = f"{size[0]}x{size[1]}"
        page.click('#nav a[data-page="station"]')
        page.wait_for_selector("#btn-disarm:enabled")
        _shot(page, f"hmi-station-{tag}")
        page.click("#btn-disarm")
        page.wait_for_selector("#state-pill:has-text('DISARMED')")  # via the live stream
        assert env.station.status().armed is False
        page.click("#btn-arm")
        page.wait_for_selector("#state-pill:has-text('READY')")
        page.click('#nav a[data-page="settings"]')
        page.wait_for_selector("#settings-fields input[name=min_area_px]")
        page.fill("#settings-fields input[name=min_area_px]", "31")
        page.click("#settings-form button[type=submit]")
        page.wait_for_selector("#toast.good:has-text('Thresholds saved')")
        assert env.station.recipes()[0].thresholds["min_area_px"] == 31
        page.fill("#settings-fields input[name=min_area_px]", "0")
        page.click("#settings-form button[type=submit]")
        page.wait_for_selector("#settings-error:has-text('outside 1..100000')")
        _shot(page, f"hmi-settings-{tag}")
        page.click('#nav a[data-page="recipes"]')
        page.wait_for_function("() => document.querySelector('#recipe-cards img.golden')?.naturalWidth > 0")
        _shot(page, f"hmi-recipes-{tag}")
        page.click('#nav a[data-page="history"]')
        page.select_option("#history-filters select[name=verdict]", "reject")
        page.click("#history-filters button[type=submit]")
        page.wait_for_selector("#history-total:has-text('5 results')")
        page.click("#history-table tbody tr >> nth=0")
        page.wait_for_selector("#history-svg[data-result-id]")
        assert page.locator("#history-svg polygon.reported").count() >= 1
        _shot(page, f"hmi-history-{tag}")
        page.click('#nav a[data-page="audit"]')
        page.wait_for_selector("#audit-table tbody tr")
        assert "set thresholds" in page.text_content("#audit-table")
        assert "min_area_px: 8 → 31" in page.text_content("#audit-table")  # readable old -> new
        _shot(page, f"hmi-audit-{tag}")
        assert page.errors == []
        page.close()


def test_first_admin_by_setup_token_then_adds_a_user(browser, tmp_path):
    env = build_env(tmp_path)
    server = HmiServer(env.app).start()
    try:
        page = _page(browser, VIEWPORTS[0])
        page.goto(server.url)
        page.wait_for_selector("#setup-form", state="visible")
        page.fill("#setup-token", env.tokens[0])
        page.fill("#setup-user", "chief")
        page.fill("#setup-pass", "chief-pass-1")
        page.click("#setup-form button[type=submit]")
        page.wait_for_selector("#app", state="visible")
        page.click('#nav a[data-page="users"]')
        page.fill("#user-form input[name=username]", "nina")
        page.select_option("#user-form select[name=role]", "engineer")
        page.fill("#user-form input[name=password]", "nina-pass-1")
        page.click("#user-form button[type=submit]")
        page.wait_for_selector("#users-table td:has-text('nina')")
        user = env.users.get("nina")
        assert user is not None and user.role is Role.ENGINEER
        _shot(page, "hmi-users-1280x800")
        assert page.errors == []
    finally:
        server.stop()
        env.store.close()
        env.users.close()
