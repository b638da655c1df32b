"""The DeepPCB bench end to end on a small synthetic folder laid out like DeepPCB."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inspection.bench.deeppcb_data import load_pairs, read_truth
from inspection.cli import main
from inspection.errors import ConfigError
from tests.helpers import make_deeppcb_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_deeppcb_folder(tmp_path_factory.mktemp("deeppcb"), n=3)


def test_bench_writes_findings_and_summary(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    assert main(["bench", "deeppcb", str(folder), "--out", str(out), "--quiet"]) == 0
    table = capsys.readouterr().out
    assert "class-agnostic P / R / F" in table and "ms per pair" in table
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pairs"] == 3 and summary["alignment_failures"] == 0
    assert summary["class_agnostic"]["recall"] >= 0.9  # every planted defect is a candidate
    assert summary["timing"]["pair_ms"]["median"] > 0
    for pid in ("99000000", "99000001", "99000002"):
        lines = (out / f"{pid}.txt").read_text().splitlines()
        assert lines
        for line in lines:
            x1, y1, x2, y2, conf, cls = line.split(",")
            assert 0 <= float(conf) <= 1 and 1 <= int(cls) <= 6
            assert int(x2) > int(x1) and int(y2) > int(y1)


def test_bench_perturbed_and_good_parts(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "p"
    assert main(["bench", "deeppcb", str(folder), "--out", str(out), "--quiet", "--perturb",
                 "--good-parts", "--limit", "2"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["pairs"] == 2 and s["perturbation"]["max_shift_px"] == 8.0
    assert s["roi_margin_px"] > 8
    assert "clean" in s and s["good_parts"]["checked"] == 2
    assert s["good_parts"]["false_rejects"] == 0
    assert (out / "clean" / "99000000.txt").exists() and (out / "good" / "99000001.txt").exists()


def test_splits_partition_the_pairs(tmp_path: Path) -> None:
    folder = make_deeppcb_folder(tmp_path / "d", n=10, shape=(64, 64))
    ids = {p.id for p in load_pairs(folder)}
    train = {p.id for p in load_pairs(folder, split="train")}
    val = {p.id for p in load_pairs(folder, split="val")}
    assert train | val == ids and not train & val and len(val) == 2


def test_bad_folders_and_truth(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_pairs(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError):
        load_pairs(tmp_path / "empty")
    bad = tmp_path / "bad.txt"
    bad.write_text("1 2 3\n")
    with pytest.raises(ConfigError):
        read_truth(bad)
