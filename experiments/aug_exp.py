# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Issue 12, round 5: teach-time augmentation of the memory bank. The good tiles taught are also
seen flipped (left-right, up-down, both): the bank then holds the surface texture in the four
orientations a tile can be placed in, at no cost when scoring (the bank keeps its 5,000 patches).

Reads the feature cache of ``flow_cache.py`` (CACHE: the originals, 224 px short side), extracts the
flipped fit tiles with the product's extractor (cached in CACHE/aug/), and compares, for several
coreset seeds, the product's bank (``flow_exp.bank_maps``' recipe) with the augmented bank on one
fold. One thread.

usage: SYNTH_CACHE=CACHE .venv/bin/python experiments/aug_exp.py DATA [--fold F] [--seeds 0 1 2] [--flips h v hv]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from flow_exp import CACHE, evaluate, load_fold

from inspection.imageio import read_image
from inspection.vision.goodset import feature_extractors, prepare_image
from inspection.vision.memory_bank import coreset, fit_projection, nearest_distances

cv2.setNumThreads(1)
FLIPS = {"h": lambda a: a[:, ::-1], "v": lambda a: a[::-1], "hv": lambda a: a[::-1, ::-1]}


def flipped_feats(data_dir: Path, items: list[dict], fit: list[int], flips: list[str]) -> dict:
    out = CACHE / "aug"
    out.mkdir(exist_ok=True)
    extract = None
    feats: dict = {}
    for n, i in enumerate(fit):
        for f in flips:
            p = out / f"{i}_{f}.npy"
            if not p.exists():
                if extract is None:
                    extract = feature_extractors.create("effnet-lite0", threads=1, device="cpu", precision="fp32")
                image = np.ascontiguousarray(FLIPS[f](read_image(data_dir / items[i]["path"])))
                np.save(p, extract(prepare_image(image, 224, "percentile")).astype(np.float16))
            feats[(i, f)] = np.load(p).astype(np.float32)
        if n % 100 == 0:
            print(f"  flipped features {n}/{len(fit)}", flush=True)
    return feats


def bank(fit_feats: list[np.ndarray], pca_feats: list[np.ndarray], max_patches: int, size: int,
         seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean, comp = fit_projection(np.concatenate(pca_feats), 64, seed=0)
    pool = np.concatenate(fit_feats)
    rng = np.random.default_rng(seed)
    if pool.shape[0] > max_patches:
        pool = pool[rng.choice(pool.shape[0], max_patches, replace=False)]
    pool = (pool - mean) @ comp
    return mean, comp, np.ascontiguousarray(pool[coreset(pool, size, seed=seed)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("--fold", type=int, default=None)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--flips", nargs="+", default=["h", "v", "hv"])
    ap.add_argument("--max-patches", type=int, default=200_000)
    ap.add_argument("--size", type=int, default=5000)
    ap.add_argument("--variants", nargs="+", default=["base", "aug"])
    args = ap.parse_args()
    fold, items, fit, cal, test, data = load_fold(args.fold)
    print(f"fold {fold}: fit {len(fit)}, cal {len(cal)}, test {len(test)}", flush=True)
    orig = [data[i]["feats"].reshape(-1, data[i]["feats"].shape[-1]) for i in fit]
    aug = flipped_feats(args.data, items, fit, args.flips) if "aug" in args.variants else {}
    flipped = [v.reshape(-1, v.shape[-1]) for v in aug.values()]
    for seed in args.seeds:
        for variant in args.variants:
            t0 = time.perf_counter()
            pool = orig + flipped if variant == "aug" else orig
            mean, comp, b = bank(pool, orig, args.max_patches, args.size, seed)
            teach_s = time.perf_counter() - t0
            maps = {}
            for i in list(test) + list(cal):
                f = data[i]["feats"]
                maps[i] = nearest_distances((f.reshape(-1, f.shape[-1]) - mean) @ comp, b).reshape(f.shape[:2])
            evaluate(f"aug_{variant}_s{seed}", fold, items, test, cal, maps, data,
                     extra={"seed": seed, "variant": variant, "flips": args.flips, "teach_s": teach_s})


if __name__ == "__main__":
    main()
