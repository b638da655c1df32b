"""``inspection bench mtd``: good-set mode on magnetic-tile-like folders.

Teaches a good-set model from GOOD_DIR (good images only), scores every ``*.jpg`` under TEST_DIR
(sub-folders; the good one is named by ``good_folder``), and writes OUT/scores.csv (``path,score``,
higher = more anomalous), OUT/summary.json (image AUROC overall and per defect folder, pixel AUROC
where ``*.png`` masks lie beside the images, the threshold's false-reject/accept rates, ms per image)
and prints a table. :func:`split_folder` builds a seeded train/test split of a dataset folder with
symlinks, by source image (tiles cropped from one source never sit on both sides), so the good
images taught from are never scored.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from inspection.bench.mtd_kfold import POINTING_TOLERANCE, SOURCE_PATTERN, points_at, source_of
from inspection.errors import ConfigError
from inspection.imageio import read_image
from inspection.progress import Progress
from inspection.vision.goodset import (
    BANK_KNN,
    HIGHLIGHTS,
    TILE_KNN,
    TILE_PRIOR,
    TILE_PRIOR_KNN,
    TILE_ROWS,
    TILE_WEIGHT,
    FeatureFn,
    GoodSetModel,
    auroc,
    pixel_map,
    teach,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MtdConfig:
    train: Path
    test: Path
    out: Path
    good_folder: str = "MT_Free"
    short_side: int = 224
    bank_size: int = 5000
    dims: int = 64
    top_k: int = 50
    calibration_share: float = 0.1
    folds: int = 5  # >= 2: k-fold calibration; 0: a held-out share
    frr: float = 0.01
    threshold_rule: str = "empirical"  # see goodset.threshold_for
    scales: tuple[tuple[int, int], ...] | None = None  # see goodset.teach
    tile_knn: int = TILE_KNN  # see goodset.teach (0: the patches' score alone)
    tile_prior: float = TILE_PRIOR  # see goodset.teach (0: none)
    tile_prior_knn: int = TILE_PRIOR_KNN
    tile_weight: float = TILE_WEIGHT  # see goodset.teach
    highlights: float = HIGHLIGHTS  # see goodset.teach (0: off)
    bank_knn: int = BANK_KNN  # see goodset.teach (0: one coreset bank of all taught patches)
    tile_rows: int = TILE_ROWS
    seed: int = 0
    threads: int = 1
    pixel_step: int = 4  # pixel AUROC on every n-th pixel of each row/column
    progress: bool = True


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.jpg") if p.is_file() or p.is_symlink())


def run(cfg: MtdConfig, extract: FeatureFn, *, extractor: str, info: dict[str, object] | None = None,
        on_image: Callable[[str], None] | None = None) -> dict[str, object]:
    """Teach, score, write OUT/scores.csv and OUT/summary.json (``info`` is added to the summary)."""
    cv2.setNumThreads(cfg.threads)
    for folder, what in ((cfg.train, "GOOD_DIR"), (cfg.test, "TEST_DIR")):
        if not folder.is_dir():
            raise ConfigError(f"{folder} is not a folder", field=what)
    train_files = _images(cfg.train)
    test_files = _images(cfg.test)
    if len(train_files) < 2:
        raise ConfigError(f"{cfg.train} holds {len(train_files)} *.jpg images; need at least 2",
                          field="GOOD_DIR")
    if not test_files:
        raise ConfigError(f"{cfg.test} holds no *.jpg images", field="TEST_DIR")
    overlap = {p.resolve() for p in train_files} & {p.resolve() for p in test_files}
    if overlap:
        raise ConfigError(f"{len(overlap)} test image(s) are also training images (e.g. "
                          f"{sorted(overlap)[0]}): split the data first (inspection bench mtd-split)",
                          field="TEST_DIR")
    cfg.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model = teach([read_image(p) for p in train_files], extract, extractor=extractor,
                  short_side=cfg.short_side, bank_size=cfg.bank_size, dims=cfg.dims, top_k=cfg.top_k,
                  calibration_share=cfg.calibration_share, folds=cfg.folds, frr=cfg.frr, seed=cfg.seed,
                  threshold_rule=cfg.threshold_rule, scales=cfg.scales, tile_knn=cfg.tile_knn,
                  tile_prior=cfg.tile_prior, tile_prior_knn=cfg.tile_prior_knn, tile_weight=cfg.tile_weight,
                  highlights=cfg.highlights, bank_knn=cfg.bank_knn, tile_rows=cfg.tile_rows,
                  progress=cfg.progress)
    teach_s = time.perf_counter() - t0
    model.save(cfg.out / "goodset_model.npz")
    rows: list[tuple[str, float]] = []
    folders: list[str] = []
    ms: list[float] = []
    pix_scores: list[np.ndarray] = []
    pix_labels: list[np.ndarray] = []
    pix_shown: list[np.ndarray] = []  # the map the station shows (display_map, the detector's blur)
    pointing: dict[str, list[int]] = {}  # defect folder -> [the shown map points at it, tiles]
    bar = Progress(len(test_files), "score", enabled=cfg.progress)
    for path in test_files:
        image = read_image(path)
        t1 = time.perf_counter()
        amap, score = model.score(image, extract)
        ms.append((time.perf_counter() - t1) * 1e3)
        rel = path.relative_to(cfg.test).as_posix()
        rows.append((rel, score))
        folders.append(rel.split("/")[0] if "/" in rel else ".")
        mask_path = path.with_suffix(".png")
        if mask_path.is_file():
            full = model.heat_map(amap, image.shape[:2])
            mask = read_image(mask_path) > 127
            s = cfg.pixel_step
            shown = pixel_map(model.display_map(amap), image.shape[:2])
            pix_scores.append(full[::s, ::s].ravel())
            pix_labels.append(mask[::s, ::s].ravel())
            pix_shown.append(shown[::s, ::s].ravel())
            kind = folders[-1]
            if kind != cfg.good_folder and mask.any():
                tally = pointing.setdefault(kind, [0, 0])
                tally[0] += points_at(shown, mask)
                tally[1] += 1
        if on_image:
            on_image(rel)
        bar.update()
    with (cfg.out / "scores.csv").open("w") as fh:
        fh.write("path,score\n")
        for rel, score in rows:
            fh.write(f"{rel},{score:.6f}\n")
    summary = _summary(cfg, model, rows, folders, ms, pix_scores, pix_labels, extractor, teach_s,
                       len(train_files))
    if pix_shown and np.concatenate(pix_labels).any():
        summary["pixel_auroc_station"] = auroc(np.concatenate(pix_shown), np.concatenate(pix_labels))
    if pointing:
        hits, n = sum(t[0] for t in pointing.values()), sum(t[1] for t in pointing.values())
        summary["pointing"] = {"tolerance_px": POINTING_TOLERANCE, "hits": hits, "defective": n,
                               "rate": hits / n, "per_defect": {k: pointing[k] for k in sorted(pointing)}}
    summary.update(info or {})
    summary["calibration"] = (f"{cfg.folds}-fold" if cfg.folds >= 2
                              else f"held-out {cfg.calibration_share:.0%}")
    (cfg.out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _summary(cfg: MtdConfig, model: GoodSetModel, rows: list[tuple[str, float]], folders: list[str],
             ms: list[float], pix_scores: list[np.ndarray], pix_labels: list[np.ndarray],
             extractor: str, teach_s: float, n_train: int) -> dict[str, object]:
    scores = np.array([s for _, s in rows])
    folder_arr = np.array(folders)
    good = folder_arr == cfg.good_folder
    per_folder: dict[str, dict[str, float | int]] = {}
    for name in sorted(set(folders)):
        sel = folder_arr == name
        entry: dict[str, float | int] = {"images": int(sel.sum()),
                                         "rejected": int((scores[sel] > model.threshold).sum())}
        if name != cfg.good_folder and good.any():
            both = sel | good
            entry["image_auroc"] = auroc(scores[both], ~good[both])
        per_folder[name] = entry
    summary: dict[str, object] = {
        "train": str(cfg.train), "test": str(cfg.test), "train_images": n_train,
        "test_images": len(rows), "good_folder": cfg.good_folder, "extractor": extractor,
        "short_side": cfg.short_side, "bank_size": int(model.bank.shape[0]),
        "dims": int(model.bank.shape[1]), "top_k": model.top_k, "contrast": model.contrast,
        "calibration_images": int(model.calibration_scores.size), "seed": cfg.seed,
        "threads": cfg.threads, "threshold": model.threshold, "target_frr": cfg.frr,
        "threshold_rule": model.threshold_rule, "bank_knn": model.bank_knn, "tile_rows": model.tile_rows,
        "image_auroc": auroc(scores, ~good) if good.any() and (~good).any() else None,
        "folders": per_folder, "teach_seconds": teach_s,
        "ms_per_image": {"median": float(np.median(ms)), "p95": float(np.percentile(ms, 95)),
                         "mean": float(np.mean(ms))},
    }
    if good.any():
        summary["false_reject_rate"] = float((scores[good] > model.threshold).mean())
    if (~good).any():
        summary["defect_detection_rate"] = float((scores[~good] > model.threshold).mean())
    if pix_scores:
        ps, pl = np.concatenate(pix_scores), np.concatenate(pix_labels)
        summary["pixel_auroc"] = auroc(ps, pl) if pl.any() else None
    return summary


def format_table(summary: dict[str, object]) -> str:
    rows: list[tuple[str, str]] = [
        ("train / test images", f"{summary['train_images']} / {summary['test_images']}"),
        ("extractor, short side, bank x dims, top-k", f"{summary['extractor']}, {summary['short_side']} px, "
         f"{summary['bank_size']} x {summary['dims']}, {summary['top_k']}"),
    ]
    auc = summary.get("image_auroc")
    rows.append(("image AUROC (all)", "n/a" if auc is None else f"{auc:.4f}"))
    folders = summary["folders"]
    assert isinstance(folders, dict)
    for name, entry in folders.items():
        if "image_auroc" in entry:
            rows.append((f"  {name}", f"AUROC {entry['image_auroc']:.4f}  ({entry['images']} images, "
                         f"{entry['rejected']} rejected)"))
        else:
            rows.append((f"  {name}", f"{entry['images']} images, {entry['rejected']} rejected"))
    pix = summary.get("pixel_auroc")
    if pix is not None:
        rows.append(("pixel AUROC (wide-blur map)", f"{pix:.4f}"))
    shown = summary.get("pixel_auroc_station")
    if shown is not None:
        rows.append(("pixel AUROC (the map the station shows)", f"{shown:.4f}"))
    point = summary.get("pointing")
    if isinstance(point, dict):
        rows.append((f"shown map's hottest point on the defect ({point['tolerance_px']} px)",
                     f"{point['hits']} of {point['defective']} ({point['rate']:.0%})"))
    rows.append(("threshold (target FRR, calibration)", f"{summary['threshold']:.4f} "
                 f"({summary['target_frr']:.1%}, {summary.get('calibration', '?')})"))
    if "false_reject_rate" in summary:
        rows.append(("false rejects of good test images", f"{summary['false_reject_rate']:.2%}"))
    if "defect_detection_rate" in summary:
        rows.append(("defective images rejected", f"{summary['defect_detection_rate']:.2%}"))
    t = summary["ms_per_image"]
    assert isinstance(t, dict)
    rows.append(("ms per image, median / p95", f"{t['median']:.2f} / {t['p95']:.2f} "
                 f"({summary['threads']} thread(s))"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def split_folder(source: Path, out: Path, *, good_folder: str = "MT_Free", train_share: float = 0.6,
                 seed: int = 0, pattern: str = SOURCE_PATTERN) -> dict[str, int]:
    """Seeded split of a dataset folder by source image into OUT/train/<good_folder> and
    OUT/test/<every folder>, as symlinks (masks ``*.png`` go along). Tiles are grouped by source
    (:func:`~inspection.bench.mtd_kfold.source_of` with ``pattern``); whole sources, in seeded
    order, go to training until it holds ``train_share`` of the good images; every tile of the
    other sources is a test tile. Defective tiles of training sources are left out ("unused"):
    crops of one source never sit on both sides. Returns the counts."""
    good_dir = source / good_folder
    if not good_dir.is_dir():
        raise ConfigError(f"{good_dir} is not a folder", field="good_folder")
    if not (0.0 < train_share < 1.0):
        raise ConfigError(f"must be in (0, 1), got {train_share}", field="train_share")
    if (out / "train").exists() or (out / "test").exists():
        raise ConfigError(f"{out} already holds a split; remove it first", field="out")
    goods = sorted(good_dir.glob("*.jpg"))
    groups = sorted({source_of(p.name, pattern) for p in goods})
    per_group = {g: sum(source_of(p.name, pattern) == g for p in goods) for g in groups}
    order = np.random.default_rng(seed).permutation(len(groups))
    want = round(len(goods) * train_share)
    train_groups: set[str] = set()
    n_train = 0
    for i in order:
        if n_train >= want or len(train_groups) == len(groups) - 1:
            break
        train_groups.add(groups[int(i)])
        n_train += per_group[groups[int(i)]]
    counts = {"train": 0, "test": 0, "unused": 0}
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        for img in sorted(folder.glob("*.jpg")):
            in_train_source = source_of(img.name, pattern) in train_groups
            if in_train_source and folder.name != good_folder:
                counts["unused"] += 1
                continue
            part = "train" if in_train_source else "test"
            dst = out / part / folder.name
            dst.mkdir(parents=True, exist_ok=True)
            for f in (img, img.with_suffix(".png")):
                if f.is_file():
                    os.symlink(f.resolve(), dst / f.name)
            counts[part] += 1
    return counts
