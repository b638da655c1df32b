"""Teaching from N good parts and camera exposure/gain trials in headless Chromium (Debian's
package, driven by Playwright) against the HMI on a real uvicorn server in front of a running
station: the pylon camera emulator, the Modbus server with the PLC simulator, the real store.
Screenshots go to test-artifacts/ (copied to docs/screenshots/)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from browser_support import open_page, sign_in, teach_from_stored_parts
from station_support import PASSWORD, Running, running_station
from tests_support import ARTIFACTS

from hmi.app import create_app
from hmi.server import HmiServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

CAMERA = "pylon" if os.environ.get("HMI_TEST_CAMERA", "pylon") == "pylon" else "replay"


@pytest.fixture
def served_station(tmp_path: Path) -> Iterator[tuple[Running, HmiServer]]:
    camera = CAMERA
    try:
        import pypylon  # noqa: F401
    except ImportError:
        camera = "replay"
    with running_station(tmp_path, camera=camera) as rs:
        server = HmiServer(create_app(rs.station, rs.station.store, rs.users, announce=lambda _t: None)).start()
        try:
            yield rs, server
        finally:
            server.stop()


def _login(browser, url: str, size: tuple[int, int] = (1280, 1000)):
    page = open_page(browser, size)
    return sign_in(page, url, "erik", PASSWORD)


def test_engineer_teaches_from_n_stored_good_parts(browser, served_station) -> None:
    rs, server = served_station
    rs.run(12)
    assert rs.station.store.flush(10.0)
    before = rs.station.recipes_slot.current.loaded.recipe  # type: ignore[union-attr]
    page = _login(browser, server.url)
    teach_from_stored_parts(page, 6)
    assert "6 / 6 parts" in page.text_content("#teach-progress-text")
    page.locator("#teach-parts").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "demo-teach-n-parts-1280x1000.png"))
    # the station runs the new golden with its taught band
    now = rs.station.recipes_slot.current.loaded.recipe  # type: ignore[union-attr]
    assert not np.array_equal(now.reference, before.reference)
    assert now.spread_dark is not None and not np.array_equal(now.spread_dark, before.spread_dark)
    # more parts than are stored: refused in the page with the reason (409 too_few_good_parts)
    page.fill("#teach-n", "200")
    page.click("#teach-parts-go")
    page.wait_for_selector("#teach-parts-result >> text=usable good part(s)")
    assert page.errors == []


def test_engineer_tries_exposure_and_gain_then_saves(browser, served_station) -> None:
    rs, server = served_station
    rs.run(1)
    page = _login(browser, server.url)
    page.click('#nav a[data-page="station"]')
    page.wait_for_selector("#camera-trial")
    page.wait_for_selector("#cam-state >> text=armed: disarm it")
    page.fill("#cam-exposure", "2500")
    page.click("#cam-try")
    page.wait_for_selector("#toast.bad")
    assert "armed" in page.text_content("#toast")
    rs.station.disarm(user="erik")
    page.reload()
    page.wait_for_selector("#cam-state >> text=disarmed")
    page.fill("#cam-exposure", "2500")
    page.fill("#cam-gain", "1.5")
    page.click("#cam-try")
    page.wait_for_selector("#cam-trial-img:not(.hidden)")
    page.wait_for_selector("#cam-state >> text=tried, not saved")
    page.wait_for_function("() => document.querySelector('#cam-trial-img').naturalWidth > 0")
    assert rs.station.camera.settings.exposure_us == 2500.0 and rs.station.camera.settings.gain_db == 1.5
    page.locator("#camera-trial").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "demo-camera-trial-1280x1000.png"))
    page.click("#cam-save")
    page.wait_for_selector("#toast.good >> text=Camera settings saved")
    saved = json.loads((rs.config.station.data_dir / "station" / "camera-settings.json").read_text())
    assert saved == {"exposure_us": 2500.0, "gain_db": 1.5}
    assert page.locator("#cam-state >> text=tried, not saved").count() == 0
    assert page.errors == []
