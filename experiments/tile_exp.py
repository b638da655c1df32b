# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Issue 12, round 5: an image-level ("tile") term beside the patch memory bank.

A tile's descriptor is the mean and standard deviation, over its patches, of a slice of the cached
Lite0 features (``flow_cache.py``); its distance is the mean distance (standardised by the fit
tiles) to its K nearest fit tiles. Alone, and added to the bank's top-50 image score, both turned
into z-scores by the held-out good tiles (``flow_exp.load_fold``'s split; the bank's maps saved by
``flow_exp.py --model bank`` as maps_bank_fold<F>.npz, or another map set by --maps).

Settings (slice, K, weight) were chosen on the validation fold (exp1, fold 1 of the cache) with
``--search``; the other folds are then run once with the chosen ones.

usage: SYNTH_CACHE=CACHE .venv/bin/python experiments/tile_exp.py --search
       SYNTH_CACHE=CACHE .venv/bin/python experiments/tile_exp.py --folds 0 2 3 4 5 [--weight 1 --k 3]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json

import numpy as np
from flow_exp import CACHE, GOOD, load_fold, top_k

from inspection.vision.goodset import auroc, threshold_at_frr

SLICES = {"all": (0, 232), "b10": (120, 232), "b7": (40, 120)}


def descriptor(f: np.ndarray, lo: int, hi: int, stats: str) -> np.ndarray:
    rows = f.reshape(-1, f.shape[-1])[:, lo:hi]
    return rows.mean(0) if stats == "mean" else np.concatenate([rows.mean(0), rows.std(0)])


def run(fold_arg: int | None, maps: str, sl: str, stats: str, k: int, weights: list[float]) -> list[dict]:
    fold, items, fit, cal, test, data = load_fold(fold_arg)
    z = np.load(CACHE / f"maps_{maps}_fold{fold}.npz")
    bank = {int(key): top_k(z[key]) for key in z.files}
    lo, hi = SLICES[sl]
    fits = np.stack([descriptor(data[i]["feats"], lo, hi, stats) for i in fit])
    mu, sd = fits.mean(0), fits.std(0) + 1e-6
    fits = (fits - mu) / sd

    def dist(i: int) -> float:
        d = np.sqrt(((fits - (descriptor(data[i]["feats"], lo, hi, stats) - mu) / sd) ** 2).sum(1))
        return float(np.sort(d)[:k].mean())

    folder = np.array([items[i]["folder"] for i in test])
    good = folder == GOOD
    ts, tc = np.array([dist(i) for i in test]), np.array([dist(i) for i in cal])
    bs, bc = np.array([bank[i] for i in test]), np.array([bank[i] for i in cal])
    out = []
    for w in [0.0, -1.0, *weights]:  # 0: the bank alone; -1: the tile term alone
        if w < 0:
            s, c = ts, tc
        else:
            s = (bs - bc.mean()) / bc.std() + w * (ts - tc.mean()) / tc.std()
            c = (bc - bc.mean()) / bc.std() + w * (tc - tc.mean()) / tc.std()
        thr = threshold_at_frr(c, 0.01)
        row = {"fold": fold, "maps": maps, "slice": sl, "stats": stats, "k": k,
               "weight": "tile alone" if w < 0 else w, "image_auroc": auroc(s, ~good),
               "per_defect_auroc": {n: auroc(s[(folder == n) | good], ~good[(folder == n) | good])
                                    for n in sorted(set(folder) - {GOOD})},
               "defective_rejected": int((s[~good] > thr).sum()), "defective": int((~good).sum()),
               "good_rejected": int((s[good] > thr).sum()), "good": int(good.sum())}
        print(json.dumps({key: (round(v, 4) if isinstance(v, float) else v) for key, v in row.items()
                          if key != "per_defect_auroc"}), flush=True)
        out.append(row)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--search", action="store_true", help="the settings grid on the validation fold")
    ap.add_argument("--folds", type=int, nargs="+", default=[])
    ap.add_argument("--maps", default="bank")
    ap.add_argument("--slice", default="b10", choices=sorted(SLICES))
    ap.add_argument("--stats", default="meanstd", choices=("mean", "meanstd"))
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--weight", type=float, default=1.0)
    args = ap.parse_args()
    if args.search:
        for sl, stats in (("all", "mean"), ("all", "meanstd"), ("b10", "meanstd")):
            run(None, args.maps, sl, stats, args.k, [0.25, 0.5, 1.0])
    for f in args.folds:
        run(f, args.maps, args.slice, args.stats, args.k, [args.weight])


if __name__ == "__main__":
    main()
