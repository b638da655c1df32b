"""Millimetres per pixel from targets of known size and from a board on the inspection plane."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from calibration.board import Board
from calibration.camera import CameraCalibration
from calibration.render import BoardRenderer, Camera
from calibration.scale import ScaleCalibration, Target, scale_from_board, scale_from_target
from calibration.undistort import Undistorter
from inspection.errors import CalibrationError, ConfigError

SS = 8


def _disc(
    shape: tuple[int, int], centre: tuple[float, float], radius: float, *, dark_on_bright: bool
) -> np.ndarray:
    """An anti-aliased disc (8x supersampled), blurred a little, with noise."""
    h, w = shape
    big = np.zeros((h * SS, w * SS), np.uint8)
    cv2.circle(big, (round(centre[0] * SS), round(centre[1] * SS)), round(radius * SS), 255, -1, shift=0)
    cover = cv2.resize(big.astype(np.float32) / 255, (w, h), interpolation=cv2.INTER_AREA)
    fg, bg = (40.0, 210.0) if dark_on_bright else (220.0, 30.0)
    img = bg + cover * (fg - bg)
    img = cv2.GaussianBlur(img, (0, 0), 0.8) + np.random.default_rng(0).normal(0, 2.0, img.shape)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("dark", [True, False])
def test_circle_target_gives_the_scale_to_a_fraction_of_a_percent(dark):
    radius_px = 61.3
    img = _disc((300, 400), (190.4, 151.7), radius_px, dark_on_bright=dark)
    result = scale_from_target(img, Target.parse("circle:20"))
    truth = 20.0 / (2 * radius_px)
    assert abs(result.mm_per_px / truth - 1) < 0.003
    assert abs(result.anisotropy) < 0.01 and not result.warnings()
    assert result.detail["bright_target"] is not dark


def test_rectangle_target():
    h, w = 300, 400
    big = np.full((h * SS, w * SS), 200, np.uint8)
    box = cv2.boxPoints(((200.0 * SS, 150.0 * SS), (180.0 * SS, 90.0 * SS), 12.0))
    cv2.fillPoly(big, [box.astype(np.int32)], 30)
    img = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA)
    result = scale_from_target(img, Target.parse("rect:30x15"))  # 180 x 90 px -> 1/6 mm/px
    assert abs(result.mm_per_px / (1 / 6) - 1) < 0.003
    assert abs(result.anisotropy) < 0.01


def test_target_errors():
    with pytest.raises(CalibrationError) as err:
        scale_from_target(np.full((100, 100), 128, np.uint8), Target.parse("circle:5"))
    assert err.value.key == "target_not_found"
    for bad in ("circle:5x3", "rect:5", "square:5", "circle:0"):
        with pytest.raises(ConfigError):
            Target.parse(bad)


def _board_image(camera: Camera, board: Board, z_mm: float, tilt_deg: float = 0.0) -> np.ndarray:
    rot, _ = cv2.Rodrigues(np.array([math.radians(tilt_deg), 0.0, 0.0]))
    centre = np.array([(board.cols - 1) * board.square_mm / 2, (board.rows - 1) * board.square_mm / 2, 0.0])
    tvec = np.array([0.0, 0.0, z_mm]) - rot @ centre  # the board's centre on the optical axis
    rvec, _ = cv2.Rodrigues(rot)
    return BoardRenderer(camera, board, supersample=2).render(rvec.ravel(), tvec, seed=1)


def test_board_on_the_plane_gives_z_over_f(camera):
    board = Board.parse("checkerboard:9x6", square_mm=10.0)
    z = 600.0
    truth = CameraCalibration(camera.matrix, camera.dist, camera.size, 0.0)
    result = scale_from_board(_board_image(camera, board, z), board, undistorter=Undistorter(truth))
    assert abs(result.mm_per_px / (z / 800.0) - 1) < 0.005
    assert result.undistorted and result.variation < 0.01 and not result.warnings()


def test_board_seen_at_an_angle_warns():
    cam = Camera.simple((640, 480), f=800.0, dist=(0.0, 0.0, 0.0, 0.0, 0.0))
    board = Board.parse("checkerboard:9x6", square_mm=10.0)
    result = scale_from_board(_board_image(cam, board, 600.0, tilt_deg=25.0), board)
    assert result.variation > 0.01
    assert any("angle" in w for w in result.warnings())


def test_scale_file_round_trip(tmp_path):
    s = ScaleCalibration(0.05, "target", {"target": "circle:10"}, 0.001, 0.0, True)
    s.save(tmp_path / "scale.json")
    assert ScaleCalibration.load(tmp_path / "scale.json") == s
    with pytest.raises(CalibrationError):
        ScaleCalibration.from_dict({**s.to_dict(), "schema_version": 2})
    with pytest.raises(CalibrationError):
        ScaleCalibration.from_dict({**s.to_dict(), "mm_per_px": -1})
