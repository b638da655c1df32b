"""The live view's heat-map toggle in headless Chromium against a real uvicorn server: a good-set
result is shown as its heat map over the part (on by default), the toggle shows the plain image
instead and is remembered across a reload (localStorage); a golden-based result always shows the
plain image. Screenshot: test-artifacts/hmi-live-heatmap-1280x800.png."""

from __future__ import annotations

import pytest
from browser_support import open_page, sign_in
from goodset_support import goodset_recipe, inspected_tiles
from hmi_support import PASSWORD
from tests_support import ARTIFACTS

from inspection.record import PartInfo
from inspection.result import ResultCode

pytestmark = pytest.mark.browser


def _shown(page, rid: str, kind: str) -> None:
    """Wait until the live viewer shows part ``rid`` from the ``kind`` endpoint (image/heatmap), loaded."""
    page.wait_for_function(
        """([rid, kind]) => { const v = document.querySelector('#viewer');
            const href = document.querySelector('#live-img').getAttribute('href') || '';
            return v.dataset.resultId === rid && href.includes(`/api/parts/${rid}/${kind}?`); }""",
        arg=[rid, kind])


def _red_at_spot(page) -> bool:
    """Whether the shown picture is red at the smooth spot of the tile (60, 30 of 160 x 120)."""
    return page.evaluate("""async () => {
        const href = document.querySelector('#live-img').getAttribute('href');
        const img = new Image(); img.src = href; await img.decode();
        const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext('2d'); g.drawImage(img, 0, 0);
        const [r, gr] = g.getImageData(Math.round(60 / 160 * c.width), Math.round(30 / 120 * c.height), 1, 1).data;
        return r > gr + 40; }""")


def test_live_heat_map_toggle(browser, served, monkeypatch):
    env, server = served
    [(bad, image)] = inspected_tiles(monkeypatch, goodset_recipe(0), [True])
    assert bad.code is ResultCode.NG_DEFECT and bad.heat_map is not None
    page = sign_in(open_page(browser, (1280, 800)), server.url, "olga", PASSWORD)
    assert page.is_checked("#live-heat")  # on by default
    rec = env.station.inject(bad, image, part=PartInfo(part_id_str="TILE-0001", recipe_number=1))
    _shown(page, rec.result_id, "heatmap")
    assert page.get_attribute("#viewer", "data-heat") == "on" and page.is_visible("#live-heat-legend")
    assert _red_at_spot(page)
    assert page.locator("#live-svg polygon.reported").count() >= 1  # the findings stay drawn over it
    page.screenshot(path=str(ARTIFACTS / "hmi-live-heatmap-1280x800.png"))

    page.click("#live-heat")  # off: the plain image of the same part
    _shown(page, rec.result_id, "image")
    assert page.get_attribute("#viewer", "data-heat") == "off" and page.is_hidden("#live-heat-legend")
    assert not _red_at_spot(page)
    assert page.evaluate("localStorage.getItem('hmi.live.heatmap')") == "off"

    page.reload()  # remembered
    page.wait_for_selector("#conn-dot.up")
    assert not page.is_checked("#live-heat")
    _shown(page, rec.result_id, "image")
    page.click("#live-heat")  # on again: the heat map
    _shown(page, rec.result_id, "heatmap")
    assert page.evaluate("localStorage.getItem('hmi.live.heatmap')") == "on"

    plain = env.inject(1, defective=True, start=1)[0]  # a golden-based result: no heat map to show
    _shown(page, plain.result_id, "image")
    assert page.get_attribute("#viewer", "data-heat") == "off" and page.is_hidden("#live-heat-legend")

    # a part held from the filmstrip follows the toggle too
    page.click(f'#filmstrip [data-result-id="{rec.result_id}"]')
    _shown(page, rec.result_id, "heatmap")
    assert page.errors == []
