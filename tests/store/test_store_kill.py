"""A station killed at any moment (kill -9) restarts with every committed result intact."""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from inspection.store import ResultQuery, ResultStore, StoreConfig

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("burst_writer", HERE / "burst_writer.py")
assert _spec is not None and _spec.loader is not None
burst_writer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(burst_writer)


def _burst_and_kill(root: Path, start: int, kill_after: int) -> dict[str, int]:
    """Run the writer child until it reports ``kill_after`` commits, SIGKILL it mid-burst and
    return every result id it reported as committed (id -> part id)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OPENCV_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(HERE / "burst_writer.py"), str(root), str(start)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    committed: dict[str, int] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("C "):
                _, rid, pid = line.split()
                committed[rid] = int(pid)
                if len(committed) >= kill_after:
                    proc.send_signal(signal.SIGKILL)
                    break
        else:
            pytest.fail(f"writer ended early: {proc.stderr.read() if proc.stderr else ''}")
        # Lines already written to the pipe before the kill were committed too.
        rest, _ = proc.communicate(timeout=30)
        for line in rest.splitlines():
            if line.startswith("C "):
                _, rid, pid = line.split()
                committed[rid] = int(pid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return committed


@pytest.mark.slow
def test_kill_9_during_burst_loses_nothing_committed(tmp_path):
    rng = random.Random(6)
    all_committed: dict[str, int] = {}
    for round_no in range(3):
        committed = _burst_and_kill(tmp_path, start=round_no * 1_000_000, kill_after=rng.randint(40, 160))
        all_committed.update(committed)

        # Restart: open the store like a restarting station would.
        with ResultStore(StoreConfig(tmp_path)) as store:
            ok, detail = store.integrity()
            assert ok, detail
            assert list(tmp_path.rglob("*.tmp")) == []  # partial image writes swept at start
            for rid, part_id in all_committed.items():
                got = store.get(rid)
                assert got is not None, f"committed result {rid} (part {part_id}) lost"
                exp = burst_writer.expected(part_id)
                assert got.part_id == part_id
                for key, value in exp.items():
                    assert getattr(got, key) == value, (rid, key)
                if got.image_path is not None:
                    img = cv2.imread(str(store.images.path(got.image_path)), cv2.IMREAD_UNCHANGED)
                    assert img is not None and img.shape == (64, 80)
                    assert int(img[0, 0]) == 30 + part_id % 50
            # Every reject committed has its image (rejects are always saved).
            rejects = [r for r in store.query(ResultQuery(verdict="reject", limit=100_000))]
            assert rejects and all(r.image_state.value in ("saved", "dropped") for r in rejects)
    assert len(all_committed) >= 120
