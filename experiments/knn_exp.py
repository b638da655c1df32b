# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Issue 12, round 5: a patch's anomaly as the mean distance to its k nearest bank entries (k = 1, the
product, 3, 9), the product's bank recomputed on the cached features (``aug_exp.bank``), coreset seeds
0 and 1, validation fold only.

usage: SYNTH_CACHE=CACHE .venv/bin/python experiments/knn_exp.py
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np
from aug_exp import bank
from flow_exp import evaluate, load_fold

fold, items, fit, cal, test, data = load_fold(None)
orig = [data[i]["feats"].reshape(-1, 232) for i in fit]
for seed in (0, 1):
    mean, comp, b = bank(orig, orig, 200_000, 5000, seed)
    bsq = (b * b).sum(1)
    maps: dict[int, dict[int, np.ndarray]] = {k: {} for k in (1, 3, 9)}
    for i in list(test) + list(cal):
        f = data[i]["feats"]
        x = (f.reshape(-1, 232) - mean) @ comp
        d = np.sqrt(np.maximum((x * x).sum(1)[:, None] - 2 * x @ b.T + bsq[None], 0))
        part = np.partition(d, 9, axis=1)[:, :10]
        part.sort(1)
        for k in maps:
            maps[k][i] = part[:, :k].mean(1).reshape(f.shape[:2])
    for k, m in maps.items():
        evaluate(f"knn{k}_s{seed}", fold, items, test, cal, m, data, extra={"k": k, "seed": seed})
