# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Issue 12, round 10: the anomaly map judged against the part's own level, by physical tile, every
fold, with nested selection.

A new physical tile whose grain is unlike every taught tile has *all* its patches far from the bank:
its top-50 rises with no defect. The image-level term and the prior correct for the taught
neighbours' level, never for the part's own. Each variant transforms every map (the taught tiles'
leave-one-out maps, from which teaching calibrates the threshold, and the test tiles') the same way
before the product's score is assembled from it (``bytile_exp.evaluate``: top-50, image-level term,
prior, threshold at 1% of the calibration scores):

- ``product``: the map as it is;
- ``minus_median_a``: map - a x its median (a 0.5, 1): top-50 above the part's own typical patch;
- ``ratio``: map / its median;
- ``zscore``: (map - median) / (1.4826 MAD);
- ``highpass_s``: map - its Gaussian blur of s cells (s 3, 6): a patch against its surroundings;

and, the map as it is, the score's other settings (chosen by run in rounds 5-8, never by tile):

- ``term_x``: the image-level term's weight x 0.5 / 2 / 4 (the product: TILE_WEIGHT 1);
- ``prior_a``: the prior's share 0 / 1 (the product: 0.5); added after fold 0 alone had been seen
  (prior 1 best there): prior 1.5, and prior 1 with the term x 0.5;
- ``top_k``: 10 / 100 patches (the product: 50).

The family was written down before any run. Every fold's pieces come from ``bytile_exp.setup`` (the
product taught as the bench teaches it) and are cached (``--cache DIR/fold{F}.pkl``). The estimate
reported for "choose among these" is nested (``nested_select.py``'s rule: for each reported fold, the
variant best on the mean of the other folds). Result lines: experiments/results/mapnorm.jsonl.

usage: (from experiments/) ../.venv/bin/python mapnorm_exp.py DATA --cache DIR [--folds 0 1 2 3 4 5]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
import pickle
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bytile_exp
from bytile_exp import Fold, evaluate, setup

RESULTS = Path(__file__).resolve().parent / "results" / "mapnorm.jsonl"
TILE_WEIGHT, TILE_PRIOR = bytile_exp.TILE_WEIGHT, bytile_exp.TILE_PRIOR


def _highpass(s: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda m: m - cv2.GaussianBlur(m.astype(np.float32), (0, 0), s, borderType=cv2.BORDER_REFLECT)


def _zscore(m: np.ndarray) -> np.ndarray:
    med = float(np.median(m))
    return (m - med) / max(1.4826 * float(np.median(np.abs(m - med))), 1e-6)


MAPS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "product": lambda m: m,
    "minus_median_0.5": lambda m: m - 0.5 * float(np.median(m)),
    "minus_median_1": lambda m: m - float(np.median(m)),
    "ratio": lambda m: m / max(float(np.median(m)), 1e-6),
    "zscore": _zscore,
    "highpass_3": _highpass(3.0),
    "highpass_6": _highpass(6.0),
}
# name: (map transform, top-k, image-level term weight, prior share)
VARIANTS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], int, float, float]] = {
    **{name: (fn, 50, bytile_exp.TILE_WEIGHT, bytile_exp.TILE_PRIOR) for name, fn in MAPS.items()},
    **{f"term_x{w:g}": (MAPS["product"], 50, bytile_exp.TILE_WEIGHT * w, bytile_exp.TILE_PRIOR) for w in (0.5, 2, 4)},
    # added after every fold had been seen (x 0.5 best on all six): the nested estimate covers them
    **{f"term_x{w:g}": (MAPS["product"], 50, bytile_exp.TILE_WEIGHT * w, bytile_exp.TILE_PRIOR) for w in (0.0, 0.25)},
    **{f"prior_{a:g}": (MAPS["product"], 50, bytile_exp.TILE_WEIGHT, a) for a in (0.0, 1.0, 1.5)},
    "prior_1_term_x0.5": (MAPS["product"], 50, bytile_exp.TILE_WEIGHT * 0.5, 1.0),
    **{f"top_{k}": (MAPS["product"], k, bytile_exp.TILE_WEIGHT, bytile_exp.TILE_PRIOR) for k in (10, 100)},
}


def load_fold(data: Path, fold: int, cache: Path) -> Fold:
    path = cache / f"fold{fold}.pkl"
    if path.is_file():
        with path.open("rb") as fh:
            return pickle.load(fh)
    f = setup(data, fold)
    cache.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        pickle.dump(replace(f, extract=None), fh)
    return f


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    ap.add_argument("--only-cache", action="store_true", help="build the folds' pieces, evaluate nothing")
    args = ap.parse_args()
    for fold in args.folds:
        f = load_fold(args.data, fold, args.cache)
        if args.only_cache:
            continue
        for name, (fn, k, weight, prior) in VARIANTS.items():
            cmaps = [fn(x["local"]) for x in f.cal]
            tmaps = [fn(x["local"]) for x in f.tst]
            bytile_exp.TILE_WEIGHT, bytile_exp.TILE_PRIOR = weight, prior  # (evaluate reads them)
            try:
                evaluate(f, name, cmaps, tmaps, k=k, results=RESULTS)
            finally:
                bytile_exp.TILE_WEIGHT, bytile_exp.TILE_PRIOR = TILE_WEIGHT, TILE_PRIOR
    if args.only_cache:
        return 0
    rows = [json.loads(line) for line in RESULTS.open()]
    table: dict[str, dict[int, float]] = {}
    for r in rows:
        table.setdefault(r["variant"], {})[int(r["fold"])] = float(r["auroc"])
    folds = sorted(set.intersection(*(set(v) for v in table.values())))
    reported = [k for k in folds if k != 0]
    print("variant | " + " | ".join(f"fold {k}" for k in folds) + " | mean reported")
    for name, v in table.items():
        print(f"{name} | " + " | ".join(f"{v[k]:.4f}" for k in folds)
              + (f" | {np.mean([v[k] for k in reported]):.4f}" if reported else ""))
    if len(reported) >= 2:
        est = {}
        for k in reported:
            best = max(table, key=lambda n: np.mean([table[n][j] for j in folds if j != k]))
            est[k] = (best, table[best][k])
        print("nested: " + ", ".join(f"fold {k}: {b} {a:.4f}" for k, (b, a) in est.items())
              + f"; mean {np.mean([a for _, a in est.values()]):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
