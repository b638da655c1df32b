"""Camera registry (built-in names, entry points) and the settings model."""

from __future__ import annotations

import math
import sys
import textwrap

import numpy as np
import pytest

from inspection.camera.contract import Camera, CameraDevice, cameras, create_camera, list_devices, select_device
from inspection.camera.settings import CameraSettings, parse_camera_settings
from inspection.errors import CameraNotFound, ConfigError

THIRD_PARTY = textwrap.dedent('''
    import numpy as np

    from inspection.camera.contract import CameraDevice
    from inspection.camera.base import CameraBase


    class GreyCamera(CameraBase):
        """A driver from another package: frames of one grey level (options: features.level)."""

        driver = "thirdparty_grey"

        @staticmethod
        def list_devices():
            return [CameraDevice(driver="thirdparty_grey", serial="GREY-1", model="Grey")]

        def open(self):
            self._device_id = "GREY-1"
            self._is_open = True

        def close(self):
            self._is_open = self._armed = False

        def configure(self, settings):
            self._settings = settings

        def arm(self):
            self._start_sequence()
            self._armed = True
            self._n = 0

        def disarm(self):
            self._armed = False

        def trigger(self):
            self._n += 1

        def grab(self, timeout_s=None):
            self._frame_arrived()
            level = int(self._settings.features.get("level", 7))
            return self._deliver(np.full((4, 6), level, np.uint8), frame_id=self._n, expected=None,
                                 source="grey")
''')


@pytest.fixture
def third_party_driver(tmp_path, monkeypatch):
    """A real installed-distribution layout: a module plus a dist-info declaring the entry point."""
    (tmp_path / "thirdparty_grey.py").write_text(THIRD_PARTY)
    info = tmp_path / "thirdparty_grey-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-grey\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[inspection.cameras]\ngrey = thirdparty_grey:GreyCamera\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "grey"
    cameras._loaded.pop("grey", None)  # forget the factory loaded from the temporary path
    monkeypatch.delitem(sys.modules, "thirdparty_grey", raising=False)


def test_built_in_drivers_are_registered_without_importing_them():
    assert {"pylon", "replay", "usb"} <= set(cameras.names())


def test_unknown_driver_lists_the_known_ones():
    with pytest.raises(ConfigError) as info:
        create_camera({"driver": "nosuchcam"})
    assert "nosuchcam" in str(info.value)
    assert all(name in str(info.value) for name in ("pylon", "replay", "usb"))


def test_a_third_party_driver_is_found_through_its_entry_point(third_party_driver):
    assert third_party_driver in cameras.names()
    camera = create_camera({"driver": third_party_driver, "features": {"level": 42}})
    assert isinstance(camera, Camera)  # satisfies the contract
    with camera:
        camera.arm()
        camera.trigger()
        frame = camera.grab()
    assert frame.camera_id == "GREY-1" and frame.frame_id == 1
    np.testing.assert_array_equal(frame.pixels, np.full((4, 6), 42, np.uint8))
    listed = list_devices([third_party_driver])[third_party_driver]
    assert listed == [CameraDevice(driver="thirdparty_grey", serial="GREY-1", model="Grey")]


def test_list_devices_reports_a_broken_driver_without_hiding_the_others(third_party_driver):
    found = list_devices(["replay", "nosuchcam"])
    assert found["replay"] == []
    assert isinstance(found["nosuchcam"], ConfigError)


def test_settings_defaults_and_round_trip():
    s = CameraSettings()
    assert s.driver == "pylon" and s.pixel_format == "Mono8" and s.trigger.source == "software"
    assert CameraSettings.model_validate_json(s.model_dump_json()) == s
    assert s.selection == "first device"
    assert CameraSettings(serial="123").selection == "serial 123"


@pytest.mark.parametrize(("data", "field"), [
    ({"serial": "1", "index": 0}, None),
    ({"exposure_us": math.nan}, "exposure_us"),
    ({"exposure_us": -5}, "exposure_us"),
    ({"gain_db": 100}, "gain_db"),
    ({"roi": {"x": 0, "y": 0, "width": 0, "height": 5}}, "roi.width"),
    ({"pixel_format": "Mono12p"}, "pixel_format"),
    ({"trigger": {"source": "hardware", "line": "Line; rm -rf"}}, "trigger.line"),
    ({"trigger": {"edge": "both"}}, "trigger.edge"),
    ({"grab_timeout_s": 0}, "grab_timeout_s"),
    ({"reconnect_min_s": 5, "reconnect_max_s": 1}, None),
    ({"features": {"not a name": 1}}, None),
    ({"exposure": 100}, "exposure"),  # unknown key: a typo must not be ignored
])
def test_bad_settings_are_config_errors_naming_the_field(data, field):
    with pytest.raises(ConfigError) as info:
        parse_camera_settings(data)
    assert info.value.key == "bad_camera_setting"
    assert info.value.field == field


def test_settings_are_frozen():
    s = CameraSettings()
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        s.exposure_us = 10.0  # type: ignore[misc]


def test_select_device_by_user_id_and_ambiguity():
    devices = [CameraDevice("pylon", "1", "acA", user_id="top"),
               CameraDevice("pylon", "2", "acA", user_id="side"),
               CameraDevice("pylon", "3", "acA", user_id="side"),
               CameraDevice("pylon", "4", "Emu", emulated=True)]
    assert select_device(devices, user_id="top").serial == "1"
    assert select_device(devices, emulated=True).serial == "4"
    assert select_device(devices, index=2).serial == "3"
    with pytest.raises(CameraNotFound, match="not unique"):
        select_device(devices, user_id="side")
    with pytest.raises(CameraNotFound, match=r"user id 'bottom'.*1 \(acA, user id 'top'\)"):
        select_device(devices, user_id="bottom")
    with pytest.raises(CameraNotFound, match="found: none"):
        select_device([], serial="1")
