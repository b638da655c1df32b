"""The replay camera: image files served like a software-triggered camera."""

from __future__ import annotations

import time

import numpy as np
import pytest

from inspection.camera.contract import ExposureEnd, create_camera
from inspection.errors import CameraError, ConfigError, GrabTimeout, ImageError
from inspection.frame import FrameSizeMismatch


def replay(**settings):
    return create_camera({"driver": "replay", "grab_timeout_s": 2.0, **settings})


def shot(camera, timeout_s=2.0):
    camera.trigger()
    return camera.grab(timeout_s)


def test_folder_is_replayed_in_alphabetical_order_and_loops(known_images):
    folder, images = known_images
    with replay(image_file=folder) as camera:
        camera.arm()
        frames = [shot(camera) for _ in range(5)]
    assert [f.frame_id for f in frames] == [1, 2, 3, 4, 5]
    for i, frame in enumerate(frames):
        np.testing.assert_array_equal(frame.pixels, images[i % 3])
        assert frame.source.endswith(f"{'abc'[i % 3]}.png") and frame.complete
    assert camera.camera_id == "replay:parts"


def test_without_loop_the_end_of_the_list_is_a_typed_error(known_images):
    folder, _ = known_images
    with replay(image_file=folder, replay_loop=False) as camera:
        camera.arm()
        for _ in range(3):
            shot(camera)
        with pytest.raises(CameraError) as info:
            shot(camera)
    assert info.value.key == "replay_finished"


def test_an_explicit_list_is_replayed_in_the_given_order(known_images):
    from plugins.cameras.replay import ReplayCamera

    folder, images = known_images
    camera = ReplayCamera({"driver": "replay"}, images=[folder / "c.png", folder / "a.png"])
    with camera:
        camera.arm()
        np.testing.assert_array_equal(shot(camera).pixels, images[2])
        np.testing.assert_array_equal(shot(camera).pixels, images[0])


def test_no_trigger_no_frame(known_images):
    folder, _ = known_images
    with replay(image_file=folder) as camera:
        camera.arm()
        with pytest.raises(GrabTimeout):
            camera.grab(0.05)
    assert camera.stats().timeouts == 1


def test_simulated_delay_holds_the_frame_back(known_images):
    folder, _ = known_images
    with replay(image_file=folder, replay_delay_s=0.15) as camera:
        camera.arm()
        t0 = time.monotonic()
        shot(camera)
        assert time.monotonic() - t0 >= 0.14
        camera.trigger()
        with pytest.raises(GrabTimeout):  # slower than the timeout: like a real camera, no frame yet
            camera.grab(0.05)
        frame = shot(camera)  # the late frame is discarded as stale at the next trigger
    assert frame.frame_id == 3 and camera.stats().stale == 1


def test_corrupt_file_is_a_typed_image_error_and_the_replay_goes_on(known_images):
    folder, images = known_images
    (folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with replay(image_file=folder) as camera:
        camera.arm()
        np.testing.assert_array_equal(shot(camera).pixels, images[0])
        with pytest.raises(ImageError) as info:
            shot(camera)
        assert info.value.path is not None and info.value.path.endswith("b.png")
        frame = shot(camera)
    np.testing.assert_array_equal(frame.pixels, images[2])
    assert frame.frame_id == 3 and camera.stats().incomplete == 1


def test_roi_crops_and_a_too_small_image_is_flagged(known_images, png, tmp_path):
    folder, images = known_images
    with replay(image_file=folder, roi={"x": 10, "y": 20, "width": 50, "height": 40}) as camera:
        camera.arm()
        np.testing.assert_array_equal(shot(camera).pixels, images[0][20:60, 10:60])
    small = png(tmp_path / "small.png", images[0][:30, :30])
    with replay(image_file=small, roi={"x": 0, "y": 0, "width": 50, "height": 40}) as camera:
        camera.arm()
        with pytest.raises(FrameSizeMismatch) as info:
            shot(camera)
    assert info.value.actual == (30, 30) and info.value.expected == (40, 50)


def test_pixel_format_converts_channels_and_refuses_wrong_bit_depth(png, tmp_path):
    colour = np.random.default_rng(2).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    path = png(tmp_path / "colour.png", colour)
    with replay(image_file=path, pixel_format="Mono8") as camera:
        camera.arm()
        frame = shot(camera)
    assert frame.pixels.ndim == 2 and frame.pixel_format == "Mono8"
    with replay(image_file=path, pixel_format="BGR8") as camera:
        camera.arm()
        np.testing.assert_array_equal(shot(camera).pixels, colour)
    wide = png(tmp_path / "wide.png", np.full((10, 10), 4000, np.uint16))
    with replay(image_file=wide, pixel_format="Mono8") as camera:
        camera.arm()
        with pytest.raises(ImageError, match="Mono8 needs 8-bit"):
            shot(camera)
    with replay(image_file=wide, pixel_format="Mono12") as camera:
        camera.arm()
        assert shot(camera).pixels.max() == 4000


def test_missing_or_empty_source_is_refused_at_open(tmp_path):
    with pytest.raises(ConfigError) as info:
        replay(image_file=tmp_path / "absent").open()
    assert info.value.key == "image_file_missing"
    with pytest.raises(ConfigError) as info:
        replay(image_file=tmp_path).open()  # exists, holds no image
    assert "no images" in str(info.value)
    with pytest.raises(ConfigError):
        replay().open()


def test_hardware_trigger_is_not_offered(known_images):
    folder, _ = known_images
    with pytest.raises(ConfigError) as info:
        replay(image_file=folder, trigger={"source": "hardware"}).open()
    assert info.value.key == "camera_setting_not_supported"


def test_exposure_end_hook_is_called_per_frame(known_images):
    folder, _ = known_images
    calls: list[ExposureEnd] = []
    with replay(image_file=folder) as camera:
        camera.set_exposure_end_hook(calls.append)
        camera.arm()
        shot(camera)
        shot(camera)
    assert [(c.frame_index, c.source) for c in calls] == [(1, "frame"), (2, "frame")]
