"""The calibrate, teach and recipe commands, end to end on files the tests write."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from calibration.production import production_part
from inspection.cli import main
from inspection.findings import DefectClass

SHAPE = (160, 160)


def test_help_lists_the_commands(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    assert "calibrate" in out and "teach" in out and "recipe" in out


def test_calibrate_intrinsics(tmp_path: Path, checker_views, camera, capsys):
    folder = tmp_path / "views"
    folder.mkdir()
    for name, img in checker_views[:8]:
        cv2.imwrite(str(folder / name), img)
    cv2.imwrite(str(folder / "blank.png"), np.full((480, 640), 128, np.uint8))
    out = tmp_path / "camera.json"
    rc = main(
        [
            "calibrate",
            "intrinsics",
            "--images",
            str(folder),
            "--board",
            "checkerboard:9x6",
            "--square-mm",
            "10",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0 and "blank.png" in text and "not found" in text and "RMS error" in text
    data = json.loads(out.read_text())
    assert abs(data["camera_matrix"][0][0] / camera.matrix[0, 0] - 1) < 0.005
    assert sum(v["used"] for v in data["views"]) == 8 and data["image_size"] == [640, 480]


def test_calibrate_intrinsics_without_board_views_fails_cleanly(tmp_path: Path, capsys):
    folder = tmp_path / "views"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((120, 160), 100, np.uint8))
    rc = main(
        [
            "calibrate",
            "intrinsics",
            "--images",
            str(folder),
            "--board",
            "checkerboard:9x6",
            "--square-mm",
            "10",
            "--out",
            str(tmp_path / "c.json"),
            "--quiet",
        ]
    )
    assert rc == 2 and "usable view" in capsys.readouterr().err
    assert not (tmp_path / "c.json").exists()


def test_calibrate_scale_with_a_disc(tmp_path: Path, capsys):
    img = np.full((200, 240), 220, np.uint8)
    cv2.circle(img, (120, 100), 50, 30, -1, cv2.LINE_AA)
    cv2.imwrite(str(tmp_path / "disc.png"), img)
    rc = main(
        [
            "calibrate",
            "scale",
            "--image",
            str(tmp_path / "disc.png"),
            "--target",
            "circle:10",
            "--out",
            str(tmp_path / "scale.json"),
        ]
    )
    assert rc == 0
    mm = json.loads((tmp_path / "scale.json").read_text())["mm_per_px"]
    assert abs(mm / (10 / 101) - 1) < 0.02  # a LINE_AA disc of radius 50 spans about 101 px
    assert "mm/px" in capsys.readouterr().out


def _write_parts(folder: Path, indices: range, defects: tuple[DefectClass, ...] = ()) -> None:
    folder.mkdir()
    for i in indices:
        kind = (defects[i % len(defects)],) if defects else ()
        img = production_part(SHAPE, design=9, index=i, defects=kind, defect_size=10.0).image
        cv2.imwrite(str(folder / f"part{i:03d}.png"), img)


def test_teach_show_check_and_tamper(tmp_path: Path, capsys):
    _write_parts(tmp_path / "good", range(14))
    (tmp_path / "good" / "notes.txt").write_text("not an image")
    (tmp_path / "good" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    (tmp_path / "scale.json").write_text(
        json.dumps({"schema": "inspection-scale", "schema_version": 1, "mm_per_px": 0.04, "method": "target"})
    )
    recipe = tmp_path / "recipes" / "clip"
    rc = main(
        [
            "teach",
            "--good",
            str(tmp_path / "good"),
            "--out",
            str(recipe),
            "--material",
            "bright",
            "--scale",
            str(tmp_path / "scale.json"),
            "--target-frr",
            "0.01",
            "--number",
            "7",
            "--quiet",
            "--json",
            str(tmp_path / "teach.json"),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0 and "broken.png" in out and "threshold" in out and "guaranteed" in out
    report = json.loads((tmp_path / "teach.json").read_text())
    assert len(report["scores"]) == 14 and report["choice"]["target_frr"] == 0.01

    assert main(["teach", "--good", str(tmp_path / "good"), "--out", str(recipe), "--quiet"]) == 2  # exists
    capsys.readouterr()

    assert main(["recipe", "show", str(recipe)]) == 0
    out = capsys.readouterr().out
    assert "number 7" in out and "0.040000 mm/px" in out and "verified" in out

    _write_parts(tmp_path / "more", range(100, 120))
    _write_parts(tmp_path / "bad", range(200, 206), (DefectClass.MISSING, DefectClass.EXTRA))
    rc = main(
        [
            "recipe",
            "check",
            str(recipe),
            "--good",
            str(tmp_path / "more"),
            "--bad",
            str(tmp_path / "bad"),
            "--quiet",
            "--json",
            str(tmp_path / "check.json"),
        ]
    )
    assert rc == 0
    check = json.loads((tmp_path / "check.json").read_text())
    assert check["good_total"] == 20 and check["good_rejected"] <= 1
    assert check["bad_total"] == 6 and check["bad_rejected"] >= 5
    capsys.readouterr()

    os.chmod(recipe / "reference.png", 0o644)
    with open(recipe / "reference.png", "ab") as f:
        f.write(b"\0")
    assert main(["recipe", "show", str(recipe)]) == 2
    assert "modified" in capsys.readouterr().err


def test_teach_with_undistortion_stores_the_camera(tmp_path: Path, capsys):
    from calibration.camera import CameraCalibration

    _write_parts(tmp_path / "good", range(10))
    k = np.array([[300.0, 0, 80.0], [0, 300.0, 80.0], [0, 0, 1]])
    CameraCalibration(k, np.array([-0.05, 0.0, 0.0, 0.0, 0.0]), (160, 160), 0.1).save(
        tmp_path / "camera.json"
    )
    recipe = tmp_path / "r"
    rc = main(
        [
            "teach",
            "--good",
            str(tmp_path / "good"),
            "--out",
            str(recipe),
            "--material",
            "bright",
            "--camera",
            str(tmp_path / "camera.json"),
            "--undistort",
            "--quiet",
        ]
    )
    assert rc == 0
    capsys.readouterr()
    assert main(["recipe", "show", str(recipe)]) == 0
    assert "undistortion    on (camera file included)" in capsys.readouterr().out
    assert main(["teach", "--good", str(tmp_path / "good"), "--out", str(tmp_path / "x"), "--undistort"]) == 2
    assert "--undistort needs --camera" in capsys.readouterr().err
