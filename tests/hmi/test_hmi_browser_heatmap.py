"""Review of a good-set reject in headless Chromium against a real uvicorn server: the part's heat
map (where the good-set model saw it deviate, red from the model's threshold) beside the part, D
toggles golden / heat map, a golden-based reject still gets the difference from its golden, and the
history's details link the stored heat map.
Screenshot: test-artifacts/hmi-review-heatmap-1280x800.png."""

from __future__ import annotations

import pytest
from browser_support import open_page, sign_in
from goodset_support import goodset_recipe, inspected_tiles
from hmi_support import PASSWORD
from tests_support import ARTIFACTS

from inspection.record import PartInfo
from inspection.result import ResultCode

pytestmark = pytest.mark.browser

HEAT_SHOWN = "() => { const i = document.querySelector('#review-golden'); " \
             "return i.src.includes('/heatmap?') && i.complete && i.naturalWidth > 0; }"


def test_review_shows_the_heat_map_of_a_goodset_reject(browser, served, monkeypatch):
    env, server = served
    (bad, image), (good, good_image) = inspected_tiles(monkeypatch, goodset_recipe(0), [True, False])
    assert bad.code is ResultCode.NG_DEFECT and good.code is ResultCode.OK
    rec = env.station.inject(bad, image, part=PartInfo(part_id_str="TILE-0001", recipe_number=1))
    env.station.inject(good, good_image, part=PartInfo(part_id_str="TILE-0002", recipe_number=1))
    plain = env.inject(1, defective=True, start=1)[0]  # then a golden-based reject (no heat map)
    assert plain.verdict == "reject" and env.store.flush(10)

    page = sign_in(open_page(browser, (1280, 800)), server.url, "olga", PASSWORD)
    page.click('#nav a[data-page="review"]')
    page.wait_for_selector(f'#review-svg[data-result-id="{rec.result_id}"]')  # oldest first
    page.wait_for_function(HEAT_SHOWN)  # the heat map, not the golden, for a good-set result
    assert page.text_content("#review-show-diff") == "Heat map"
    assert "selected" in (page.get_attribute("#review-show-diff", "class") or "")
    assert page.is_visible("#review-left-legend")
    info = page.text_content("#review-info")
    assert bad.heat_map is not None and bad.heat_map.score is not None
    # the verdict's image score and the map's peak, each against the threshold
    m = bad.heat_map.meta()  # what the store keeps and the page reads
    t = float(m["threshold"])  # type: ignore[arg-type]
    want = f"score {float(m['score']) / t:.2f} × threshold · peak {float(m['peak']) / t:.2f} × threshold"  # type: ignore[arg-type]
    assert want in info, info
    assert page.locator("#review-svg polygon.reported").count() >= 1  # the outline beside it
    # the picture is the heat map of this part: red where the smooth spot is (60, 30 of 160 x 120)
    red = page.evaluate("""() => { const i = document.querySelector('#review-golden');
        const c = document.createElement('canvas'); c.width = i.naturalWidth; c.height = i.naturalHeight;
        const g = c.getContext('2d'); g.drawImage(i, 0, 0);
        const at = (x, y) => [...g.getImageData(Math.round(x * c.width), Math.round(y * c.height), 1, 1).data];
        return [at(60 / 160, 30 / 120), at(140 / 160, 100 / 120)]; }""")
    (r1, g1, _b1, _), (r2, g2, _b2, _) = red
    assert r1 > g1 + 40 and not r2 > g2 + 40
    page.screenshot(path=str(ARTIFACTS / "hmi-review-heatmap-1280x800.png"))
    page.keyboard.press("d")  # the golden instead
    page.wait_for_function("() => document.querySelector('#review-golden').src.includes('/golden?')")
    assert page.is_hidden("#review-left-legend")
    page.keyboard.press("d")
    page.wait_for_function(HEAT_SHOWN)
    page.keyboard.press("j")  # the golden-based reject: its difference from the golden, not a heat map
    page.wait_for_selector(f'#review-svg[data-result-id="{plain.result_id}"]')
    page.wait_for_function("() => document.querySelector('#review-golden').src.includes('/difference?')")
    assert page.text_content("#review-show-diff") == "Difference" and page.is_hidden("#review-left-legend")
    assert "× threshold" not in page.text_content("#review-info")
    # the history's details link the stored heat map of the good-set result, and only of it
    page.click('#nav a[data-page="history"]')
    page.click(f'#history-table tbody tr[data-result-id="{rec.result_id}"]')
    link = page.wait_for_selector("#history-info a[href*='/heatmap']")
    assert link.get_attribute("href") == f"/api/parts/{rec.result_id}/heatmap?width=1600"
    page.click(f'#history-table tbody tr[data-result-id="{plain.result_id}"]')
    page.wait_for_function("() => !document.querySelector('#history-info a')")
    assert page.errors == []
