"""Real Basler camera (GigE or USB3): skipped unless ``pytest --hardware`` is given.

    pytest --hardware tests/cameras/test_pylon_hardware.py [--camera-serial 40123456]

Needs one real camera (the first non-emulated one, or ``--camera-serial``), nothing wired to its
trigger input, and no other program holding it open (close pylon Viewer). See docs/cameras.md.
"""

from __future__ import annotations

import pytest

from inspection.camera.contract import ExposureEnd, list_devices
from inspection.errors import CameraError, ConfigError, GrabTimeout

pytestmark = [pytest.mark.hardware, pytest.mark.timeout(120, method="thread")]


@pytest.fixture
def real_camera(request, make_camera):
    found = list_devices(["pylon"])["pylon"]
    if not isinstance(found, list):
        pytest.fail(f"pylon cannot enumerate devices: {found}")
    real = [d for d in found if not d.emulated]
    wanted = request.config.getoption("--camera-serial")
    if wanted is not None:
        if not any(d.serial == wanted for d in real):
            pytest.fail(f"no real camera with serial {wanted}; found {[d.serial for d in real]}")
        serial = wanted
    elif real:
        serial = real[0].serial
    else:
        pytest.fail("--hardware was given but no real Basler camera was found (see docs/cameras.md)")

    def make(**settings):
        return make_camera(emulated=False, serial=serial, **settings)

    return make


def test_software_triggered_frames_are_whole_and_consecutive(real_camera):
    camera = real_camera(pixel_format="Mono8", exposure_us=2000.0)
    with camera:
        height, width = camera.feature("Height"), camera.feature("Width")
        camera.arm()
        frames = []
        for _ in range(20):
            camera.trigger()
            frames.append(camera.grab(5.0))
    assert all(f.complete and f.shape == (height, width) for f in frames)
    assert frames[0].exposure_us == pytest.approx(2000.0, rel=0.05)  # read back from the device
    ids = [f.frame_id for f in frames]
    assert ids == list(range(ids[0], ids[0] + 20))
    stamps = [f.device_timestamp_ns for f in frames]
    assert all(s is not None for s in stamps) and stamps == sorted(stamps)
    assert camera.stats().lost == 0


def test_the_device_is_exclusive_and_released_after_an_exception(real_camera):
    holder = real_camera()
    intruder = real_camera()
    with pytest.raises(GrabTimeout), holder:
        holder.arm()
        with pytest.raises(CameraError) as info:
            intruder.open()
        assert info.value.key == "camera_open_failed"
        holder.grab(0.05)  # raises while grabbing
    with intruder:  # released by the driver's finally blocks
        intruder.arm()
        intruder.trigger()
        assert intruder.grab(5.0).complete


def test_hardware_trigger_without_a_pulse_times_out(real_camera):
    camera = real_camera(trigger={"source": "hardware", "line": "Line1", "edge": "rising"})
    with camera:
        camera.arm()
        with pytest.raises(ConfigError):
            camera.trigger()
        with pytest.raises(GrabTimeout):
            camera.grab(0.3)


def test_exposure_end_is_announced_for_every_frame(real_camera):
    calls: list[ExposureEnd] = []
    camera = real_camera()
    camera.set_exposure_end_hook(calls.append)
    with camera:
        camera.arm()
        for n in range(1, 11):
            camera.trigger()
            camera.grab(5.0)
            assert len(calls) == n
    print("exposure-end sources:", sorted({c.source for c in calls}))


def test_select_by_user_id_when_the_camera_has_one(real_camera, make_camera):
    probe = real_camera()
    with probe:
        user_id = str(probe.feature("DeviceUserID"))
    if not user_id:
        pytest.skip("the camera has no DeviceUserID set (set one in pylon Viewer to test this)")
    camera = make_camera(emulated=False, serial=None, user_id=user_id)
    with camera:
        assert camera.camera_id == probe.camera_id
