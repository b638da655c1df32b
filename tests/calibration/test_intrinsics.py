"""Camera calibration on boards rendered through a known camera: the answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.board import Board, BoardView
from calibration.camera import CameraCalibration
from calibration.intrinsics import CalibrationParams, calibrate, find_views
from calibration.render import Camera, undistort_normalised
from calibration.undistort import Undistorter
from inspection.errors import CalibrationError, ConfigError, ImageError


def _check_known(cal: CameraCalibration, camera: Camera) -> None:
    k = camera.matrix
    w, h = camera.size
    assert abs(cal.fx / k[0, 0] - 1) < 0.005
    assert abs(cal.fy / k[1, 1] - 1) < 0.005
    assert abs(cal.cx - k[0, 2]) < 0.01 * w
    assert abs(cal.cy - k[1, 2]) < 0.01 * h
    assert cal.rms_px < 0.3


def test_checkerboard_recovers_the_known_camera(checkerboard, checker_views, camera):
    found, rejected, size = find_views(checker_views, checkerboard)
    assert size == camera.size and not rejected
    cal = calibrate(found, size, rejected=rejected, board=checkerboard)
    _check_known(cal, camera)
    assert len(cal.used_views) == 12 and all(v.error_px is not None and v.error_px < 0.3 for v in cal.views)
    assert cal.std is not None and cal.coverage is not None and 0 < cal.coverage <= 1


def test_charuco_recovers_the_known_camera_from_partial_views(render, camera):
    board = Board.parse("charuco:9x7", square_mm=10.0)
    views = render(board, 10, seed=7, spread=1.3)  # some views cut the board at the image edge
    found, rejected, size = find_views(views, board)
    assert not rejected
    assert min(v.count for _, v in found) < 48 <= max(v.count for _, v in found)  # partial and full views
    _check_known(calibrate(found, size, board=board), camera)


def test_a_view_with_misdetected_corners_is_rejected_and_said_why(checkerboard, checker_views, camera):
    found, _, size = find_views(checker_views, checkerboard)
    name, view = found[3]
    rng = np.random.default_rng(0)
    bad = BoardView(
        view.image_points + rng.normal(0, 2.0, view.image_points.shape).astype(np.float32), view.object_points
    )
    found[3] = (name, bad)
    cal = calibrate(found, size)
    rejected = cal.rejected_views
    assert [v.name for v in rejected] == [name]
    assert "reprojection error" in rejected[0].reason and rejected[0].error_px > 1.0
    _check_known(cal, camera)


def test_views_without_a_board_or_of_another_size_are_rejected_with_reasons(checkerboard, checker_views):
    images = [
        *checker_views[:6],
        ("blank.png", np.full((480, 640), 128, np.uint8)),
        ("small.png", np.zeros((240, 320), np.uint8)),
        ("bad.png", ImageError("corrupt", path="bad.png")),
    ]
    found, rejected, size = find_views(images, checkerboard)
    reasons = {r.name: r.reason for r in rejected}
    assert len(found) == 6 and size == (640, 480)
    assert "not found" in reasons["blank.png"]
    assert "320x240" in reasons["small.png"]
    assert "unreadable" in reasons["bad.png"]


def test_too_few_views_is_a_calibration_error(checkerboard, checker_views):
    found, _, size = find_views(checker_views[:3], checkerboard)
    with pytest.raises(CalibrationError) as err:
        calibrate(found, size, params=CalibrationParams(min_views=5))
    assert err.value.key == "too_few_views"


def test_camera_file_round_trip_and_refusals(tmp_path, checkerboard, checker_views):
    found, rejected, size = find_views(checker_views[:6], checkerboard)
    cal = calibrate(found, size, rejected=rejected, board=checkerboard)
    path = tmp_path / "camera.json"
    cal.save(path)
    back = CameraCalibration.load(path)
    assert np.allclose(back.matrix, cal.matrix) and np.allclose(back.dist, cal.dist)
    assert back.image_size == cal.image_size and back.views == cal.views
    data = cal.to_dict()
    with pytest.raises(CalibrationError, match="schema version"):
        CameraCalibration.from_dict({**data, "schema_version": 99})
    with pytest.raises(CalibrationError, match="3x3"):
        CameraCalibration.from_dict({**data, "camera_matrix": [[1, 0], [0, 1]]})
    with pytest.raises(CalibrationError):
        CameraCalibration.from_dict({**data, "distortion": [float("nan")] * 5})
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(CalibrationError, match="JSON"):
        CameraCalibration.load(tmp_path / "junk.json")


def test_board_spec_parsing():
    b = Board.parse("charuco:7x5", square_mm=20)
    assert b.marker_mm == 15.0 and b.spec == "charuco:7x5"
    for bad in ("checkerboard:9", "grid:9x6", "checkerboard:1x6"):
        with pytest.raises(ConfigError):
            Board.parse(bad, square_mm=10)
    with pytest.raises(ConfigError):
        Board.parse("checkerboard:9x6", square_mm=-1)
    with pytest.raises(ConfigError):
        Board.parse("charuco:7x5", square_mm=10, marker_mm=12)


def test_undistorter_maps_points_to_where_the_ideal_camera_sees_them(camera):
    truth = CameraCalibration(camera.matrix, camera.dist, camera.size, 0.0)
    und = Undistorter(truth)
    w, h = camera.size
    ys, xs = np.mgrid[20 : h - 20 : 40, 20 : w - 20 : 40]
    pix = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
    ideal = (
        undistort_normalised(camera, pix) * [camera.matrix[0, 0], camera.matrix[1, 1]] + camera.matrix[:2, 2]
    )
    assert np.abs(und.points(pix) - ideal).max() < 1e-3
    # the image: a bright dot at a distorted position lands at its ideal position
    img = np.zeros((h, w), np.uint8)
    px, py = 560.0, 420.0
    img[int(py) - 2 : int(py) + 3, int(px) - 2 : int(px) + 3] = 255
    out = und(img)
    yy, xx = np.nonzero(out > 60)
    target = und.points(np.array([[int(px), int(py)]]))[0]
    assert abs(xx.mean() - target[0]) < 1.0 and abs(yy.mean() - target[1]) < 1.0
    with pytest.raises(ImageError):
        und(np.zeros((100, 100), np.uint8))
