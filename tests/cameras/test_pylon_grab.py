"""Basler driver on the pylon camera emulator: triggered grabs of known files, pixel formats, ROI."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from inspection.frame import FrameSizeMismatch

# Emulator calls block in C: the thread method still dumps the stacks and ends a hung run.
pytestmark = pytest.mark.timeout(120, method="thread")


def grab_one(camera):
    camera.trigger()
    return camera.grab(5.0)


def test_triggered_grabs_serve_the_folder_in_order_bit_exact_and_cycle(make_camera, known_images, serials):
    folder, images = known_images
    camera = make_camera(image_file=folder)
    with camera:
        camera.arm()
        frames = [grab_one(camera) for _ in range(7)]
    for i, frame in enumerate(frames):
        assert frame.frame_id == i + 1
        assert frame.complete and frame.pixel_format == "Mono8"
        assert frame.camera_id == serials[0] and frame.source == f"pylon:{serials[0]}"
        assert frame.pixels.dtype == np.uint8 and frame.shape == (300, 400)
        np.testing.assert_array_equal(frame.pixels, images[i % 3])  # bit-exact, alphabetical, cycling
    assert camera.stats().frames == 7 and camera.stats().lost == 0


def test_frame_pixels_are_copied_out_of_the_pylon_buffer(make_camera, known_images):
    folder, images = known_images
    camera = make_camera(image_file=folder, buffer_count=2)
    with camera:
        camera.arm()
        first = grab_one(camera)
        for _ in range(4):  # the two pylon buffers are reused several times meanwhile
            grab_one(camera)
        np.testing.assert_array_equal(first.pixels, images[0])
        assert not first.pixels.flags.writeable


def test_a_single_file_without_roi_is_served_at_its_own_size(make_camera, tmp_path, png):
    img = np.arange(640 * 480, dtype=np.uint32).reshape(480, 640).astype(np.uint8)
    camera = make_camera(image_file=png(tmp_path / "one.png", img))
    with camera:
        camera.arm()
        frame = grab_one(camera)
    assert frame.shape == (480, 640)
    np.testing.assert_array_equal(frame.pixels, img)


def test_mono16_file_comes_back_bit_exact(make_camera, tmp_path, png):
    img = np.random.default_rng(7).integers(0, 65536, (120, 160), dtype=np.uint16)
    camera = make_camera(image_file=png(tmp_path / "wide.png", img), pixel_format="Mono16")
    with camera:
        camera.arm()
        frame = grab_one(camera)
    assert frame.pixels.dtype == np.uint16 and frame.pixel_format == "Mono16"
    np.testing.assert_array_equal(frame.pixels, img)


@pytest.mark.parametrize("pixel_format", ["BGR8", "RGB8"])
def test_colour_formats_arrive_as_bgr(make_camera, tmp_path, pixel_format, png):
    img = np.random.default_rng(3).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    camera = make_camera(image_file=png(tmp_path / "colour.png", img), pixel_format=pixel_format)
    with camera:
        camera.arm()
        frame = grab_one(camera)
    assert frame.is_colour and frame.pixel_format == "BGR8"
    np.testing.assert_array_equal(frame.pixels, img)  # same channel order as cv2.imread


@pytest.mark.parametrize("pattern", ["BayerRG8", "BayerGR8", "BayerGB8", "BayerBG8"])
def test_bayer_formats_are_demosaiced_to_the_right_colours(make_camera, tmp_path, pattern, png):
    yy, xx = np.mgrid[0:120, 0:160]
    img = np.dstack([(xx * 1.5) % 256, (yy * 2) % 256, ((xx + yy) // 2) % 256]).astype(np.uint8)
    camera = make_camera(image_file=png(tmp_path / "smooth.png", img), pixel_format=pattern)
    with camera:
        camera.arm()
        frame = grab_one(camera)
    assert frame.is_colour and frame.shape == (120, 160)
    err = np.abs(frame.pixels[4:-4, 4:-4].astype(int) - img[4:-4, 4:-4].astype(int)).mean(axis=(0, 1))
    assert (err < 4).all(), err  # a wrong Bayer phase swaps or mixes the channels (errors of 30+)


def test_a_file_smaller_than_the_roi_is_flagged_not_passed_off_as_whole(make_camera, tmp_path, png):
    small = np.random.default_rng(5).integers(0, 256, (100, 120), dtype=np.uint8)
    camera = make_camera(image_file=png(tmp_path / "small.png", small),
                         roi={"x": 0, "y": 0, "width": 400, "height": 300})
    with camera:
        camera.arm()
        camera.trigger()
        with pytest.raises(FrameSizeMismatch) as info:
            camera.grab(5.0)
        err = info.value
        assert err.key == "frame_size_mismatch"
        assert err.expected == (300, 400) and err.actual == (100, 120)
        assert "400x300" in str(err) and "120x100" in str(err)
        assert err.frame is not None and not err.frame.complete
        np.testing.assert_array_equal(err.frame.pixels, small)  # what did arrive, for the HMI
        assert camera.stats().incomplete == 1 and camera.stats().frames == 0


def test_roi_crops_a_larger_file_at_the_offset(make_camera, tmp_path, png):
    big = np.random.default_rng(9).integers(0, 256, (300, 400), dtype=np.uint8)
    camera = make_camera(image_file=png(tmp_path / "big.png", big),
                         roi={"x": 8, "y": 4, "width": 64, "height": 48})
    with camera:
        camera.arm()
        frame = grab_one(camera)
    assert frame.shape == (48, 64)
    np.testing.assert_array_equal(frame.pixels, big[4:52, 8:72])


def test_png_written_by_grab_cli_round_trips(tmp_path, known_images, serials):
    from inspection.cli import main

    folder, images = known_images
    out = tmp_path / "grab.png"
    assert main(["camera", "grab", "--driver", "pylon", "--emulated", "--serial", serials[1],
                 "--image-file", str(folder / "b.png"), "--out", str(out)]) == 0
    np.testing.assert_array_equal(cv2.imread(str(out), cv2.IMREAD_UNCHANGED), images[1])
