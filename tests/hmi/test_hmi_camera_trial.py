"""Camera commissioning through the HMI on a running station whose camera is the pylon camera
emulator (pypylon's, not a mock): exposure and gain tried on the device (the frame reports the
exposure the camera read back), refused while armed, saved, re-applied at the next start, reverted."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("pypylon")
if int(os.environ.get("PYLON_CAMEMU", "0") or 0) < 1:  # before pylon first enumerates in this process
    os.environ["PYLON_CAMEMU"] = "1"

from fastapi.testclient import TestClient
from station_support import PASSWORD, Running, running_station

from hmi.app import create_app
from inspection.station.runtime import Station

pytestmark = pytest.mark.timeout(300)


def _heads(c: TestClient) -> dict[str, dict[str, str]]:
    out = {}
    for name in ("erik", "olga"):
        r = c.post("/api/auth/login", json={"username": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        c.cookies.clear()
        out[name] = {"Authorization": f"Bearer {r.json()['token']}"}
    return out


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    with running_station(tmp_path, camera="pylon", parts=4) as rs:
        yield rs


def test_exposure_and_gain_tried_on_the_emulated_camera_saved_and_reverted(running: Running, tmp_path: Path) -> None:
    st = running.station
    assert st.camera.settings.driver == "pylon" and st.camera.settings.emulated
    running.run(1)
    with TestClient(create_app(st, st.store, running.users, announce=lambda _t: None)) as c:
        h = _heads(c)
        eng, op = h["erik"], h["olga"]
        assert c.post("/api/camera/try", headers=op, json={"exposure_us": 3000}).status_code == 403
        # armed for the PLC: refused, and the camera keeps its settings
        r = c.post("/api/camera/try", headers=eng, json={"exposure_us": 3000})
        assert r.status_code == 409 and r.json()["key"] == "station_armed", r.text
        assert c.post("/api/camera/save", headers=eng).json()["key"] == "station_armed"
        assert st.camera.settings.exposure_us is None
        assert c.post("/api/station/disarm", headers=eng).status_code == 200
        s0 = c.get("/api/camera/settings", headers=eng).json()
        assert s0["armed"] is False and s0["saved_file"] is False and s0["current"]["exposure_us"] is None
        assert c.get("/api/camera/trial.jpg", headers=eng).status_code == 404
        r = c.post("/api/camera/try", headers=eng, json={"exposure_us": 3000, "gain_db": 2.0})
        assert r.status_code == 200, r.text
        d = r.json()
        assert d["current"] == {"exposure_us": 3000.0, "gain_db": 2.0} and d["unsaved"] is True
        assert d["frame"]["exposure_us"] == pytest.approx(3000.0, abs=1.0)  # read back from the device
        assert d["quality"]["brightness"] > 0 and d["frame"]["shape"] == [240, 320]
        img = c.get("/api/camera/trial.jpg", headers=eng)
        assert img.status_code == 200 and img.content[:2] == b"\xff\xd8"
        # out of range: refused before the camera sees it
        r = c.post("/api/camera/try", headers=eng, json={"gain_db": 99})
        assert r.status_code == 422
        assert c.post("/api/camera/try", headers=eng, json={}).json()["key"] == "bad_camera_setting"
        r = c.post("/api/camera/save", headers=eng)
        assert r.status_code == 200 and r.json()["unsaved"] is False
        saved = json.loads((tmp_path / "data" / "station" / "camera-settings.json").read_text())
        assert saved == {"exposure_us": 3000.0, "gain_db": 2.0}
        d = c.post("/api/camera/try", headers=eng, json={"exposure_us": 5000}).json()
        assert d["frame"]["exposure_us"] == pytest.approx(5000.0, abs=1.0) and d["unsaved"] is True
        d = c.post("/api/camera/revert", headers=eng).json()
        assert d["current"]["exposure_us"] == 3000.0 and d["frame"]["exposure_us"] == pytest.approx(3000.0, abs=1.0)
        assert d["unsaved"] is False
        audit = [(a.action, a.user) for a in st.store.audit_log(limit=30) if a.target == "camera"]
        assert audit[:4] == [("camera_revert", "erik"), ("camera_trial", "erik"), ("camera_save", "erik"),
                             ("camera_trial", "erik")]
        trial = next(a for a in st.store.audit_log(limit=30) if a.action == "camera_trial")
        assert '"exposure_us":3000.0' in trial.old_value and '"exposure_us":5000.0' in trial.new_value
        assert c.post("/api/station/arm", headers=eng).status_code == 200
    # the saved values are re-applied when the station starts again
    st.stop()
    again = Station(running.config, running.catalog)
    try:
        again.start()
        assert again.camera.settings.exposure_us == 3000.0 and again.camera.settings.gain_db == 2.0
    finally:
        again.stop()
        running.station = again  # stopped already; the fixture's stop() is a second, harmless one


def test_camera_settings_need_a_running_station(client, roles) -> None:
    assert client.get("/api/camera/settings", headers=roles["engineer"]).status_code == 404
    assert client.post("/api/camera/try", headers=roles["engineer"], json={"exposure_us": 100}).status_code == 404
