"""The photo-like board bench: synthetic colour boards (golden, defective part, good part, both moved
and relit) through the settings of ``inspection detect``; the summary's counts add up."""

from __future__ import annotations

import json
from pathlib import Path

from inspection.bench import photo_boards as pb
from inspection.recipe.params import GENERIC_THRESHOLD, DetectParams, detect_defaults


def test_photo_bench_runs_the_detect_defaults_and_counts(tmp_path: Path) -> None:
    cfg = pb.PhotoBenchConfig(tmp_path, boards=4, size=(400, 480), roi_margin=30, progress=False)
    s = pb.run(cfg)
    assert detect_defaults() == DetectParams(threshold=GENERIC_THRESHOLD)
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["defects"] == s["defects"] > 0
    per = saved["per_kind"]
    assert sum(v["planted"] for v in per.values()) == saved["defects"]
    assert sum(v["found"] for v in per.values()) == saved["defects_found"]
    assert 0 <= saved["good_rejected"] <= 4
    assert saved["defective_rejected"] >= 3  # thin breaks on small boards: found on most
    assert len(saved["missed"]) == min(50, saved["defects"] - saved["defects_found"])
    table = pb.format_table(s)
    assert "defective boards rejected" in table and "good boards rejected" in table


def test_a_stricter_threshold_finds_no_more(tmp_path: Path) -> None:
    base = pb.run(pb.PhotoBenchConfig(tmp_path / "a", boards=3, size=(400, 480), roi_margin=30, progress=False))
    strict = pb.run(pb.PhotoBenchConfig(tmp_path / "b", boards=3, size=(400, 480), roi_margin=30, progress=False,
                                        detect=DetectParams(threshold=0.6)))
    assert strict["defects_found"] <= base["defects_found"]
    assert strict["good_rejected"] <= base["good_rejected"]
