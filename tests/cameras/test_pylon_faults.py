"""Basler driver on the emulator: timeouts, failed grabs, device locking, removal and recovery."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest

from inspection.camera.settings import Roi
from inspection.errors import CameraError, ConfigError, DeviceRemoved, GrabTimeout
from inspection.frame import IncompleteFrame

# Emulator calls block in C: the thread method still dumps the stacks and ends a hung run.
pytestmark = pytest.mark.timeout(120, method="thread")


def test_no_trigger_means_grab_timeout_not_a_hang(make_camera, known_images):
    folder, _ = known_images
    camera = make_camera(image_file=folder)
    with camera:
        camera.arm()
        t0 = time.monotonic()
        with pytest.raises(GrabTimeout) as info:
            camera.grab(0.2)
        waited = time.monotonic() - t0
    assert info.value.key == "grab_timeout" and "software trigger" in str(info.value)
    assert waited >= 0.19
    assert camera.stats().timeouts == 1


def test_grab_before_arm_and_before_open_are_typed_errors(make_camera):
    camera = make_camera()
    with pytest.raises(CameraError) as info:
        camera.grab(0.1)
    assert info.value.key == "camera_not_open"
    with camera:
        with pytest.raises(CameraError) as info:
            camera.trigger()
        assert info.value.key == "camera_not_armed"


def test_missing_image_file_is_refused_when_configured(make_camera, tmp_path):
    camera = make_camera(image_file=tmp_path / "nowhere.png")
    with pytest.raises(ConfigError) as info:
        camera.open()
    assert info.value.key == "image_file_missing" and info.value.field == "image_file"
    assert not camera.is_open


def test_image_file_removed_while_armed_is_a_typed_grab_failure(make_camera, known_images, png, tmp_path):
    _, images = known_images
    live = tmp_path / "live"
    png(live / "a.png", images[0])
    second = png(live / "b.png", images[1])
    camera = make_camera(image_file=live)
    with camera:
        camera.arm()
        camera.trigger()
        np.testing.assert_array_equal(camera.grab(5.0).pixels, images[0])
        second.unlink()  # the emulator reads the folder's files frame by frame
        camera.trigger()
        with pytest.raises(IncompleteFrame) as info:
            camera.grab(5.0)
        assert "Failed to load image file" in str(info.value)
        assert info.value.code == 7 and "0x7" in str(info.value)  # the SDK's code and text
        camera.trigger()  # the camera goes on with the next file
        frame = camera.grab(5.0)
    np.testing.assert_array_equal(frame.pixels, images[0])
    assert frame.frame_id == 3
    assert camera.stats().incomplete == 1 and camera.stats().lost == 0


def test_incomplete_buffer_is_a_typed_error_and_the_next_frame_is_fine(make_camera, known_images):
    folder, images = known_images
    camera = make_camera(image_file=folder, features={"ForceFailedBufferCount": 1})
    with camera:
        camera.arm()
        camera.execute("ForceFailedBuffer")  # the emulator's fault injection: next buffer fails
        camera.trigger()
        with pytest.raises(IncompleteFrame) as info:
            camera.grab(5.0)
        assert "incompletely grabbed" in str(info.value) and info.value.key == "incomplete_frame"
        camera.trigger()
        frame = camera.grab(5.0)
    assert frame.complete and frame.frame_id == 2
    np.testing.assert_array_equal(frame.pixels, images[1])


def test_camera_is_not_locked_after_an_exception_inside_the_grab_loop(make_camera, known_images):
    # While grabbing, pylon locks the transport-layer parameters (TLParamsLocked=1: ROI, pixel
    # format are read-only) and a real camera stays exclusively open: an exception that skips
    # StopGrabbing/Close leaves it unusable. The driver stops and closes in finally blocks.
    folder, images = known_images
    camera = make_camera(image_file=folder)
    with pytest.raises(GrabTimeout), camera:
        camera.arm()
        assert camera.feature("TLParamsLocked") == 1
        camera.grab(0.05)  # raises between StartGrabbing and StopGrabbing
    assert not camera.is_open and not camera.armed
    with pytest.raises(RuntimeError), camera:
        camera.arm()
        raise RuntimeError("station code failed mid-cycle")
    with camera:
        assert camera.feature("TLParamsLocked") == 0
        camera.configure(camera.settings.model_copy(update={"roi": Roi(x=0, y=0, width=200, height=150)}))
        camera.arm()
        camera.trigger()
        np.testing.assert_array_equal(camera.grab(5.0).pixels, images[0][:150, :200])


def test_settings_can_change_after_a_failed_grab_while_armed(make_camera, known_images):
    folder, images = known_images
    camera = make_camera(image_file=folder)
    with camera:
        camera.arm()
        with pytest.raises(GrabTimeout):
            camera.grab(0.05)
        camera.configure(camera.settings.model_copy(update={"roi": Roi(x=0, y=0, width=100, height=80)}))
        assert camera.armed  # re-armed after the change
        camera.trigger()
        frame = camera.grab(5.0)
    np.testing.assert_array_equal(frame.pixels, images[0][:80, :100])


def test_failed_settings_at_open_release_the_device(make_camera, known_images):
    folder, images = known_images
    bad = make_camera(image_file=folder, exposure_us=0.5)  # below the emulator's 1 µs minimum
    with pytest.raises(ConfigError) as info:
        bad.open()
    assert info.value.key == "camera_setting_rejected" and info.value.field == "exposure_us"
    good = make_camera(image_file=folder)
    with good:
        good.arm()
        good.trigger()
        np.testing.assert_array_equal(good.grab(5.0).pixels, images[0])


def test_device_removal_is_reported_once_then_the_camera_reopens_and_rearms(make_camera, known_images,
                                                                            error_log):
    folder, images = known_images
    camera = make_camera(image_file=folder, reconnect_min_s=0.05, reconnect_max_s=0.2)
    with camera:
        camera.arm()
        camera.trigger()
        camera.grab(5.0)
        camera.execute("FirePnPCallback")  # the emulator's "cable pulled"
        assert error_log.event.wait(5.0), "removal was not reported"
        with pytest.raises(DeviceRemoved) as info:
            camera.trigger()
        assert info.value.key == "device_removed"
        with pytest.raises(DeviceRemoved):
            camera.grab(0.1)  # at once, no waiting for the timeout
        assert camera.wait_online(10.0)
        camera.trigger()  # re-armed by the reconnection, with the settings re-applied
        frame = camera.grab(5.0)
    np.testing.assert_array_equal(frame.pixels, images[0])  # fresh acquisition: first file again
    assert frame.frame_id == 1
    assert camera.stats().reconnects == 1
    errors = [r for r in error_log.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "device removed" in errors[0].getMessage()
    assert any(r.levelno == logging.WARNING and "recovered" in r.getMessage() for r in error_log.records)


def test_without_reconnect_a_removed_camera_stays_offline(make_camera, known_images, error_log):
    folder, _ = known_images
    camera = make_camera(image_file=folder, reconnect=False)
    with camera:
        camera.arm()
        camera.execute("FirePnPCallback")
        assert error_log.event.wait(5.0)
        assert not camera.wait_online(0.3)
        with pytest.raises(DeviceRemoved):
            camera.trigger()
    camera.open()  # an explicit re-open works
    camera.arm()
    camera.trigger()
    assert camera.grab(5.0).complete
