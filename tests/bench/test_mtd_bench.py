"""``inspection bench mtd`` and ``mtd-split`` on a tiny synthetic magnetic-tile tree."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspection.bench.mtd import MtdConfig, run, split_folder
from inspection.cli import main
from inspection.errors import ConfigError


def _tile(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    img = rng.normal(90, 6, (h, w))
    img += np.linspace(-10, 10, w)[None, :]  # a light gradient, like the real tiles
    return np.clip(cv2.GaussianBlur(img, (5, 5), 0), 0, 255).astype(np.uint8)


def _write_tree(root: Path, *, goods: int = 14, bads: int = 4) -> None:
    rng = np.random.default_rng(0)
    for folder, n, defect in (("MT_Free", goods, False), ("MT_Blowhole", bads, True)):
        d = root / folder
        d.mkdir(parents=True)
        for i in range(n):
            h, w = int(rng.integers(96, 130)), int(rng.integers(96, 160))  # sizes vary
            img = _tile(rng, h, w)
            mask = np.zeros((h, w), np.uint8)
            if defect:
                c = (int(rng.integers(30, w - 30)), int(rng.integers(30, h - 30)))
                cv2.circle(img, c, 7, 15, -1)
                cv2.circle(mask, c, 7, 255, -1)
            stem = f"{'bad' if defect else 'img'}_{i}"  # each tile its own source
            cv2.imwrite(str(d / f"{stem}.jpg"), img)
            cv2.imwrite(str(d / f"{stem}.png"), mask)


def block_features(image: np.ndarray) -> np.ndarray:
    f = image.astype(np.float32)
    h, w = f.shape[0] // 8, f.shape[1] // 8
    b = f[: h * 8, : w * 8].reshape(h, 8, w, 8)
    return np.stack([b.mean((1, 3)), b.std((1, 3))], -1)


def test_split_is_seeded_disjoint_and_complete(tmp_path):
    src = tmp_path / "mtd"
    _write_tree(src)
    counts = split_folder(src, tmp_path / "a", train_share=0.5, seed=4)
    split_folder(src, tmp_path / "b", train_share=0.5, seed=4)
    assert counts == {"train": 7, "test": 11, "unused": 0}
    train = sorted(p.name for p in (tmp_path / "a/train/MT_Free").glob("*.jpg"))
    assert train == sorted(p.name for p in (tmp_path / "b/train/MT_Free").glob("*.jpg"))
    test_free = {p.name for p in (tmp_path / "a/test/MT_Free").glob("*.jpg")}
    assert not test_free & set(train) and len(test_free) + len(train) == 14
    assert len(list((tmp_path / "a/test/MT_Blowhole").glob("*.png"))) == 4  # masks come along
    assert not (tmp_path / "a/train/MT_Blowhole").exists()
    with pytest.raises(ConfigError):
        split_folder(src, tmp_path / "a")  # refuses to overwrite a split


def test_split_keeps_every_source_on_one_side(tmp_path):
    src = tmp_path / "mtd"
    rng = np.random.default_rng(1)
    for folder, names in (("MT_Free", [f"exp{s}_num_{i}" for s in range(1, 6) for i in range(4)]),
                          ("MT_Crack", [f"exp{s}_num_{100 + s}" for s in range(1, 6)])):
        (src / folder).mkdir(parents=True)
        for n in names:
            cv2.imwrite(str(src / folder / f"{n}.jpg"), _tile(rng, 64, 64))
    counts = split_folder(src, tmp_path / "s", train_share=0.4, seed=0)
    train = {p.name.split("_")[0] for p in (tmp_path / "s/train").rglob("*.jpg")}
    test = {p.name.split("_")[0] for p in (tmp_path / "s/test").rglob("*.jpg")}
    assert len(train) == 2 and not train & test and train | test == {f"exp{s}" for s in range(1, 6)}
    assert counts == {"train": 8, "test": 15, "unused": 2}  # the 2 cracks of training sources


def test_bench_scores_every_test_image_and_summarises(tmp_path):
    src = tmp_path / "mtd"
    _write_tree(src)
    split_folder(src, tmp_path / "split", train_share=0.5, seed=0)
    out = tmp_path / "out"
    cfg = MtdConfig(tmp_path / "split/train/MT_Free", tmp_path / "split/test", out, short_side=96,
                    bank_size=300, top_k=3, frr=0.0, progress=False)
    summary = run(cfg, block_features, extractor="blocks")
    with (out / "scores.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 11 and {r["path"].split("/")[0] for r in rows} == {"MT_Free", "MT_Blowhole"}
    assert all(not r["path"].startswith("/") for r in rows)
    saved = json.loads((out / "summary.json").read_text())
    assert saved["image_auroc"] == summary["image_auroc"]
    assert summary["image_auroc"] > 0.9  # dark blobs on a smooth texture are easy
    assert summary["folders"]["MT_Blowhole"]["image_auroc"] == summary["image_auroc"]
    assert 0.5 < summary["pixel_auroc"] <= 1.0
    # the map the station shows: its pixel AUROC, and whether its hottest point lies on each blob
    assert 0.5 < summary["pixel_auroc_station"] <= 1.0
    point = summary["pointing"]
    n_bad = sum(r["path"].startswith("MT_Blowhole/") for r in rows)
    assert point["defective"] == n_bad and point["per_defect"] == {"MT_Blowhole": [point["hits"], n_bad]}
    assert point["hits"] >= n_bad - 1
    assert summary["ms_per_image"]["median"] > 0 and (out / "goodset_model.npz").is_file()


def test_bench_refuses_training_images_among_the_test_images(tmp_path):
    src = tmp_path / "mtd"
    _write_tree(src, goods=4, bads=1)
    cfg = MtdConfig(src / "MT_Free", src, tmp_path / "out", progress=False)
    with pytest.raises(ConfigError, match="also training images"):
        run(cfg, block_features, extractor="blocks")


def test_cli_with_the_shipped_extractor(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    src = tmp_path / "mtd"
    _write_tree(src, goods=8, bads=2)
    assert main(["bench", "mtd-split", str(src), "--out", str(tmp_path / "s")]) == 0
    rc = main(["bench", "mtd", "--train", str(tmp_path / "s/train/MT_Free"), "--test",
               str(tmp_path / "s/test"), "--out", str(tmp_path / "o"), "--short-side", "96",
               "--bank-size", "200", "--top-k", "3", "--quiet", "--device", "cpu"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "image AUROC" in printed and "CPUExecutionProvider" in printed
    summary = json.loads((tmp_path / "o/summary.json").read_text())
    assert summary["providers"] == ["CPUExecutionProvider"] and summary["test_images"] == 5
    assert main(["bench", "mtd", "--train", str(tmp_path / "nope"), "--test", str(tmp_path / "s/test"),
                 "--out", str(tmp_path / "o2")]) == 2
