"""``inspection bench mtd-kfold``: folds by source image, validation fold apart, on synthetic tiles."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspection.bench.mtd_kfold import KFoldConfig, assign_folds, dataset, points_at, run, source_of
from inspection.errors import ConfigError


def _tile(rng: np.random.Generator, h: int, w: int, level: float) -> np.ndarray:
    img = rng.normal(level, 6, (h, w)) + np.linspace(-10, 10, w)[None, :]
    return np.clip(cv2.GaussianBlur(img, (5, 5), 0), 0, 255).astype(np.uint8)


def _write_tree(root: Path, *, sources: int = 4, goods: int = 5, bads: int = 2) -> None:
    rng = np.random.default_rng(0)
    for s in range(1, sources + 1):
        level = 80 + 5 * s  # tiles of one source look alike
        for folder, n, defect in (("MT_Free", goods, False), ("MT_Blowhole", bads, True)):
            d = root / folder
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                h, w = int(rng.integers(96, 120)), int(rng.integers(96, 140))
                img = _tile(rng, h, w, level)
                mask = np.zeros((h, w), np.uint8)
                if defect:
                    c = (int(rng.integers(30, w - 30)), int(rng.integers(30, h - 30)))
                    cv2.circle(img, c, 8, 10, -1)
                    cv2.circle(mask, c, 8, 255, -1)
                name = f"exp{s}_num_{1000 * s + i + (500 if defect else 0)}"
                cv2.imwrite(str(d / f"{name}.jpg"), img)
                cv2.imwrite(str(d / f"{name}.png"), mask)


def block_features(image: np.ndarray) -> np.ndarray:
    f = image.astype(np.float32)
    h, w = f.shape[0] // 8, f.shape[1] // 8
    b = f[: h * 8, : w * 8].reshape(h, 8, w, 8)
    return np.stack([b.mean((1, 3)), b.std((1, 3))], -1)


def test_source_of_reads_the_acquisition_prefix():
    assert source_of("exp3_num_12345.jpg") == "exp3"
    assert source_of("MT_Free/exp12_num_1.jpg") == "exp12"
    assert source_of("board_7.jpg") == "board_7"  # no match: its own source
    assert source_of("a-17-x.jpg", r"^a-(\d+)-") == "17"


def test_points_at_asks_whether_the_hottest_pixel_lies_on_the_defect():
    mask = np.zeros((60, 80), bool)
    mask[20:30, 40:50] = True
    heat = np.zeros((60, 80), np.float32)
    heat[25, 45] = 1.0  # on the defect
    assert points_at(heat, mask)
    heat[25, 45], heat[25, 62] = 0.0, 1.0  # 13 px right of it: within 15
    assert points_at(heat, mask) and not points_at(heat, mask, tolerance=10)
    heat[25, 62], heat[55, 5] = 0.0, 1.0  # the far corner
    assert not points_at(heat, mask)
    assert not points_at(heat, np.zeros_like(mask))  # no defect to point at
    with pytest.raises(ValueError, match="differ in size"):
        points_at(heat, mask[:, :70])


def test_assign_folds_keeps_groups_whole_and_balances():
    groups = {"exp0": 1, "exp1": 150, "exp2": 145, "exp3": 135, "exp4": 159, "exp5": 136, "exp6": 134}
    folds = assign_folds(groups, 6)
    assert set(folds.values()) == set(range(6))
    assert assign_folds(groups, 6) == folds  # deterministic
    loads = [sum(n for g, n in groups.items() if folds[g] == f) for f in range(6)]
    assert max(loads) - min(loads) <= 160
    with pytest.raises(ConfigError):
        assign_folds({"a": 1}, 2)
    with pytest.raises(ConfigError):
        assign_folds(groups, 1)


def test_kfold_never_teaches_from_a_test_fold_source(tmp_path):
    src = tmp_path / "mtd"
    _write_tree(src)
    seen: list[dict[str, object]] = []

    def extract(image: np.ndarray) -> np.ndarray:
        return block_features(image)

    cfg = KFoldConfig(src, tmp_path / "out", folds=4, val_source=None, val_fold=0, progress=False,
                      teach_args={"short_side": 96, "bank_size": 50, "dims": 2, "top_k": 3,
                                  "folds": 2})
    items = dataset(cfg)
    fold_sources: dict[int, set[str]] = {}
    for p, _folder, f in items:
        fold_sources.setdefault(f, set()).add(source_of(p.name))
    assert all(len(s) == 1 for s in fold_sources.values())  # 4 sources, 4 folds: one each
    summary = run(cfg, extract, extractor="blocks", on_fold=seen.append)
    assert [f["fold"] for f in seen] == [0, 1, 2, 3]
    for f in seen:
        assert f["train_images"] == 15  # the good tiles of the 3 other sources
        assert f["images"] == 7 and f["good"] == 5 and f["defective"] == 2
        assert set(f["sources"]) == fold_sources[int(f["fold"])]  # type: ignore[call-overload]
        assert 0.0 <= f["image_auroc"] <= 1.0  # type: ignore[operator]
        assert f["pixel_auroc"] is not None
    rep = summary["reported"]
    assert isinstance(rep, dict)
    assert rep["folds"] == [1, 2, 3]  # the validation fold is not in the headline numbers
    assert rep["good"] == 15 and rep["defective"] == 6
    assert summary["validation"]["fold"] == 0  # type: ignore[index]
    assert rep["image_auroc_pooled"] > 0.9  # dark blobs on a smooth texture are easy
    assert all(f["pointing"]["MT_Blowhole"][1] == 2 for f in seen)  # type: ignore[index]
    point = rep["pointing"]
    assert point["defective"] == 6 and point["per_defect"] == {"MT_Blowhole": [point["hits"], 6]}
    assert point["hits"] >= 5  # ... and the map's hottest point lies on them
    with (tmp_path / "out/scores.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 28
    assert json.loads((tmp_path / "out/summary.json").read_text())["folds"] == 4


def test_cli_runs_selected_folds(tmp_path, capsys, monkeypatch):
    from inspection.cli import main
    from inspection.vision import goodset

    src = tmp_path / "mtd"
    _write_tree(src, sources=3)
    monkeypatch.setattr(goodset.feature_extractors, "create", lambda *a, **k: block_features)
    rc = main(["bench", "mtd-kfold", str(src), "--out", str(tmp_path / "o"), "--folds", "3",
               "--val-source", "exp1",
               "--only", "1,2", "--short-side", "96", "--bank-size", "40", "--dims", "2",
               "--top-k", "3", "--calibration-folds", "2", "--heatmaps", "1", "--quiet"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "pooled" in out and "rejected at the threshold" in out
    summary = json.loads((tmp_path / "o/summary.json").read_text())
    assert [f["fold"] for f in summary["per_fold"]] == [1, 2]
    # exp1 .. exp3 hold 7 tiles each: exp1 goes to fold 0, the validation fold, not run here
    assert summary["val_fold"] == 0 and summary["validation"] is None
    assert [f["sources"] for f in summary["per_fold"]] == [["exp2"], ["exp3"]]
    pictures = sorted((tmp_path / "o/heatmaps").glob("*.png"))
    assert [p.name.split("_")[0] for p in pictures] == ["fold1", "fold2"]  # one per fold
    assert cv2.imread(str(pictures[0])).ndim == 3


def test_cli_on_good_tiles_only_prints_the_false_rejects_and_no_detection_rate(tmp_path, capsys, monkeypatch):
    """A tree of good tiles only (how a threshold is checked on runs the model never saw): the table
    says how many good tiles each fold rejects and "-" where there is no defective tile to count."""
    from inspection.cli import main
    from inspection.vision import goodset

    src = tmp_path / "mtd"
    _write_tree(src, sources=3, bads=0)
    monkeypatch.setattr(goodset.feature_extractors, "create", lambda *a, **k: block_features)
    rc = main(["bench", "mtd-kfold", str(src), "--out", str(tmp_path / "o"), "--folds", "3",
               "--val-source", "exp1", "--short-side", "96", "--dims", "2", "--top-k", "3",
               "--bank-knn", "3", "--tile-rows", "20", "--quiet"])
    assert rc == 0
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "o/summary.json").read_text())
    rep = summary["reported"]
    assert rep["defect_detection_rate"] is None and rep["good"] == 10
    assert f"good {rep['false_reject_rate']:.2%} of 10, defective - of 0" in out
    assert all(f["defective"] == 0 and len(f["calibration_scores"]) == 10 for f in summary["per_fold"])


def test_tile_groups_join_the_runs_of_one_physical_tile():
    from inspection.bench.mtd_kfold import tile_groups

    names = ["exp1_num_100.jpg", "exp2_num_120.jpg", "exp3_num_240.jpg", "exp1_num_1000.jpg",
             "exp2_num_1040.jpg", "other.jpg"]
    groups = tile_groups(names)
    assert groups == {"exp1_num_100.jpg": "tile100", "exp2_num_120.jpg": "tile100", "exp3_num_240.jpg": "tile100",
                      "exp1_num_1000.jpg": "tile1000", "exp2_num_1040.jpg": "tile1000", "other.jpg": "other"}
    assert tile_groups(names, gap=100)["exp3_num_240.jpg"] == "tile240"  # 120 -> 240: a new tile


def test_kfold_by_tile_keeps_every_run_of_a_physical_tile_in_one_fold(tmp_path, monkeypatch):
    """MTD images each physical tile in several runs (other light) with nearly the same number: with
    ``--group tile`` all of them land in one fold, so no fold is taught from another light of a tile
    it scores; each fold then holds tiles of every run."""
    summary, fold_of_tile = _kfold_over_runs_of_tiles(tmp_path, monkeypatch, "tile")
    assert summary["group"] == "tile" and summary["val_fold"] == 0
    assert len(fold_of_tile) == 9 and all(len(f) == 1 for f in fold_of_tile.values())
    assert all(f["sources"] == ["exp1", "exp2", "exp3"] for f in summary["per_fold"])


def test_kfold_by_image_deals_every_image_alone(tmp_path, monkeypatch):
    """``--group image``: every image its own group, as a random split of the files. Other lights of a
    scored tile sit in the folds it is taught from (not held-out by tile), every image is scored once,
    and the folds are as even as the images allow."""
    summary, fold_of_tile = _kfold_over_runs_of_tiles(tmp_path, monkeypatch, "image", tiles=10)
    assert summary["group"] == "image" and summary["val_fold"] == 0
    assert len(fold_of_tile) == 10 and sum(len(f) > 1 for f in fold_of_tile.values()) >= 5
    assert [f["good"] + f["defective"] for f in summary["per_fold"]] == [10, 10, 10]


def _kfold_over_runs_of_tiles(tmp_path: Path, monkeypatch, group: str,
                              tiles: int = 9) -> tuple[dict, dict[int, set[str]]]:
    """The k-fold bench (3 folds) over ``tiles`` physical tiles (7 good, the others defective), each
    imaged in runs 1-3 under other light, grouped by ``group``: the summary and the folds every
    physical tile's images landed in."""
    from inspection.cli import main
    from inspection.vision import goodset

    rng = np.random.default_rng(1)
    src = tmp_path / "mtd"
    for folder in ("MT_Free", "MT_Blowhole"):
        (src / folder).mkdir(parents=True)
    for t in range(tiles):
        folder = "MT_Free" if t < 7 else "MT_Blowhole"
        for r in (1, 2, 3):
            img = _tile(rng, 100, 120, 80 + 10 * r)
            mask = np.zeros((100, 120), np.uint8)
            if folder != "MT_Free":
                cv2.circle(img, (60, 50), 8, 10, -1)
                cv2.circle(mask, (60, 50), 8, 255, -1)
            name = f"exp{r}_num_{1000 * (t + 1) + 7 * r}"
            cv2.imwrite(str(src / folder / f"{name}.jpg"), img)
            cv2.imwrite(str(src / folder / f"{name}.png"), mask)
    monkeypatch.setattr(goodset.feature_extractors, "create", lambda *a, **k: block_features)
    rc = main(["bench", "mtd-kfold", str(src), "--out", str(tmp_path / "o"), "--group", group, "--folds", "3",
               "--short-side", "96", "--dims", "2", "--top-k", "3", "--bank-knn", "2", "--tile-rows", "20",
               "--quiet"])
    assert rc == 0
    summary = json.loads((tmp_path / "o/summary.json").read_text())
    with (tmp_path / "o/scores.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 * tiles and len({r["path"] for r in rows}) == 3 * tiles
    fold_of_tile: dict[int, set[str]] = {}
    for r in rows:
        num = int(Path(r["path"]).stem.split("_num_")[1])
        fold_of_tile.setdefault(num // 1000, set()).add(r["fold"])
    return summary, fold_of_tile
