# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Issue 12, round 12: a dark-structure channel beside the bank's score, by physical tile, every fold.

``pointing_exp.py`` found that the bank's map misses most pores and cracks (unblurred, it points at
31 of 55 pores and 12 of 26 cracks of the reported folds) while the classical black-hat (closing minus
image, 21 px; with the bank's rarity for the rest) points at 40 of 55 and 20 of 26. The bank measures
how far a patch's *texture* is from taught texture; a new physical tile's grain is far from it too, which is what
by-tile validation punishes. A pore or a crack is *dark structure smaller than 21 px*, whatever the
grain. Round 4 added a black-hat spot score to the bank by run and lost (0.945-0.951 against 0.978);
by physical tile, where the bank is at 0.85, it was never tried.

Per fold (the product's pieces from ``mapnorm_exp.py``'s cache): the taught tiles are split by
physical tile into halves A and B (alternate tile groups). The black-hat's rarity tables (per
distance from the side, as ``pointing_exp.darkhat_rarity``) are built from A's images; B's tiles and
the test tiles are scored with them, so no score comes from a table its own image helped build.
The dark score of a tile: the mean of its ``DARK_TOP`` rarest pixels' rarity. Variants:

- ``product``: the product's score (the bank with the image-level term and the prior);
- ``dark``: the dark score alone;
- ``sum``: the product's score and the dark score, each z-scored by B's calibration scores, added;
- ``max``: the larger of the two z-scores (either channel alone can reject).

The threshold of every variant: 1% of B's calibration scores (about 270 tiles).

Rule written before the runs: a variant is taken further only if it beats ``product`` on fold 0's
image AUROC *and* on the reported folds' mean *and* rejects at least as many defective tiles at the
threshold over the reported folds.

usage: (from experiments/) ../.venv/bin/python darkhat_score_exp.py DATA --cache DIR [--folds ...]
Result lines: experiments/results/darkhat_score.jsonl.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bytile_exp import GOOD, product_scores
from mapnorm_exp import load_fold
from pointing_exp import PIXEL_RINGS, Rarity, darkhat, pixel_rings

from inspection.imageio import read_image
from inspection.vision.goodset import auroc, threshold_at_frr

RESULTS = Path(__file__).resolve().parent / "results" / "darkhat_score.jsonl"
K = 21
DARK_TOP = 100  # pixels: about a pore's area at MTD's size


def dark_score(image: np.ndarray, rarity: Rarity) -> float:
    bh = darkhat(image, K)
    r = rarity(bh, pixel_rings(bh.shape)).ravel()
    n = min(DARK_TOP, r.size)
    return float(np.partition(r, r.size - n)[r.size - n:].mean())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    args = ap.parse_args()
    cv2.setNumThreads(1)
    for fold in args.folds:
        f = load_fold(args.data, fold, args.cache)
        # physical tile of every taught image: the smallest index of its group
        group = np.array([int(s.min()) if len(s) else k for k, s in enumerate(f.same)])
        order = {g: i for i, g in enumerate(sorted(set(group.tolist())))}
        half_a = np.array([order[int(g)] % 2 == 0 for g in group])
        per: list[list[np.ndarray]] = [[] for _ in range(len(PIXEL_RINGS) + 1)]
        for k in np.flatnonzero(half_a):
            bh = darkhat(f.images[k], K)
            rings = pixel_rings(bh.shape)
            for r in range(len(per)):
                per[r].append(bh[rings == r][::3])
        rarity = Rarity([np.concatenate(v) for v in per])
        b = np.flatnonzero(~half_a)
        c_dark = np.array([dark_score(f.images[k], rarity) for k in b])
        q_dark = np.array([dark_score(read_image(args.data / x["path"]), rarity) for x in f.tst])
        c_adj, q_adj, _ = product_scores(f, [x["local"] for x in f.cal], [x["local"] for x in f.tst])
        c_prod = c_adj[b]
        good = np.array([x["folder"] == GOOD for x in f.tst])
        folder = np.array([x["folder"] for x in f.tst])

        def z(c: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            mu, sd = float(c.mean()), float(c.std()) or 1.0
            return (c - mu) / sd, (q - mu) / sd

        zc_p, zq_p = z(c_prod, q_adj)
        zc_d, zq_d = z(c_dark, q_dark)
        for name, c, q in (("product", c_prod, q_adj), ("dark", c_dark, q_dark),
                           ("sum", zc_p + zc_d, zq_p + zq_d),
                           ("max", np.maximum(zc_p, zc_d), np.maximum(zq_p, zq_d))):
            thr = threshold_at_frr(c, 0.01)
            g = np.sort(q[good])
            row = {"variant": name, "fold": fold, "auroc": round(auroc(q, ~good), 4),
                   "good_rejected": [int((q[good] > thr).sum()), int(good.sum())],
                   "defective_rejected": [int((q[~good] > thr).sum()), int((~good).sum())],
                   "best_at_2pct": round(float((q[~good] > g[int(np.ceil(len(g) * 0.98)) - 1]).mean()), 3),
                   "per_type_auroc": {n: round(auroc(np.r_[q[good], q[folder == n]],
                                                     np.r_[np.zeros(good.sum()), np.ones((folder == n).sum())]), 3)
                                      for n in sorted(set(folder) - {GOOD})},
                   "calibration_tiles": int(b.size)}
            print(json.dumps(row), flush=True)
            with RESULTS.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
