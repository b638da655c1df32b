# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Issue 12, round 7: how the patch map becomes the pixel map, on the validation fold (exp1): round 7's
bank maps (``score_exp.py``'s cache, seeds 0-2: fit tiles and their over-lit copies, PCA 64, coreset
5,000), pixel AUROC over the fold's tiles. The product: bilinear upsampling, Gaussian blur of 5
patches. Variants: a mix with a narrower blur (peaks of small defects kept), the map raised to a
power or shifted and clipped at a held-out level before the blur (the background of a tile spreads
less), each in the same units for all tiles (no per-tile normalisation: that was worse, round 5).

usage: SYNTH_CACHE=CACHE .venv/bin/python experiments/pixel_transform_exp.py
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import json
from pathlib import Path

import cv2
import numpy as np
from flow_exp import CACHE, load_fold

from inspection.vision.goodset import auroc, pixel_map

cv2.setNumThreads(1)
RESULTS = Path(__file__).resolve().parent / "results" / "pixel_transform.jsonl"


def main() -> None:
    fold, _items, _fit, cal, test, data = load_fold(None)
    for seed in (0, 1, 2):
        z = np.load(CACHE / f"maps_r7_s{seed}_fold{fold}.npz")
        maps = {int(k): z[k].astype(np.float32) for k in z.files}
        calv = np.concatenate([maps[i].ravel() for i in cal])
        q50, q90, q99 = np.percentile(calv, [50, 90, 99])

        def pm(a: np.ndarray, shape: tuple[int, int], s: float) -> np.ndarray:
            return pixel_map(a, shape, sigma=s * shape[0] / a.shape[0])

        variants = {
            "blur 5 (product)": lambda a, sh: pm(a, sh, 5),
            "0.5 blur 5 + 0.5 blur 2": lambda a, sh: 0.5 * pm(a, sh, 5) + 0.5 * pm(a, sh, 2),
            "max(blur 5, blur 2)": lambda a, sh: np.maximum(pm(a, sh, 5), pm(a, sh, 2)),
            "blur 5 of (a - q50)+": lambda a, sh, q=q50: pm(np.maximum(a - q, 0), sh, 5),
            "blur 5 of (a - q90)+": lambda a, sh, q=q90: pm(np.maximum(a - q, 0), sh, 5),
            "blur 5 of a^2": lambda a, sh: pm(a * a, sh, 5),
            "blur 5 of a^4": lambda a, sh: pm(a ** 4, sh, 5),
            "blur 5 of exp((a - q99) / 2)": lambda a, sh, q=q99: pm(np.exp((a - q) / 2), sh, 5),
        }
        for name, fn in variants.items():
            ps, pl = [], []
            for i in test:
                m = data[i]["mask"]
                h = fn(maps[i], data[i]["shape"])[::4, ::4]
                ps.append(h[: m.shape[0], : m.shape[1]].ravel())
                pl.append(m.ravel() > 0)
            row = {"fold": fold, "seed": seed, "map": name,
                   "pixel_auroc": round(auroc(np.concatenate(ps), np.concatenate(pl)), 4)}
            print(json.dumps(row), flush=True)
            with RESULTS.open("a") as fh:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
