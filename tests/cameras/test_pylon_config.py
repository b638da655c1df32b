"""Basler driver on the emulator: device selection, settings, triggers, exposure-end hook, and
trying settings on the device before they are saved."""

from __future__ import annotations

import numpy as np
import pytest

from inspection.camera.check import check_camera_settings
from inspection.camera.contract import ExposureEnd, list_devices
from inspection.errors import CameraNotFound, ConfigError, GrabTimeout

# Emulator calls block in C: the thread method still dumps the stacks and ends a hung run.
pytestmark = pytest.mark.timeout(120, method="thread")


def test_emulated_devices_are_listed_with_their_serials(serials):
    found = list_devices(["pylon"])["pylon"]
    assert isinstance(found, list)
    emulated = [d for d in found if d.emulated]
    assert [d.serial for d in emulated][: len(serials)] == serials
    assert all(d.interface == "BaslerCamEmu" and d.driver == "pylon" for d in emulated)


def test_select_by_serial_and_by_index(make_camera, serials):
    by_serial = make_camera(serial=serials[2])
    with by_serial:
        assert by_serial.camera_id == serials[2]
    by_index = make_camera(serial=None, index=1)
    with by_index:
        assert by_index.camera_id == serials[1]


def test_unknown_serial_lists_the_cameras_found(make_camera, serials):
    camera = make_camera(serial="9999-0000")
    with pytest.raises(CameraNotFound) as info:
        camera.open()
    assert info.value.key == "camera_not_found"
    assert all(s in str(info.value) for s in serials)


def test_station_name_is_the_frame_camera_id(make_camera, known_images):
    folder, _ = known_images
    camera = make_camera(image_file=folder, name="top-camera")
    with camera:
        camera.arm()
        camera.trigger()
        assert camera.grab(5.0).camera_id == "top-camera"


def test_exposure_and_gain_are_applied_and_reported(make_camera, known_images):
    folder, _ = known_images
    camera = make_camera(image_file=folder, exposure_us=2500.0, gain_db=6.0, frame_rate_hz=50.0)
    with camera:
        assert camera.feature("ExposureTime") == pytest.approx(2500.0)
        assert camera.feature("Gain") == pytest.approx(6.0, abs=0.01)  # quantised by the device
        assert camera.feature("AcquisitionFrameRate") == pytest.approx(50.0)
        assert camera.feature("TriggerMode") == "On" and camera.feature("TriggerSource") == "Software"
        camera.arm()
        camera.trigger()
        assert camera.grab(5.0).exposure_us == pytest.approx(2500.0)


def test_extra_features_are_written_and_unknown_ones_refused(make_camera):
    camera = make_camera(features={"Gamma": 1.5})
    with camera:
        assert camera.feature("Gamma") == pytest.approx(1.5)
    bad = make_camera(features={"NoSuchFeature": 3})
    with pytest.raises(ConfigError) as info:
        bad.open()
    assert info.value.key == "camera_setting_not_supported" and info.value.field == "features.NoSuchFeature"


def test_hardware_trigger_is_configured_and_waits_for_the_line(make_camera, known_images):
    folder, _ = known_images
    camera = make_camera(image_file=folder,
                         trigger={"source": "hardware", "line": "Line2", "edge": "falling"})
    with camera:
        assert camera.feature("TriggerSource") == "Line2"
        assert camera.feature("TriggerActivation") == "FallingEdge"
        camera.arm()
        with pytest.raises(ConfigError) as info:
            camera.trigger()
        assert info.value.key == "not_software_triggered"
        with pytest.raises(GrabTimeout) as timeout:
            camera.grab(0.1)  # no pulse on the line
        assert "Line2" in str(timeout.value)


def test_debounce_on_a_camera_without_debouncer_is_refused(make_camera):
    camera = make_camera(trigger={"source": "hardware", "debounce_us": 20.0})
    with pytest.raises(ConfigError) as info:
        camera.open()
    assert info.value.field == "trigger.debounce_us" and info.value.key == "camera_setting_not_supported"


def test_a_frame_left_waiting_is_discarded_before_the_next_trigger(make_camera, known_images):
    folder, images = known_images
    camera = make_camera(image_file=folder)
    with camera:
        camera.arm()
        camera.trigger()  # frame 1 is never grabbed (e.g. the station gave up on that part)
        camera.trigger()
        frame = camera.grab(5.0)
        with pytest.raises(GrabTimeout):
            camera.grab(0.1)  # nothing else is queued
    assert frame.frame_id == 2
    np.testing.assert_array_equal(frame.pixels, images[1])
    stats = camera.stats()
    assert stats.stale == 1 and stats.lost == 0 and stats.frames == 1


def test_exposure_end_hook_fires_once_per_frame_before_grab_returns(make_camera, known_images):
    folder, _ = known_images
    calls: list[ExposureEnd] = []
    camera = make_camera(image_file=folder)
    camera.set_exposure_end_hook(calls.append)
    with camera:
        camera.arm()
        for n in range(1, 6):
            camera.trigger()
            camera.grab(5.0)
            assert len(calls) == n  # announced by the time the frame is returned
    assert [c.frame_index for c in calls] == [1, 2, 3, 4, 5]
    assert {c.source for c in calls} == {"event"}  # the emulator sends ExposureEnd events
    assert all(c.camera_id == camera.camera_id for c in calls)


def test_a_failing_hook_does_not_cost_the_frame(make_camera, known_images, error_log):
    folder, images = known_images
    camera = make_camera(image_file=folder)

    def broken(_: ExposureEnd) -> None:
        raise OSError("PLC write failed")

    camera.set_exposure_end_hook(broken)
    with camera:
        camera.arm()
        camera.trigger()
        frame = camera.grab(5.0)
    np.testing.assert_array_equal(frame.pixels, images[0])
    assert any("exposure-end hook failed" in r.getMessage() for r in error_log.records)


def test_check_settings_grabs_one_frame_on_the_device(known_images, serials):
    folder, images = known_images
    result = check_camera_settings({"emulated": True, "serial": serials[1], "image_file": str(folder)})
    assert result.ok and result.error is None
    assert result.frame is not None
    np.testing.assert_array_equal(result.frame.pixels, images[0])


@pytest.mark.parametrize(("change", "key", "field"), [
    ({"exposure_us": 0.5}, "camera_setting_rejected", "exposure_us"),
    ({"serial": "0000-0000"}, "camera_not_found", None),
    ({"driver": "nosuchdriver"}, "unknown_inspection.cameras", None),
    ({"roi": {"x": 0, "y": 0, "width": 0, "height": 10}}, "bad_camera_setting", "roi.width"),
    ({"pixel_format": "Mono8", "trigger": {"source": "hardware"}}, "grab_timeout", None),
])
def test_check_settings_returns_a_stable_error_key(serials, change, key, field):
    settings = {"emulated": True, "serial": serials[1], **change}
    result = check_camera_settings(settings, timeout_s=0.2)
    assert not result.ok
    assert result.error == key and result.field == field
    assert result.message


def test_check_settings_on_the_running_camera_restores_the_old_ones_on_failure(make_camera, known_images):
    folder, _ = known_images
    camera = make_camera(image_file=folder, exposure_us=3000.0)
    with camera:
        camera.arm()
        failed = check_camera_settings(camera.settings.model_copy(update={"exposure_us": 0.5}), camera=camera)
        assert failed.error == "camera_setting_rejected"
        assert camera.settings.exposure_us == 3000.0
        assert camera.feature("ExposureTime") == pytest.approx(3000.0)
        assert camera.armed
        camera.trigger()
        assert camera.grab(5.0).complete
        ok = check_camera_settings(camera.settings.model_copy(update={"exposure_us": 800.0}), camera=camera)
        assert ok.ok and camera.feature("ExposureTime") == pytest.approx(800.0)
        assert camera.armed


def test_a_late_frame_after_a_grab_timeout_is_never_taken_for_the_next_part(make_camera, known_images):
    folder, images = known_images
    camera = make_camera(image_file=folder)
    with camera:
        camera.arm()
        camera.trigger()
        with pytest.raises(GrabTimeout):
            camera.grab(0.0)  # gave up before frame 1 arrived: it is still in flight
        camera.trigger()  # waits for frame 1 and discards it before firing
        frame = camera.grab(5.0)
    assert frame.frame_id == 2
    np.testing.assert_array_equal(frame.pixels, images[1])  # part 2's image, not part 1's
    assert camera.stats().stale == 1 and camera.stats().timeouts == 1
