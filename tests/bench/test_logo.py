"""Leave-one-group-out split of the DeepPCB bench: groups, folds, per-group figures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from inspection.bench.deeppcb_data import group_of, list_groups, load_pairs
from inspection.cli import main
from tests.helpers import make_deeppcb_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four pairs: two of group 99000, two copied as group 88000."""
    root = make_deeppcb_folder(tmp_path_factory.mktemp("logo"), n=2, shape=(192, 192))
    ids = [line for line in (root / "index.txt").read_text().split() if line]
    for pid in list(ids):
        new = "88000" + pid[5:]
        for suffix in ("_temp.jpg", "_test.jpg", ".txt"):
            shutil.copy(root / f"{pid}{suffix}", root / f"{new}{suffix}")
        ids.append(new)
    (root / "index.txt").write_text("\n".join(ids) + "\n")
    return root


def test_groups_and_exclusion(folder: Path) -> None:
    assert group_of("20085123") == "20085"
    assert list_groups(folder) == ["88000", "99000"]
    assert {p.id[:5] for p in load_pairs(folder, exclude_groups=("99000",))} == {"88000"}
    assert {p.id[:5] for p in load_pairs(folder, groups=("99000",))} == {"99000"}
    assert len(load_pairs(folder, split="logo")) == 4


def test_logo_bench_reports_groups_and_marks_shared_models(folder: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "o"
    assert main(["bench", "deeppcb", str(folder), "--out", str(out), "--detector", "classical",
                 "--quiet"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["split"] == "logo" and set(s["groups"]) == {"88000", "99000"}
    assert s["all_groups_held_out"] is False
    assert sum(g["pairs"] for g in s["groups"].values()) == 4
    n_gt = sum(g["class_agnostic"]["ground_truth"] for g in s["groups"].values())
    assert n_gt == s["class_agnostic"]["ground_truth"]
    assert "per_class" in s["class_aware"]
    table = capsys.readouterr().out
    assert "pooled" in table and "NO" in table


def test_logo_bench_uses_fold_models(folder: Path, tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parents[2] / "inspection" / "models" / "deeppcb_scorer.json"
    folds = tmp_path / "folds"
    for g in ("88000", "99000"):
        (folds / f"wo{g}").mkdir(parents=True)
        shutil.copy(shipped, folds / f"wo{g}" / "deeppcb_scorer.json")
    out = tmp_path / "o2"
    assert main(["bench", "deeppcb", str(folder), "--out", str(out), "--detector", "classical",
                 "--fold-models", str(folds), "--quiet"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["all_groups_held_out"] is True
    assert all(g["held_out"] for g in s["groups"].values())


def test_logo_bench_passes_the_typing_options_to_every_fold_model(folder: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    shipped = Path(__file__).resolve().parents[2] / "plugins" / "detectors" / "models" / "deeppcb_cnn_fast.onnx"
    folds = tmp_path / "folds"
    for g in ("88000", "99000"):
        (folds / f"wo{g}").mkdir(parents=True)
        shutil.copy(shipped, folds / f"wo{g}" / "pcb-cnn-fast.onnx")
    for typing in ("cnn", "topology"):
        out = tmp_path / typing
        assert main(["bench", "deeppcb", str(folder), "--out", str(out), "--detector", "pcb-cnn-fast",
                     "--device", "cpu", "--fold-models", str(folds), "--typing", typing, "--quiet"]) == 0
        s = json.loads((out / "summary.json").read_text())
        assert s["typing"] == typing and s["all_groups_held_out"] is True
        assert {g["typing"] for g in s["folds"].values()} == {typing}
        assert {g["tta"] for g in s["folds"].values()} == {False}
    # without --typing the detector's own default (topology for pcb-cnn-fast)
    out = tmp_path / "default"
    assert main(["bench", "deeppcb", str(folder), "--out", str(out), "--detector", "pcb-cnn-fast",
                 "--device", "cpu", "--fold-models", str(folds), "--quiet"]) == 0
    assert {g["typing"] for g in json.loads((out / "summary.json").read_text())["folds"].values()} == {"topology"}
    out = tmp_path / "tta"
    assert main(["bench", "deeppcb", str(folder), "--out", str(out), "--detector", "pcb-cnn-fast",
                 "--device", "cpu", "--fold-models", str(folds), "--tta", "--quiet"]) == 0
    assert {g["tta"] for g in json.loads((out / "summary.json").read_text())["folds"].values()} == {True}
    assert main(["bench", "deeppcb", str(folder), "--out", str(tmp_path / "x"), "--detector", "classical",
                 "--typing", "cnn", "--quiet"]) == 2
