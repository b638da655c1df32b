"""Commissioning on the running demo (``inspection demo`` in a subprocess, the pylon camera emulator,
the simulated PLC), in headless Chromium: an engineer teaches a new golden from N stored good parts
(the variation model kept), then tries an exposure on the camera, which is refused while the
station is armed and allowed once it is disarmed from the Station page; reverts, re-arms, and the
line inspects again."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import DEMO_PASSWORD, add_demo_user, open_page, running_demo, sign_in, teach_from_stored_parts

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("demo")
    data = root / "data"
    add_demo_user(data, "erik", "engineer")
    # disarmed for a while, the simulated PLC's triggers are refused: counted as its problems
    with running_demo(root, rate=4, threads_1=True, no_problems=False) as (url, _):
        yield url, data


def _stored(data: Path) -> int:
    with sqlite3.connect(data / "store" / "results.db") as c:
        return int(c.execute("select count(*) from results where image_state = 'saved' and verdict = 'pass'")
                   .fetchone()[0])


def _wait(cond, timeout: float, what: str) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} after {timeout} s")


def test_teach_from_stored_parts_and_try_exposure_on_the_demo(browser, demo) -> None:
    url, data = demo
    _wait(lambda: _stored(data) >= 5, 120.0, "fewer than 5 stored good parts with images")
    page = open_page(browser, (1280, 1000))
    page.on("dialog", lambda d: d.accept())
    sign_in(page, url, "erik", DEMO_PASSWORD, live=False)

    # teach from the 5 newest stored good parts (the fewest teaching takes): a new golden version with its variation model
    teach_from_stored_parts(page, 5)

    # the camera: refused while armed, tried once disarmed from the Station page, reverted
    page.click('#nav a[data-page="station"]')
    page.wait_for_selector("#cam-state >> text=armed: disarm it")
    page.fill("#cam-exposure", "3000")
    page.click("#cam-try")
    page.wait_for_selector("#toast.bad")
    assert "armed" in page.text_content("#toast")
    page.click("#btn-disarm")
    page.wait_for_selector("#btn-arm:not([disabled])")
    page.wait_for_selector("#cam-state >> text=disarmed")
    page.fill("#cam-exposure", "3000")
    page.click("#cam-try")
    page.wait_for_selector("#cam-state >> text=tried, not saved")
    page.wait_for_function("() => document.querySelector('#cam-trial-img').naturalWidth > 0")
    assert "3000" in page.text_content("#cam-state")
    page.click("#cam-revert")
    page.wait_for_selector("#toast.good >> text=Camera settings reverted")
    page.wait_for_function("() => !/tried, not saved/.test(document.querySelector('#cam-state').textContent)")
    assert not (data / "station" / "camera-settings.json").exists()  # reverted, nothing saved

    # armed again: the line inspects again (new parts reach the store)
    n0 = _stored(data)
    page.click("#btn-arm")
    page.wait_for_selector("#btn-disarm:not([disabled])")
    _wait(lambda: _stored(data) > n0, 60.0, "no new part stored after re-arming")
    assert page.errors == []
