# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Issue 12, round 7: image-score variants on the round-6 model, validation fold (exp1).

Held-out protocol (``flow_exp.load_fold``), the bank taught as the product since round 6 (fit tiles
plus their over-lit copies from ``highlight_exp.py``'s cache, PCA 64, coreset 5,000 from a 200,000-patch
sample), the round-6 score (bank top-50 + image-level term - prior) against variants of the patch part:
the map smoothed before the top-50 (spatially coherent anomalies over isolated hot cells), and the
top-50 corrected for the tile's size (held-out scores regressed on log(cells)).

usage: SYNTH_CACHE=CACHE .venv/bin/python experiments/score_exp.py [--fold F] [--seeds S..]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
from flow_exp import CACHE, GOOD, top_k
from prior_exp import load_terms, result_row

from inspection.vision.goodset import threshold_at_frr
from inspection.vision.memory_bank import coreset, fit_projection, nearest_distances

cv2.setNumThreads(1)
RESULTS = Path(__file__).resolve().parent / "results" / "score.jsonl"


def maps_for(f, seed: int) -> dict[int, np.ndarray]:
    p = CACHE / f"maps_r7_s{seed}_fold{f.fold}.npz"
    if p.exists():
        z = np.load(p)
        return {int(k): z[k] for k in z.files}
    orig = [f.data[i]["feats"].reshape(-1, 232) for i in f.fit]
    extra = [np.load(CACHE / "overlit" / f"{i}_copy.npy").astype(np.float32).reshape(-1, 232) for i in f.fit]
    mean, comp = fit_projection(np.concatenate(orig), 64, seed=0)
    pool = np.concatenate(orig + extra)
    pool = pool[np.random.default_rng(seed).choice(pool.shape[0], 200_000, replace=False)]
    pool = (pool - mean) @ comp
    b = np.ascontiguousarray(pool[coreset(pool, 5000, seed=seed)])
    out = {}
    for i in list(f.cal) + list(f.test):
        x = f.data[i]["feats"]
        out[i] = nearest_distances((x.reshape(-1, 232) - mean) @ comp, b).reshape(x.shape[:2])
    np.savez_compressed(p, **{str(i): m for i, m in out.items()})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fold", type=int, default=None)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    f = load_terms(args.fold)
    cz, ct = f.cal_z, f.cal_dist
    dc = np.sqrt(((cz[:, None] - cz[None]) ** 2).sum(-1))
    np.fill_diagonal(dc, np.inf)
    nc = np.argsort(dc, 1)[:, :3]
    nt = np.argsort(np.sqrt(((f.test_z[:, None] - cz[None]) ** 2).sum(-1)), 1)[:, :3]
    good = np.array([f.items[i]["folder"] == GOOD for i in f.test])
    for seed in args.seeds:
        maps = maps_for(f, seed)

        def run(label: str, patch_score, size_fix: bool = False, maps: dict = maps, seed: int = seed,
                **kw) -> None:
            cs = np.array([patch_score(maps[i]) for i in f.cal])
            ts = np.array([patch_score(maps[i]) for i in f.test])
            if size_fix:
                cn = np.log([maps[i].size for i in f.cal])
                tn = np.log([maps[i].size for i in f.test])
                beta = np.polyfit(cn, cs, 1)[0]
                cs, ts = cs - beta * cn, ts - beta * tn
                kw["beta"] = round(float(beta), 3)
            c = (cs - cs.mean()) / cs.std() + (ct - ct.mean()) / ct.std()
            thr = threshold_at_frr(c - 0.5 * c[nc].mean(1), 0.01)
            s = (ts - cs.mean()) / cs.std() + (f.test_dist - ct.mean()) / ct.std() - 0.5 * c[nt].mean(1)
            row = result_row(s, good, thr, fold=f.fold, seed=seed, variant=label, **kw)
            print(json.dumps(row), flush=True)
            with RESULTS.open("a") as fh:
                fh.write(json.dumps(row) + "\n")

        run("round 6", top_k)
        run("size-corrected", top_k, size_fix=True)
        for s in (0.5, 1.0, 1.5):
            run(f"smoothed {s} cells", lambda m, s=s: top_k(cv2.GaussianBlur(m.astype(np.float32), (0, 0), s)))
        for k in (10, 25):
            run(f"smoothed 1 cell, top-{k}",
                lambda m, k=k: top_k(cv2.GaussianBlur(m.astype(np.float32), (0, 0), 1.0), k))


if __name__ == "__main__":
    main()
