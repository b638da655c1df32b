"""The frame-id / content check used by the bench: clean on the emulator, and it does catch
duplicated and out-of-order frames (shown with the replay camera and a crafted file list)."""

from __future__ import annotations

import pytest

from inspection.camera.bench import LatencyStats, check_frame_ids, write_stamped_images
from inspection.camera.contract import create_camera

pytestmark = pytest.mark.timeout(120, method="thread")


def test_emulator_triggered_grabs_lose_and_duplicate_nothing(tmp_path, make_camera):
    write_stamped_images(tmp_path, count=5, width=64, height=48)
    camera = make_camera(image_file=tmp_path)
    with camera:
        camera.arm()
        res = check_frame_ids(camera, count=300, stamps=5)
    assert res.clean, res.first_problems
    assert res.frames == 300 and camera.stats().lost == 0 and camera.stats().stale == 0


def test_the_check_catches_a_frame_served_twice(tmp_path):
    from plugins.cameras.replay import ReplayCamera

    paths = write_stamped_images(tmp_path, count=4, width=16, height=8)
    served = [paths[0], paths[1], paths[1], paths[3]]  # image 1 again where image 2 belongs
    camera = ReplayCamera({"driver": "replay", "replay_loop": False}, images=served)
    with camera:
        camera.arm()
        res = check_frame_ids(camera, count=4, stamps=4)
    assert not res.clean
    assert res.content_mismatch == 1 and res.frames == 4
    assert res.first_problems == ["trigger 3: frame id 3 shows image 1, expected 2"]


def test_the_check_counts_timeouts_and_errors(tmp_path):
    paths = write_stamped_images(tmp_path, count=2, width=16, height=8)
    camera = create_camera({"driver": "replay", "image_file": str(paths[0].parent), "replay_loop": False})
    with camera:
        camera.arm()
        res = check_frame_ids(camera, count=3, stamps=2, timeout_s=0.5)
    assert res.frames == 2 and res.errors == 1 and not res.clean  # the third: replay finished


def test_latency_stats():
    st = LatencyStats.of([0.001] * 99 + [0.1])
    assert st.n == 100 and st.median_ms == pytest.approx(1.0) and st.max_ms == pytest.approx(100.0)
    assert 1.0 < st.p99_ms <= 100.0
    with pytest.raises(ValueError):
        LatencyStats.of([])
