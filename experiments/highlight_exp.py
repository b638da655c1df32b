# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Issue 12, round 6: over-lit parts. Part of MTD's good tiles (mostly run exp6) have clipped
highlights (up to 27% of their pixels at 255); the bank has seen few such patches and the anomaly
map is hot exactly there. Does teaching every tile also over-lit (brightened until a seeded 2-30%
of its pixels saturate) help without hurting?

The validation fold (exp1) has no clipped tiles, so it is scored twice: as it is, and over-lit
(every test tile brightened until a seeded 2-20% of its pixels saturate, another seed than the
copies'), the threshold from held-out good tiles as they are (a line taught under its usual light).
Held-out protocol (``flow_exp.load_fold``), scored as the product scores since round 6 (bank top-50,
image-level term, prior; ``prior_exp.py``). Over-lit features are extracted with the product's
extractor and cached in CACHE/overlit/.

usage: SYNTH_CACHE=CACHE .venv/bin/python experiments/highlight_exp.py DATA [FOLD [SEEDS...]]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import json
import sys
from pathlib import Path

import cv2
import numpy as np
from aug_exp import bank
from flow_exp import CACHE, GOOD, top_k
from prior_exp import load_terms, result_row

from inspection.imageio import read_image
from inspection.vision.goodset import feature_extractors, prepare_image, threshold_at_frr
from inspection.vision.memory_bank import nearest_distances

cv2.setNumThreads(1)


def brighten_to_clip(image: np.ndarray, share: float) -> np.ndarray:
    """Brightened (gain, clipped at 255) until about ``share`` of the pixels saturate. (The product's
    ``goodset.brighten_to_clip``, written after this run, floors where this rounds: a level just
    under the clip level saturates here, not there; the cached features are this function's.)"""
    level = float(np.percentile(image, 100.0 * (1.0 - share)))
    gain = max(1.0, 255.0 / max(level, 1.0))
    return np.clip(image.astype(np.float32) * gain, 0, 255).round().astype(np.uint8)


def main() -> None:
    data_dir = Path(sys.argv[1])
    fold_arg = None if len(sys.argv) < 3 else int(sys.argv[2])
    seeds = [0, 1] if len(sys.argv) < 4 else [int(s) for s in sys.argv[3:]]
    f = load_terms(fold_arg)
    fold, items, fit, cal, test, data = f.fold, f.items, f.fit, f.cal, f.test, f.data
    out = CACHE / "overlit"
    out.mkdir(exist_ok=True)
    extract = feature_extractors.create("effnet-lite0", threads=1, device="cpu", precision="fp32")
    copy_share = dict(zip(fit, np.random.default_rng([0, 1]).uniform(0.02, 0.30, len(fit)), strict=True))
    test_share = dict(zip(test, np.random.default_rng([0, 2]).uniform(0.02, 0.20, len(test)), strict=True))

    def overlit(i: int, share: float, tag: str) -> np.ndarray:
        p = out / f"{i}_{tag}.npy"
        if not p.exists():
            img = brighten_to_clip(read_image(data_dir / items[i]["path"]), share)
            np.save(p, extract(prepare_image(img, 224, "percentile")).astype(np.float16))
        return np.load(p).astype(np.float32)

    copies = {i: overlit(i, copy_share[i], "copy") for i in fit}
    lit = {i: overlit(i, test_share[i], "test") for i in test}
    orig = [data[i]["feats"].reshape(-1, 232) for i in fit]
    extra = [copies[i].reshape(-1, 232) for i in fit]

    def desc(feats: np.ndarray) -> np.ndarray:
        rows = feats.reshape(-1, 232)[:, 120:232]
        return np.concatenate([rows.mean(0), rows.std(0)])

    fits = np.stack([desc(data[i]["feats"]) for i in fit])
    mu, sd = fits.mean(0), fits.std(0) + 1e-6
    fz = (fits - mu) / sd
    cz, ct = f.cal_z, f.cal_dist
    dc = np.sqrt(((cz[:, None] - cz[None]) ** 2).sum(-1))
    np.fill_diagonal(dc, np.inf)
    nc = np.argsort(dc, 1)[:, :3]
    good = np.array([items[i]["folder"] == GOOD for i in test])

    for seed in seeds:
        for variant, pool in (("bank as taught", orig), ("bank with over-lit copies", orig + extra)):
            mean, comp, b = bank(pool, orig, 200_000, 5000, seed)

            def score_map(feats: np.ndarray, m: np.ndarray = mean, c: np.ndarray = comp, bk: np.ndarray = b) -> float:
                return top_k(nearest_distances((feats.reshape(-1, 232) - m) @ c, bk).reshape(feats.shape[:2]))

            cs = np.array([score_map(data[i]["feats"]) for i in cal])
            c = (cs - cs.mean()) / cs.std() + (ct - ct.mean()) / ct.std()
            thr = threshold_at_frr(c - 0.5 * c[nc].mean(1), 0.01)
            for condition, feats in (("as is", {i: data[i]["feats"] for i in test}), ("over-lit", lit)):
                tz = (np.stack([desc(feats[i]) for i in test]) - mu) / sd
                tt = np.sort(np.sqrt(((tz[:, None, :] - fz[None]) ** 2).sum(-1)), 1)[:, :3].mean(1)
                nt = np.argsort(np.sqrt(((tz[:, None] - cz[None]) ** 2).sum(-1)), 1)[:, :3]
                ts = np.array([score_map(feats[i]) for i in test])
                s = (ts - cs.mean()) / cs.std() + (tt - ct.mean()) / ct.std() - 0.5 * c[nt].mean(1)
                row = result_row(s, good, thr, fold=fold, seed=seed, bank=variant, test=condition)
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
