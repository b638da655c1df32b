# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Issue 12, round 8: image scores that also see small defects, on the round-7 maps of the validation fold.

Held-out protocol and maps of ``score_exp.py`` (round-6/7 model, coreset seeds 0 / 1 / 2). The patch
part of the score is the larger (or the mean) of two or three top-k means, each in units of the
held-out good tiles' spread: the top-50 (large defects) and the top-5 of the map smoothed by one cell
(a blowhole covers a few cells of a large tile), or the top-200. Term and prior as the product's.

usage: SYNTH_CACHE=CACHE .venv/bin/python experiments/score_or_exp.py
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import json
from pathlib import Path

import cv2
import numpy as np
from flow_exp import GOOD, top_k
from prior_exp import load_terms, result_row
from score_exp import maps_for

from inspection.vision.goodset import threshold_at_frr

RESULTS = Path(__file__).resolve().parent / "results" / "score.jsonl"


def smooth(m: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(m.astype(np.float32), (0, 0), sigma)


def main() -> None:
    f = load_terms(None)
    cz, ct = f.cal_z, f.cal_dist
    dc = np.sqrt(((cz[:, None] - cz[None]) ** 2).sum(-1))
    np.fill_diagonal(dc, np.inf)
    nc = np.argsort(dc, 1)[:, :3]
    nt = np.argsort(np.sqrt(((f.test_z[:, None] - cz[None]) ** 2).sum(-1)), 1)[:, :3]
    good = np.array([f.items[i]["folder"] == GOOD for i in f.test])

    def top5(m: np.ndarray) -> float:
        return top_k(smooth(m, 1.0), 5)

    variants = {
        "top50": [top_k],
        "max(top50, top5 smoothed 1 cell)": [top_k, top5],
        "max(top50, top10 smoothed 1 cell)": [top_k, lambda m: top_k(smooth(m, 1.0), 10)],
        "max(top50, top200)": [top_k, lambda m: top_k(m, 200)],
        "max(top50, top5 smoothed 1 cell, top200)": [top_k, top5, lambda m: top_k(m, 200)],
        "mean(top50, top5 smoothed 1 cell)": [top_k, top5],
    }
    for seed in (0, 1, 2):
        maps = maps_for(f, seed)

        def z(fn, maps: dict = maps) -> tuple[np.ndarray, np.ndarray]:
            cs = np.array([fn(maps[i]) for i in f.cal])
            ts = np.array([fn(maps[i]) for i in f.test])
            return (cs - cs.mean()) / cs.std(), (ts - cs.mean()) / cs.std()

        for name, fns in variants.items():
            zs = [z(fn) for fn in fns]
            pick = np.mean if name.startswith("mean") else np.max
            cp, tp = pick([q[0] for q in zs], 0), pick([q[1] for q in zs], 0)
            cp2, tp2 = (cp - cp.mean()) / cp.std(), (tp - cp.mean()) / cp.std()
            c = cp2 + (ct - ct.mean()) / ct.std()
            thr = threshold_at_frr(c - 0.5 * c[nc].mean(1), 0.01)
            s = tp2 + (f.test_dist - ct.mean()) / ct.std() - 0.5 * c[nt].mean(1)
            row = result_row(s, good, thr, fold=f.fold, seed=seed, variant=f"round 8: {name}")
            print(json.dumps(row), flush=True)
            with RESULTS.open("a") as fh:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
