# ruff: noqa: E402  (thread counts set before numpy is imported)
"""Issue 12, round 4: exposure-augmented memory bank. The bank's pool also holds the patches of the
fit tiles under exposure changes (gain with clipping: brighter, saturating; darker), so that a run
lit differently does not look anomalous. Validation fold only (exp1, split as flow_exp.py); scores
the fold's tiles as they are and relit (gain 1.6 clipped, gain 0.6), threshold from the held-out
good training tiles (empirical 1%).

usage: .venv/bin/python experiments/exposure_exp.py --gains 1.0 [1.6 0.6 ...] [--seed S]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import flow_exp as fx

from inspection.imageio import read_image
from inspection.vision.goodset import auroc, feature_extractors, prepare_image, threshold_at_frr
from inspection.vision.memory_bank import coreset, fit_projection, nearest_distances

DATA = Path("/work/shared/datasets/mtd")
fx.CACHE = Path(os.environ.get("SYNTH_CACHE", "/work/cache"))


def relit(img: np.ndarray, gain: float) -> np.ndarray:
    return np.clip(img.astype(np.float32) * gain, 0, 255).round().astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gains", type=float, nargs="+", default=[1.0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", default="exposure")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    _fold, items, fit, cal, test, _ = fx.load_fold(None)
    extract = feature_extractors.create("effnet-lite0", threads=1, device="cpu", precision="fp32")
    img = {i: read_image(DATA / items[i]["path"]) for i in set(fit) | set(cal) | set(test)}

    def feats(im: np.ndarray) -> np.ndarray:
        f = extract(prepare_image(im, 224, "percentile"))
        return f.reshape(-1, f.shape[-1])

    t0 = time.perf_counter()
    plain = [feats(img[i]) for i in fit]
    mean, comp = fit_projection(np.concatenate(plain), 64, seed=0)
    pool = [f for f in plain]
    for g in args.gains:
        if g != 1.0:
            pool += [feats(relit(img[i], g)) for i in fit]
    pool_a = np.concatenate(pool)
    rng = np.random.default_rng(args.seed)
    pool_a = pool_a[rng.choice(pool_a.shape[0], min(200_000, pool_a.shape[0]), replace=False)]
    pool_a = (pool_a - mean) @ comp
    bank = np.ascontiguousarray(pool_a[coreset(pool_a, 5000, seed=args.seed)])
    teach_s = time.perf_counter() - t0

    def score(im: np.ndarray) -> float:
        d = nearest_distances((feats(im) - mean) @ comp, bank)
        return fx.top_k(d)

    thr = threshold_at_frr([score(img[i]) for i in cal], 0.01)
    good = np.array([items[i]["folder"] == "MT_Free" for i in test])
    out = {"name": args.name, "gains": args.gains, "seed": args.seed, "teach_s": teach_s}
    for g in (1.0, 1.6, 0.6):
        s = np.array([score(relit(img[i], g)) for i in test])
        out[f"test_gain_{g}"] = {"auroc": auroc(s, ~good), "good_rejected": int((s[good] > thr).sum()),
                                 "defective_rejected": int((s[~good] > thr).sum()),
                                 "good": int(good.sum()), "defective": int((~good).sum())}
        print(g, out[f"test_gain_{g}"], flush=True)
    with (Path(__file__).resolve().parent / "results" / "synth.jsonl").open("a") as fh:
        fh.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
