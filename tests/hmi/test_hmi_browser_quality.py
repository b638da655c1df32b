"""Issue 14 in headless Chromium against a real uvicorn server: the alarm banner (5 NG in a row,
acknowledge), review at volume (oldest first, keyboard, next pending, bulk confirm of a filtered set,
golden beside the part), the CSV export links, and the guarded teach view with rollback.
Screenshots go to test-artifacts/."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_support import open_page, sign_in
from hmi_support import PASSWORD
from tests_support import ARTIFACTS, make_result

from hmi.auth.roles import Role
from inspection.record import PartInfo
from inspection.store import ReviewStatus

pytestmark = pytest.mark.browser


def _login(browser, url: str, user: str, size: tuple[int, int] = (1280, 800)):
    return sign_in(open_page(browser, size, accept_downloads=True), url, user, PASSWORD)


def test_alarm_banner_after_five_ng_and_acknowledge(browser, served):
    env, server = served
    env.inject(3, defective=False)
    page = _login(browser, server.url, "olga")
    assert page.locator("#alarm-banner").is_hidden()
    env.inject(5, defective=True, start=10)
    page.wait_for_selector('#alarm-banner .alarm[data-alarm="consecutive_ng"]', timeout=10_000)
    assert "5 rejects in a row" in page.text_content("#alarm-banner")
    page.screenshot(path=str(ARTIFACTS / "hmi-alarm-1280x800.png"))
    env.inject(1, defective=False, start=20)  # the run ends; the alarm stays until acknowledged
    page.wait_for_timeout(2500)
    assert page.locator('#alarm-banner .alarm[data-alarm="consecutive_ng"]').count() == 1
    page.click('#alarm-banner .alarm[data-alarm="consecutive_ng"] button.ack')
    page.wait_for_selector("#alarm-banner", state="hidden", timeout=10_000)
    (entry,) = env.store.audit_log(action="acknowledge_alarm")
    assert entry.user == "olga"
    assert page.errors == []


def test_review_at_volume_keyboard_next_pending_and_bulk_confirm(browser, served):
    env, server = served
    env.station.teach_golden("pcb-a", user="erik", image=env.station.part_image(env.inject(1, defective=False)[0].result_id))
    parts = env.inject(16, start=100)  # 8 rejects: SN000201, 203, ... 215
    env.store.flush(10)
    ng = [p for p in parts if p.verdict == "reject"]
    page = _login(browser, server.url, "olga")
    page.click('#nav a[data-page="review"]')
    page.wait_for_selector(f'#review-svg[data-result-id="{ng[0].result_id}"]')  # oldest first
    page.wait_for_function("() => document.querySelector('#review-golden').naturalWidth > 0")  # golden beside
    items = page.locator("#review-list .review-item").all_text_contents()
    assert len(items) == 8 and all("/" in t or "." in t for t in items)  # the date on every item
    assert page.locator("#review-zoom svg.zoom").count() == 1  # the defect enlarged
    page.keyboard.press("d")  # the difference from the golden instead of the golden
    page.wait_for_function("() => document.querySelector('#review-golden').src.includes('/difference?')")
    page.wait_for_function("() => document.querySelector('#review-golden').naturalWidth > 0")
    page.screenshot(path=str(ARTIFACTS / "hmi-review-volume-1280x800.png"))
    page.click("#review-show-golden")
    page.keyboard.press("j")
    page.wait_for_selector(f'#review-svg[data-result-id="{ng[1].result_id}"]')
    page.keyboard.press("c")  # confirm, then the next pending one is shown
    page.wait_for_selector(f'#review-svg[data-result-id="{ng[2].result_id}"]')
    page.wait_for_selector("#review-count:has-text('(7)')")
    assert env.store.require(ng[1].result_id).review.status is ReviewStatus.CONFIRMED  # type: ignore[union-attr]
    # the toast sits under the top bar: the override button stays clickable
    box_t = page.locator("#toast").bounding_box()
    box_b = page.locator("#btn-override").bounding_box()
    assert box_t is not None and box_b is not None and box_t["y"] + box_t["height"] < box_b["y"]
    # bulk confirm of a filtered set: parts SN00020x (201 203 205 207 209; 203 is done)
    page.fill("#review-filter input[name=part]", "SN00020")
    page.click("#review-filter button[type=submit]")
    page.wait_for_selector("#review-count:has-text('(4 matching')")
    page.once("dialog", lambda d: d.accept())
    page.click("#btn-bulk-confirm")
    page.wait_for_selector("#toast.good:has-text('4 rejects confirmed')")
    page.fill("#review-filter input[name=part]", "")
    page.click("#review-filter button[type=submit]")
    page.wait_for_selector("#review-count:has-text('(3)')")
    assert [p.result_id for p in ng if env.store.require(p.result_id).review is None] == \
        [p.result_id for p in ng[5:]]
    assert page.errors == []


def test_csv_exports_from_history_and_audit(browser, served):
    env, server = served
    env.inject(6)
    env.store.flush(10)
    page = _login(browser, server.url, "erik")
    page.click('#nav a[data-page="history"]')
    page.select_option("#history-filters select[name=verdict]", "reject")
    page.click("#history-filters button[type=submit]")
    page.wait_for_selector("#history-total:has-text('3 results')")
    with page.expect_download() as dl:
        page.click("#history-csv")
    text = Path(dl.value.path()).read_text()
    lines = text.strip().splitlines()
    assert lines[0].startswith("result_id,") and len(lines) == 4 and all(",reject," in x for x in lines[1:])
    page.click('#nav a[data-page="audit"]')
    page.wait_for_selector("#audit-table tbody tr")
    page.select_option("#audit-filters select[name=action]", "login")  # filtered, on the page and in the CSV
    page.click("#audit-filters button[type=submit]")
    page.wait_for_function("() => [...document.querySelectorAll('#audit-table tbody tr td:nth-child(3)')]"
                           ".every((td) => td.textContent === 'login')")
    with page.expect_download() as dl:
        page.click("#audit-csv")
    lines = Path(dl.value.path()).read_text().strip().splitlines()
    assert lines[0].startswith("id,time,user,action") and all(",login," in x for x in lines[1:])
    assert page.errors == []


def test_teach_view_refuses_an_ng_part_then_rolls_back(browser, served):
    env, server = served
    result, image = make_result(7, defective=False, shift=(4, 3))  # a good part, placed differently
    env.station.inject(result, image, part=PartInfo(part_id_str="SN-SHIFTED", recipe_number=1))
    parts = env.inject(6)  # OK NG OK NG OK NG: the last part is NG
    env.station.teach_golden("pcb-a", user="erik", image=env.station.part_image(parts[0].result_id))
    first = env.station.recipes()[0].golden
    assert first is not None
    page = _login(browser, server.url, "erik")
    page.click('#nav a[data-page="recipes"]')
    # an ordinary recipe (not good-set) offers both single-image teaches: upload and this part
    card = '#recipe-cards .card[data-recipe="pcb-a"]'
    page.wait_for_selector(f"{card} button.teach-upload:text('Upload golden image')")
    assert page.locator(f"{card} .teach-note").count() == 0
    page.click(f"{card} button.teach-open")
    page.wait_for_selector("#teach-view #teach-compare img#teach-diff")
    assert page.locator("#teach-single-note").count() == 0
    page.wait_for_function("() => document.querySelector('#teach-diff').naturalWidth > 0")
    # an ordinary recipe keeps the pixel difference from the golden (no good-set heat map)
    captions = page.locator("#teach-compare figcaption").all_text_contents()
    assert captions[2] == "Difference (bright: differs)", captions
    assert page.locator("#teach-heat, #teach-heat-none, #teach-anomaly").count() == 0
    page.wait_for_selector("#teach-info dt:text-is('Differs from golden')")
    assert "% of pixels (shift" in page.text_content("#teach-info")
    assert page.locator("#teach-refused").is_visible()
    assert "NG_DEFECT" in page.text_content("#teach-refusals")
    page.screenshot(path=str(ARTIFACTS / "hmi-teach-refused-1280x800.png"))
    page.click("#teach-go")  # no reason: refused by the station
    page.wait_for_selector("#toast.bad:has-text('refused as a golden reference')")
    assert env.station.recipes()[0].golden.version == first.version  # type: ignore[union-attr]
    # pick a good part from the strip: allowed
    page.click('#teach-recent .teach-pick.ok[title^="SN-SHIFTED"]')
    page.wait_for_selector("#teach-refused", state="hidden")
    page.click("#teach-go")
    page.wait_for_selector("#toast.good:has-text('Golden reference taught')")
    page.wait_for_selector("#teach-versions tbody tr >> nth=1")
    second = env.station.recipes()[0].golden
    assert second is not None and second.version != first.version
    page.screenshot(path=str(ARTIFACTS / "hmi-teach-versions-1280x800.png"))
    page.click(f'#teach-versions button.rollback[data-version="{first.version}"]')
    page.wait_for_selector("#toast.good:has-text('rolled back')")
    assert env.station.recipes()[0].golden.version == first.version  # type: ignore[union-attr]
    (entry,) = env.store.audit_log(action="rollback_golden")
    assert (entry.user, entry.old_value, entry.new_value) == ("erik", second.version, first.version)
    assert page.errors == []


def test_statistics_page_draws_charts_offline(browser, served):
    env, server = served
    env.station.teach_golden("pcb-a", user="erik", image=env.station.part_image(env.inject(1, defective=False)[0].result_id))
    env.inject(20, start=1)
    env.store.flush(10)
    page = _login(browser, server.url, "olga")
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    page.click('#nav a[data-page="stats"]')
    page.wait_for_function("() => window.Chart && ['chart-hourly', 'chart-shift', 'chart-pareto']"
                           ".every((id) => window.Chart.getChart(id))")
    page.wait_for_function("() => document.querySelector('#defect-map').naturalWidth > 0")
    assert "21 parts" in page.text_content("#stats-summary")
    bars = page.evaluate("() => window.Chart.getChart('chart-pareto').data.datasets[0].data")
    assert bars == [10]
    assert page.locator("#shift-table tbody tr").count() >= 1
    assert any(u.endswith("/static/vendor/chart.js/chart.umd.min.js") for u in urls)
    assert all(u.startswith(server.url) for u in urls)  # nothing from outside: works offline
    page.screenshot(path=str(ARTIFACTS / "hmi-statistics-1280x800.png"))
    assert page.errors == []


def test_admin_resets_a_password_and_the_page_has_a_favicon(browser, served):
    env, server = served
    env.user("ada", Role.ADMIN)
    page = _login(browser, server.url, "ada")
    assert page.evaluate("() => fetch(document.querySelector('link[rel=icon]').href).then(r => r.status)") == 200
    page.click('#nav a[data-page="users"]')
    page.wait_for_selector("#users-table td:has-text('olga')")
    page.once("dialog", lambda d: d.accept("new-pass-word-9"))
    page.click("#users-table tr:has(td:text-is('olga')) button.reset-password")
    page.wait_for_selector("#toast.good:has-text('Password of olga reset')")
    assert env.users.authenticate("olga", "new-pass-word-9") is not None
    (entry,) = env.store.audit_log(action="update_user")
    assert entry.detail == "password changed" and entry.user == "ada"
    assert page.errors == []


@pytest.mark.parametrize("size", [(1024, 768), (800, 1280)], ids=["1024x768", "portrait-800x1280"])
def test_pages_fit_small_and_portrait_panels(browser, served, size):
    env, server = served
    parts = env.inject(12)
    env.station.teach_golden("pcb-a", user="erik", image=env.station.part_image(parts[0].result_id))
    env.store.flush(10)
    page = _login(browser, server.url, "erik", size)
    tag = f"{size[0]}x{size[1]}"
    overflow: dict[str, list[int]] = {}
    truncated: dict[str, list[str]] = {}
    for name in ("live", "review", "history", "stats", "station", "recipes", "settings", "audit"):
        page.click(f'#nav a[data-page="{name}"]')
        page.wait_for_selector(f"#page-{name}:not(.hidden)")
        page.wait_for_timeout(400)
        # nothing wider than the screen: no sideways scrolling of the page, the top bar in view
        wide = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth,"
                             " Math.round(document.querySelector('.topbar').scrollWidth)]")
        if wide[0] > wide[1] or wide[2] > wide[1]:
            overflow[name] = wide
        # no text cut off: no visible element that clips its own text (overflow hidden or an
        # ellipsis) holds more than it shows
        cut = page.evaluate("""() => [...document.querySelectorAll('body *')].filter((e) => {
            if (!e.offsetParent || ![...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) return false;
            const s = getComputedStyle(e);
            const clips = s.overflowX === 'hidden' || s.overflow === 'hidden' || s.textOverflow === 'ellipsis';
            return clips && (e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 2);
          }).map((e) => `${e.tagName}.${e.className}#${e.id}: ${e.textContent.trim().slice(0, 40)}`)""")
        if cut:
            truncated[name] = cut
        page.screenshot(path=str(ARTIFACTS / f"hmi-{name}-{tag}.png"))
    assert overflow == {}
    assert truncated == {}
    assert page.errors == []
