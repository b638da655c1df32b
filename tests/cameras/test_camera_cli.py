"""``inspection camera`` commands, run through main() against the pylon emulator."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from inspection.cli import main

pytestmark = pytest.mark.timeout(120, method="thread")


def test_list_shows_every_driver_and_the_emulated_cameras(capsys, serials):
    assert main(["camera", "list"]) == 0
    out = capsys.readouterr().out
    assert all(s in out for s in serials) and "(emulated)" in out
    assert "replay: no devices found" in out and "usb:" in out
    assert main(["camera", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {"pylon", "replay", "usb"}
    assert {d["serial"] for d in data["pylon"] if d["emulated"]} >= set(serials)


def test_grab_count_writes_lossless_pngs_in_order(tmp_path, known_images, serials, capsys):
    folder, images = known_images
    out = tmp_path / "frames"
    assert main(["camera", "grab", "--driver", "pylon", "--emulated", "--serial", serials[2],
                 "--image-file", str(folder), "--count", "4", "--out", str(out)]) == 0
    files = sorted(out.glob("*.png"))
    assert [f.name for f in files] == [f"{serials[2]}_{i:06d}.png" for i in range(1, 5)]
    for i, f in enumerate(files):
        np.testing.assert_array_equal(cv2.imread(str(f), cv2.IMREAD_UNCHANGED), images[i % 3])
    assert "frame 4: 400x300 Mono8" in capsys.readouterr().out


def test_grab_from_the_replay_driver(tmp_path, known_images):
    folder, images = known_images
    out = tmp_path / "one.png"
    assert main(["camera", "grab", "--driver", "replay", "--image-file", str(folder / "c.png"),
                 "--out", str(out)]) == 0
    np.testing.assert_array_equal(cv2.imread(str(out), cv2.IMREAD_UNCHANGED), images[2])


@pytest.mark.parametrize(("args", "message"), [
    (["--out", "frame.jpg"], "PNG (lossless)"),
    (["--count", "0", "--out", "d"], "must be >= 1"),
    (["--serial", "9999-9999", "--emulated", "--out", "x.png"], "no emulated camera with serial 9999-9999"),
    (["--driver", "nosuch", "--out", "x.png"], "unknown camera driver 'nosuch'"),
])
def test_grab_errors_are_clear_and_exit_2(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["camera", "grab", *args]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_check_prints_the_result_and_exit_code(capsys, serials, known_images):
    folder, _ = known_images
    assert main(["camera", "check", "--emulated", "--serial", serials[1], "--image-file", str(folder)]) == 0
    ok = json.loads(capsys.readouterr().out)
    assert ok["ok"] and ok["frame"]["shape"] == [300, 400]
    assert main(["camera", "check", "--emulated", "--serial", serials[1], "--exposure-us", "0.5"]) == 1
    bad = json.loads(capsys.readouterr().out)
    assert bad["error"] == "camera_setting_rejected" and bad["field"] == "exposure_us"


def test_bench_measures_both_loops_and_checks_frame_ids(tmp_path, capsys):
    report = tmp_path / "bench.json"
    assert main(["camera", "bench", "--count", "10", "--warmup", "2", "--fps-count", "5", "--width", "320",
                 "--height", "240", "--check-ids", "30", "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "raw pypylon" in out and "driver overhead" in out and "CLEAN" in out
    data = json.loads(report.read_text())
    assert data["latency_ms"]["driver"]["n"] == 10 and data["latency_ms"]["raw_pypylon"]["n"] == 10
    assert data["fps"]["driver"] > 0 and data["fps"]["raw_pypylon"] > 0
    ids = data["id_check"]
    assert ids["clean"] and ids["frames"] == 30 and ids["lost"] == 0 and ids["duplicated"] == 0
