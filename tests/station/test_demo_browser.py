"""The running demo (``inspection demo`` as a user starts it: a subprocess with the pylon emulator,
the Modbus server, the simulated PLC and the HMI) in headless Chromium driven by Playwright.
Screenshots go to test-artifacts/demo-*.png."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import DEMO_PASSWORD, add_demo_user, open_page, running_demo, sign_in
from tests_support import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, float]]:
    root = tmp_path_factory.mktemp("demo")
    data = root / "data"
    add_demo_user(data, "olga", "operator")
    add_demo_user(data, "erik", "engineer")
    with running_demo(root, rate=4, no_problems=False) as (url, up_s):
        yield url, data, up_s


def _login(browser, url: str, user: str, size: tuple[int, int] = (1280, 800)):
    return sign_in(open_page(browser, size), url, user, DEMO_PASSWORD)


def test_demo_comes_up_quickly(demo) -> None:
    _, _, up_s = demo
    assert up_s < 60  # the target (20 s) is measured by 'inspection bench demo'; this only guards regressions


def test_live_view_shows_parts_with_overlays_and_counters_move(browser, demo) -> None:
    url, _, _ = demo
    for size in ((1280, 800), (1920, 1080)):
        page = _login(browser, url, "olga", size)
        page.wait_for_selector("#viewer[data-result-id]")
        total0 = int(page.text_content("#c-total"))
        # a rejected part with its defects outlined
        # checked in one evaluation: at 2 parts/s the next (OK) part can replace it between two reads
        page.wait_for_function(
            "() => !!document.querySelector('#viewer.ng #live-shapes polygon.shape.reported')"
            " && document.querySelector('#verdict-text').textContent === 'NG'", timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / f"demo-live-ng-{size[0]}x{size[1]}.png"))
        page.wait_for_selector("#viewer.ok", timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / f"demo-live-ok-{size[0]}x{size[1]}.png"))
        page.wait_for_function(f"() => Number(document.querySelector('#c-total').textContent) > {total0 + 3}",
                               timeout=30_000)
        assert int(page.text_content("#c-ng")) >= 1 and int(page.text_content("#c-ok")) >= 1
        assert page.errors == []
        page.close()


def test_operator_reviews_a_reject(browser, demo) -> None:
    url, data, _ = demo
    page = _login(browser, url, "olga")
    page.click('#nav a[data-page="review"]')
    page.wait_for_selector("#review-svg[data-result-id]", timeout=30_000)
    rid = page.get_attribute("#review-svg", "data-result-id")
    assert page.locator("#review-svg polygon.reported").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "demo-review-1280x800.png"))
    page.click("#btn-confirm")
    page.wait_for_selector("#toast.good")
    with sqlite3.connect(data / "store" / "results.db") as c:
        (status, user), = c.execute("select review_status, review_user from results where result_id=?", (rid,))
    assert status == "confirmed" and user == "olga"
    assert page.errors == []


def test_operator_cannot_open_engineer_pages(browser, demo) -> None:
    url, _, _ = demo
    page = _login(browser, url, "olga")
    assert page.locator('#nav a[data-page="settings"]').is_hidden()
    page.goto(f"{url}/#settings")
    page.wait_for_selector("#page-denied", state="visible")
    page.screenshot(path=str(ARTIFACTS / "demo-operator-denied-1280x800.png"))
    assert page.evaluate("() => fetch('/api/settings/thresholds').then(r => r.status)") == 403


def test_engineer_sees_history_station_and_thresholds(browser, demo) -> None:
    url, _, _ = demo
    page = _login(browser, url, "erik")
    page.click('#nav a[data-page="history"]')
    page.wait_for_selector("#history-table tbody tr", timeout=30_000)
    # rejects always have their image stored (passes only every 10th): open a reject
    page.select_option("#history-filters select[name=verdict]", "reject")
    page.click("#history-filters button[type=submit]")
    page.wait_for_selector("#history-table tbody tr", timeout=30_000)
    # the newest reject's image may still be in the store's writer queue: an older one has it
    for row in range(3):
        page.click(f"#history-table tbody tr >> nth={row}")
        try:
            page.wait_for_selector("#history-svg[data-result-id]", timeout=5_000)
            break
        except Exception:
            assert "No stored image" in page.text_content("#history-empty")
    else:
        raise AssertionError("no reject with its stored image in the history")
    page.screenshot(path=str(ARTIFACTS / "demo-history-1280x800.png"))
    page.click('#nav a[data-page="station"]')
    page.wait_for_selector("#state-pill")
    page.screenshot(path=str(ARTIFACTS / "demo-station-1280x800.png"))
    page.click('#nav a[data-page="settings"]')
    page.wait_for_selector("#settings-fields input[name=threshold]")
    page.screenshot(path=str(ARTIFACTS / "demo-settings-1280x800.png"))
    assert page.errors == []


def test_engineer_teach_view_refuses_an_ng_part_and_rolls_back(browser, demo) -> None:
    """Issue 14 on the running demo: the recipe that inspects shows its golden; teaching an NG part
    is refused; a good part is taught beside the current golden with the difference; one-click
    rollback back to the recipe's own reference."""
    url, _, _ = demo
    page = _login(browser, url, "erik")
    page.click('#nav a[data-page="recipes"]')
    page.wait_for_selector("#recipe-cards img.golden", timeout=30_000)  # not "no golden reference yet"
    page.click("#recipe-cards .card button.teach-open >> nth=0")
    page.wait_for_selector("#teach-recent .teach-pick.ng", timeout=30_000)
    page.click("#teach-recent .teach-pick.ng >> nth=0")
    page.wait_for_selector("#teach-refused", state="visible")
    page.wait_for_function("() => document.querySelector('#teach-diff')?.naturalWidth > 0", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "demo-teach-refused-1280x800.png"))
    page.click("#teach-go")
    page.wait_for_selector("#toast.bad:has-text('refused as a golden reference')")
    page.click("#teach-recent .teach-pick.ok >> nth=0")
    page.wait_for_selector("#teach-refused", state="hidden")
    page.click("#teach-go")
    page.wait_for_selector("#toast.good:has-text('Golden reference taught')", timeout=30_000)
    page.wait_for_selector("#teach-versions button.rollback", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "demo-teach-versions-1280x800.png"))
    page.click("#teach-versions button.rollback >> nth=0")
    page.wait_for_selector("#toast.good:has-text('rolled back')", timeout=30_000)
    assert page.errors == []


def test_statistics_alarms_and_review_queue(browser, demo) -> None:
    url, _, _ = demo
    page = _login(browser, url, "olga")
    page.click('#nav a[data-page="stats"]')
    page.wait_for_function("() => window.Chart && window.Chart.getChart('chart-hourly')", timeout=30_000)
    page.wait_for_function("() => document.querySelector('#defect-map').naturalWidth > 0", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "demo-statistics-1280x800.png"))
    page.click('#nav a[data-page="review"]')
    page.wait_for_selector("#review-svg[data-result-id]", timeout=30_000)
    page.wait_for_function("() => document.querySelector('#review-golden').naturalWidth > 0", timeout=30_000)
    first = page.get_attribute("#review-svg", "data-result-id")
    page.keyboard.press("c")  # confirm; the next pending one is shown
    page.wait_for_function(f"() => document.querySelector('#review-svg').dataset.resultId !== '{first}'",
                           timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "demo-review-1280x800.png"))
    alarms = page.evaluate("() => fetch('/api/alarms').then(r => r.json())")
    assert {a["name"] for a in alarms} == {"consecutive_ng", "yield", "drift"}
    assert page.errors == []


def test_station_page_shows_live_plc_registers_and_handshakes(browser, demo) -> None:
    url, _, _ = demo
    page = _login(browser, url, "olga")
    page.click('#nav a[data-page="station"]')
    page.wait_for_selector("#plc-registers table.plc-regs td:has-text('TRIGGER_SEQ_ECHO')", timeout=30_000)
    page.wait_for_selector("#plc-registers table.plc-hs tbody tr", timeout=30_000)
    first = page.text_content("#plc-registers table.plc-hs tbody tr")
    # READY lasts milliseconds between parts once the line runs faster than the station: the page
    # names the bits set during the last second too
    page.wait_for_selector("#plc-registers p:has-text('READY')", timeout=30_000)
    page.wait_for_selector("#plc-registers p.sts-seen:has-text('TRIG_ACK')", timeout=30_000)
    page.wait_for_function("(t) => document.querySelector('#plc-registers table.plc-hs tbody tr')?.textContent !== t",
                           arg=first, timeout=30_000)  # live: the newest handshake changes
    page.wait_for_selector("#camera-focus dt:has-text('Focus')", timeout=30_000)  # the camera card
    page.wait_for_function("() => document.querySelector('#camera-focus img').naturalWidth > 0", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "demo-station-1280x800.png"))
    page.locator("#plc-registers").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "demo-plc-1280x800.png"))
    assert page.errors == []
