# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Issue 12, round 9: variants of the local bank by physical tile (validation fold 0 only).

The product is taught as the bench teaches it (``inspection bench mtd-kfold --group tile``: local
bank, leave-one-out calibration by tile, image-level term, prior, over-lit copies). Each variant
rebuilds the score from the same pieces: every taught tile's rows (a coreset of ``TILE_ROWS`` of its
projected patches and its copies'), the taught tiles' leave-one-out maps (each against its 10 nearest
*other* physical tiles, as teach calibrates), the term rescaled and the prior recomputed from the
variant's calibration scores, the threshold at 1% of them. The variant "overlit" (the product's
copies) reproduces the model's calibration scores (checked).

Copies (``--copies``, each a list joined by '+'): ``overlit`` (the product's), ``gamma07``/``gamma14``
(grey levels to the power 0.7 / 1.4: another light), ``zoom85`` (the central 85% enlarged: a coarser
grain), ``blur1`` (Gaussian blur of 1 px: focus), ``hflip``, ``vflip``. ``--top-k``: image scores
from the k largest patch anomalies (the product: 50).

usage: (from experiments/) ../.venv/bin/python bytile_exp.py DATA --copies overlit overlit+gamma07+gamma14
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from inspection.bench.mtd_kfold import KFoldConfig, _dataset, tile_groups
from inspection.imageio import read_image
from inspection.vision.goodset import (
    BANK_KNN,
    HIGHLIGHT_MIN,
    HIGHLIGHTS,
    TILE_KNN,
    TILE_PRIOR,
    TILE_PRIOR_KNN,
    TILE_ROWS,
    TILE_WEIGHT,
    GoodSetModel,
    _rows_of,
    auroc,
    brighten_to_clip,
    feature_extractors,
    teach,
    threshold_at_frr,
    tile_descriptor,
)
from inspection.vision.memory_bank import coreset, nearest_distances

RESULTS = Path(__file__).resolve().parent / "results" / "bytile.jsonl"
GOOD = "MT_Free"
KK = max(BANK_KNN, TILE_KNN, TILE_PRIOR_KNN)


def top_k(m: np.ndarray, k: int = 50) -> float:
    f = m.ravel()
    k = min(k, f.size)
    return float(np.partition(f, f.size - k)[f.size - k:].mean())


@dataclass
class Fold:
    fold: int
    model: GoodSetModel
    extract: Callable[[np.ndarray], np.ndarray]
    images: list[np.ndarray]  # taught images, in teach's fit order (the bank's)
    same: list[np.ndarray]  # per taught image: the fit rows of its physical tile
    cal: list[dict]  # per taught image: its pieces (leave-one-out neighbours)
    tst: list[dict]  # per test image: its pieces, "mask", "folder"


def setup(data: Path, fold: int) -> Fold:
    cv2.setNumThreads(1)
    items, _ = _dataset(KFoldConfig(data, Path("/tmp/bytile_exp"), group="tile", val_source=None, val_fold=0))
    tile_of = tile_groups([p.name for p, _, _ in items])
    train = [p for p, folder, f in items if f != fold and folder == GOOD]
    test = [(p, folder) for p, folder, f in items if f == fold]
    extract = feature_extractors.create("effnet-lite0", threads=1, device="cpu", precision="fp32")
    images = [read_image(p) for p in train]
    held: list[tuple[int, float]] = []
    t0 = time.perf_counter()
    model = teach(images, extract, extractor="lite0", folds=5, max_patches=200_000, top_k=50,
                  tile_knn=TILE_KNN, tile_prior=TILE_PRIOR, tile_prior_knn=TILE_PRIOR_KNN,
                  highlights=HIGHLIGHTS, bank_knn=BANK_KNN, tile_rows=TILE_ROWS,
                  groups=[tile_of[p.name] for p in train], held_out=held)
    print(f"taught {len(train)} tiles in {time.perf_counter() - t0:.1f} s", flush=True)
    fit = [i for i, _ in held]  # teach's fit order = the bank's image order
    label = [tile_of[train[i].name] for i in fit]
    same = [np.array([j for j, g in enumerate(label) if g == lab], np.int64) for lab in label]
    f = Fold(fold, model, extract, [images[i] for i in fit], same, [], [])
    t1 = time.perf_counter()
    f.cal = [pieces(f, model.features(im, extract), same[k]) for k, im in enumerate(f.images)]
    for p, folder in test:
        image = read_image(p)
        x = pieces(f, model.features(image, extract), None)
        m = p.with_suffix(".png")
        x["mask"] = (read_image(m) > 127) if m.is_file() else np.zeros(image.shape[:2], bool)
        x["folder"] = folder
        x["path"] = f"{folder}/{p.name}"
        f.tst.append(x)
    print(f"pieces of {len(f.cal)} + {len(f.tst)} tiles in {time.perf_counter() - t1:.1f} s", flush=True)
    return f


def pieces(f: Fold, feats: np.ndarray, exclude: np.ndarray | None) -> dict:
    """An image's projected patches, nearest taught images and local-bank map (the model's rows)."""
    m, t = f.model, f.model.tile
    assert t is not None and m.bank_offsets is not None
    idx, d = t.nearest(tile_descriptor(feats, t.lo, t.hi), exclude=exclude, k=KK)
    h, w, c = feats.shape
    p = ((feats.reshape(-1, c) - m.mean) @ m.components).astype(np.float32)
    local = nearest_distances(p, _rows_of(m.bank, m.bank_offsets, idx[:BANK_KNN])).reshape(h, w)
    return {"local": local, "p": p, "shape": (h, w), "idx": idx, "d": d}


def local_maps(f: Fold, rows: list[np.ndarray], x: dict) -> np.ndarray:
    bank = np.concatenate([rows[j] for j in x["idx"][:BANK_KNN]])
    return nearest_distances(x["p"], bank).reshape(x["shape"])


def product_scores(f: Fold, cmaps: list[np.ndarray], tmaps: list[np.ndarray], *,
                   k: int = 50) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The product's image scores from the maps: the taught tiles' calibration scores, the test
    tiles' scores (both with the image-level term and the prior), and the test tiles' top-k alone."""
    cal, tst = f.cal, f.tst
    cs = np.array([top_k(m, k) for m in cmaps])
    qs = np.array([top_k(m, k) for m in tmaps])
    td = np.array([float(x["d"][:TILE_KNN].mean()) for x in cal])
    qd = np.array([float(x["d"][:TILE_KNN].mean()) for x in tst])
    scale = TILE_WEIGHT * cs.std() / td.std()
    c = cs + scale * (td - td.mean())
    q = qs + scale * (qd - td.mean())
    prior = TILE_PRIOR * (c - c.mean())
    c_adj = c - np.array([prior[x["idx"][:TILE_PRIOR_KNN]].mean() for x in cal])
    q_adj = q - np.array([prior[x["idx"][:TILE_PRIOR_KNN]].mean() for x in tst])
    return c_adj, q_adj, qs


def evaluate(f: Fold, name: str, cmaps: list[np.ndarray], tmaps: list[np.ndarray], *, k: int = 50,
             results: Path = RESULTS, **extra: object) -> dict:
    """The product's score assembled from the maps; one result line (printed and appended)."""
    tst = f.tst
    good = np.array([x["folder"] == GOOD for x in tst])
    folder = np.array([x["folder"] for x in tst])
    c_adj, q_adj, qs = product_scores(f, cmaps, tmaps, k=k)
    thr = threshold_at_frr(c_adj, 0.01)
    g = np.sort(q_adj[good])
    ps, pl = [], []
    for x, m in zip(tst, tmaps, strict=True):
        hgt, wid = x["mask"].shape
        sigma = f.model.map_sigma * hgt / m.shape[0]
        full = cv2.GaussianBlur(cv2.resize(m.astype(np.float32), (wid, hgt), interpolation=cv2.INTER_LINEAR),
                                (0, 0), sigma)
        ps.append(full[::4, ::4].ravel())
        pl.append(x["mask"][::4, ::4].ravel())
    row = {"variant": name, "fold": f.fold, "top_k": k, **extra,
           "auroc": round(auroc(q_adj, ~good), 4),
           "auroc_patches_only": round(auroc(qs, ~good), 4),
           "good_rejected": f"{int((q_adj[good] > thr).sum())}/{int(good.sum())}",
           "defective_rejected": f"{int((q_adj[~good] > thr).sum())}/{int((~good).sum())}",
           "oracle_rec_at_2pct": round(float((q_adj[~good] > g[int(np.ceil(len(g) * 0.98)) - 1]).mean()), 3),
           "pixel_auroc": round(auroc(np.concatenate(ps), np.concatenate(pl)), 4),
           "per_type_auroc": {n: round(auroc(np.concatenate([q_adj[good], q_adj[folder == n]]),
                                             np.r_[np.zeros(good.sum()), np.ones((folder == n).sum())]), 3)
                              for n in sorted(set(folder) - {GOOD})},
           "max_abs_diff_vs_model_calibration": float(np.abs(np.sort(c_adj)
                                                             - np.sort(f.model.calibration_scores)).max())}
    print(json.dumps(row), flush=True)
    with results.open("a") as fh:
        fh.write(json.dumps(row) + "\n")
    return row


def gamma(image: np.ndarray, g: float) -> np.ndarray:
    lut = np.clip(255.0 * (np.arange(256) / 255.0) ** g + 0.5, 0, 255).astype(np.uint8)
    return cv2.LUT(image, lut)


def zoom(image: np.ndarray, share: float) -> np.ndarray:
    h, w = image.shape[:2]
    ch, cw = max(8, round(h * share)), max(8, round(w * share))
    y, x = (h - ch) // 2, (w - cw) // 2
    return cv2.resize(image[y:y + ch, x:x + cw], (w, h), interpolation=cv2.INTER_LINEAR)


def copy_fns(n: int) -> dict[str, Callable[[int, np.ndarray], np.ndarray]]:
    shares = np.random.default_rng([0, 1]).uniform(min(HIGHLIGHT_MIN, HIGHLIGHTS), HIGHLIGHTS, n)  # as teach
    return {
        "overlit": lambda k, im: brighten_to_clip(im, float(shares[k])),
        "gamma07": lambda k, im: gamma(im, 0.7),
        "gamma14": lambda k, im: gamma(im, 1.4),
        "zoom85": lambda k, im: zoom(im, 0.85),
        "blur1": lambda k, im: cv2.GaussianBlur(im, (0, 0), 1.0),
        "hflip": lambda k, im: np.ascontiguousarray(im[:, ::-1]),
        "vflip": lambda k, im: np.ascontiguousarray(im[::-1]),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--copies", nargs="+", default=["overlit"])
    ap.add_argument("--top-k", type=int, nargs="+", default=[50])
    ap.add_argument("--save", type=Path, help="pickle the fold's pieces here (bytile_plot.py reads them)")
    args = ap.parse_args()
    f = setup(args.data, args.fold)
    if args.save:
        with args.save.open("wb") as fh:
            pickle.dump(replace(f, extract=None), fh)
    m = f.model
    fns = copy_fns(len(f.images))
    proj: dict[str, list[np.ndarray]] = {}
    for variant in args.copies:
        for name in [v for v in variant.split("+") if v and v not in proj]:
            t0 = time.perf_counter()
            proj[name] = []
            for k, im in enumerate(f.images):
                x = m.features(fns[name](k, im), f.extract)
                proj[name].append(((x.reshape(-1, x.shape[-1]) - m.mean) @ m.components).astype(np.float32))
            print(f"copies {name}: {time.perf_counter() - t0:.1f} s", flush=True)
        t1 = time.perf_counter()
        rows = []
        for k, x in enumerate(f.cal):
            pool = np.concatenate([x["p"]] + [proj[n][k] for n in variant.split("+") if n])
            r = pool[coreset(pool, TILE_ROWS, seed=k)] if pool.shape[0] > TILE_ROWS else pool
            rows.append(np.ascontiguousarray(r.astype(np.float16).astype(np.float32)))
        cmaps = [local_maps(f, rows, x) for x in f.cal]
        tmaps = [local_maps(f, rows, x) for x in f.tst]
        s = round(time.perf_counter() - t1, 1)
        for k in args.top_k:
            evaluate(f, variant or "none", cmaps, tmaps, k=k, rows_s=s)


if __name__ == "__main__":
    main()
