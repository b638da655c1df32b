# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Issue 12, round 5: density-aware nearest-neighbour scores (LOF-like) on the cached Lite0 features.

The product's bank (``aug_exp.bank``, coreset seeds as given), a patch's distance to its nearest
bank entry divided by (or less) that entry's own distance to its nearest / 3 nearest other bank
entries, and the smallest ratio over the bank. Validation fold (exp1) only.

usage: .venv/bin/python experiments/density_exp.py [FOLD [SEEDS...]]   (SYNTH_CACHE: the cache)
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
import sys

import numpy as np
from aug_exp import bank
from flow_exp import evaluate, load_fold

fold_arg = None if len(sys.argv) < 2 else int(sys.argv[1])
seeds = [0, 1] if len(sys.argv) < 3 else [int(s) for s in sys.argv[2:]]
fold, items, fit, cal, test, data = load_fold(fold_arg)
orig = [data[i]["feats"].reshape(-1, data[i]["feats"].shape[-1]) for i in fit]


def sqd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum((a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None], 0)


for seed in seeds:
    mean, comp, b = bank(orig, orig, 200_000, 5000, seed)
    db = sqd(b, b)
    np.fill_diagonal(db, np.inf)
    kk = np.sort(db, 1)[:, :5]
    r1, r3 = np.sqrt(kk[:, 0]), np.sqrt(kk[:, :3]).mean(1)
    maps = {v: {} for v in ("base", "div_r1", "div_r3", "minus_r1", "min_ratio3")}
    for i in list(test) + list(cal):
        f = data[i]["feats"]
        x = (f.reshape(-1, f.shape[-1]) - mean) @ comp
        d = np.sqrt(sqd(x, b))
        j = d.argmin(1)
        d1 = d[np.arange(len(j)), j]
        sh = f.shape[:2]
        maps["base"][i] = d1.reshape(sh)
        maps["div_r1"][i] = (d1 / r1[j]).reshape(sh)
        maps["div_r3"][i] = (d1 / r3[j]).reshape(sh)
        maps["minus_r1"][i] = (d1 - r1[j]).reshape(sh)
        maps["min_ratio3"][i] = (d / r3[None]).min(1).reshape(sh)
    for v, m in maps.items():
        evaluate(f"density_{v}_s{seed}", fold, items, test, cal, m, data, extra={"seed": seed, "variant": v})
