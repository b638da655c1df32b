# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Issue 12, round 9: let a tile explain its own texture (self-reference), by physical tile.

By physical tile (round 8), a new tile's grinding marks, pores and light are unlike any taught
tile's: the local bank (its 10 nearest taught tiles) still scores them high, and good tiles overlap
defective ones (image AUROC 0.85). A defect is rare *within* its tile; a tile's texture repeats
over it. Here every patch is also compared with the tile's own patches farther than ``r`` patches
away (Chebyshev), and the patch anomaly is min(local bank, own patches) ("min"), or the local-bank
anomaly plus ``w`` x the own-patch anomaly ("sum").

The product is taught as the bench teaches it (``inspection bench mtd-kfold --group tile``:
local bank, leave-one-out calibration by tile, image-level term, prior, over-lit copies); the
variants rebuild its score from the same pieces: the taught tiles' leave-one-out maps (each
against its 10 nearest *other* physical tiles, exactly as teach calibrates; the base variant
reproduces the model's calibration scores, checked), the term rescaled and the prior recomputed
from the variant's calibration scores, the threshold at 1% of them.

usage: (from experiments/) ../.venv/bin/python self_exp.py /work/shared/datasets/mtd --fold 0 [--radii 1 2 4]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import time
from pathlib import Path

import numpy as np
from bytile_exp import evaluate, setup, top_k

RESULTS = Path(__file__).resolve().parent / "results" / "self.jsonl"


def self_map(p: np.ndarray, shape: tuple[int, int], r: int, step: int = 1) -> np.ndarray:
    """Per patch: the distance to the nearest own patch more than ``r`` patches away (Chebyshev);
    ``step`` > 1: among every step-th own patch in both directions only (faster)."""
    h, w = shape
    yy, xx = np.divmod(np.arange(h * w), w)
    ref = np.flatnonzero((yy % step == 0) & (xx % step == 0))
    q = p[ref]
    d2 = np.einsum("ij,ij->i", p, p)[:, None] + np.einsum("ij,ij->i", q, q)[None, :] - 2.0 * (p @ q.T)
    near = (np.abs(yy[:, None] - yy[ref][None, :]) <= r) & (np.abs(xx[:, None] - xx[ref][None, :]) <= r)
    d2[near] = np.inf
    return np.sqrt(np.maximum(d2.min(1), 0.0)).reshape(h, w)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--radii", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--weights", type=float, nargs="+", default=[0.5, 1.0])
    ap.add_argument("--image-weights", type=float, nargs="*", default=[],
                    help="also: the map minus w x the own-patch map's top-50 (one offset per tile)")
    ap.add_argument("--ref-step", type=int, default=1, help="own patches compared: every step-th")
    ap.add_argument("--no-min", action="store_true", help="skip the self-only and min variants")
    args = ap.parse_args()
    f = setup(args.data, args.fold)
    cal, tst = f.cal, f.tst
    evaluate(f, "base", [x["local"] for x in cal], [x["local"] for x in tst], results=RESULTS)
    for r in args.radii:
        t0 = time.perf_counter()
        cself = [self_map(x["p"], x["shape"], r, args.ref_step) for x in cal]
        tself = [self_map(x["p"], x["shape"], r, args.ref_step) for x in tst]
        ms = round((time.perf_counter() - t0) / (len(cal) + len(tst)) * 1e3, 2)
        tag = {"radius": r, "ref_step": args.ref_step, "self_ms": ms, "results": RESULTS}
        if not args.no_min:
            evaluate(f, "self_only", cself, tself, **tag)
            evaluate(f, "min", [np.minimum(x["local"], s) for x, s in zip(cal, cself, strict=True)],
                     [np.minimum(x["local"], s) for x, s in zip(tst, tself, strict=True)], **tag)
        for w in args.weights:
            evaluate(f, "sum", [x["local"] + w * s for x, s in zip(cal, cself, strict=True)],
                     [x["local"] + w * s for x, s in zip(tst, tself, strict=True)], weight=w, **tag)
        for w in args.image_weights:
            evaluate(f, "image", [x["local"] - w * top_k(s) for x, s in zip(cal, cself, strict=True)],
                     [x["local"] - w * top_k(s) for x, s in zip(tst, tself, strict=True)], weight=w, **tag)


if __name__ == "__main__":
    main()
