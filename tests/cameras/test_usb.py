"""USB/UVC driver: what can be checked without a camera attached (no mocks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspection.camera.contract import CameraDevice, create_camera
from inspection.errors import CameraNotFound, ConfigError


def _absent_index() -> int:
    return next(i for i in range(60, 100) if not Path(f"/dev/video{i}").exists())


def test_no_device_at_the_index_is_a_clear_not_found_error():
    index = _absent_index()
    camera = create_camera({"driver": "usb", "index": index})
    with pytest.raises(CameraNotFound) as info:
        camera.open()
    assert info.value.key == "camera_not_found"
    assert f"index {index}" in str(info.value) and f"/dev/video{index}" in str(info.value)
    assert not camera.is_open
    camera.close()  # closing a camera that never opened is harmless


def test_unknown_serial_is_a_clear_not_found_error():
    with pytest.raises(CameraNotFound, match="match serial 'no-such-uvc-camera'"):
        create_camera({"driver": "usb", "serial": "no-such-uvc-camera"}).open()


@pytest.mark.parametrize(("settings", "field"), [
    ({"trigger": {"source": "hardware"}}, "trigger.source"),
    ({"pixel_format": "Mono16"}, "pixel_format"),
    ({"user_id": "cam-a"}, "user_id"),
    ({"image_file": "x.png"}, "image_file"),
])
def test_settings_a_uvc_camera_cannot_honour_are_refused(settings, field):
    base = {} if "user_id" in settings else {"index": _absent_index()}
    with pytest.raises(ConfigError) as info:
        create_camera({"driver": "usb", **base, **settings}).open()
    assert info.value.field == field


def test_listing_returns_camera_devices():
    from plugins.cameras.usb import UsbCamera

    devices = UsbCamera.list_devices()
    assert all(isinstance(d, CameraDevice) and d.driver == "usb" for d in devices)
    assert all(Path(d.address).name.startswith("video") for d in devices)
