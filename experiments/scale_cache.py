# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Issue 12, round 8: cache the MTD tiles' features at one fixed scale instead of a fixed short side.

The product scales every part so its shorter side is 224 px. MTD's tiles are crops of one camera's
images, 103-392 px on the short side: scaling each to 224 px enlarges the narrow tiles about 2x and
shrinks the large ones about 0.6x, so the same surface grain (and a blowhole of a given size) reaches
the extractor at up to 3.5x different sizes. Here every tile is scaled by the same factor (``SCALE``,
default 224 / 258, 258 px being the tiles' median short side), both sides rounded to 16 px as
``goodset.resize_short`` rounds them.

Writes what ``flow_cache.py`` writes (CACHE/feats/<i>.npz, CACHE/index.json) and, for the fit tiles
of one fold, the over-lit copies ``highlight_exp.py`` caches (CACHE/overlit/<i>_copy.npy, the same
seeded shares), so ``map_exp.py`` runs unchanged on CACHE.

usage: SYNTH_CACHE=CACHE SCALE=0.868 .venv/bin/python experiments/scale_cache.py DATA [FOLD]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from inspection.bench.mtd_kfold import KFoldConfig, _dataset
from inspection.imageio import read_image
from inspection.vision.goodset import feature_extractors, normalise_contrast

PIXEL_STEP = 4
SCALE = float(os.environ.get("SCALE", str(224 / 258)))


def prepare_fixed(image: np.ndarray, scale: float = SCALE, multiple: int = 16) -> np.ndarray:
    img = normalise_contrast(image, "percentile")
    h, w = img.shape[:2]
    nh = max(multiple, round(h * scale / multiple) * multiple)
    nw = max(multiple, round(w * scale / multiple) * multiple)
    return cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def main() -> None:
    data = Path(sys.argv[1])
    out = Path(os.environ["SYNTH_CACHE"])
    cv2.setNumThreads(1)
    (out / "feats").mkdir(parents=True, exist_ok=True)
    extract = feature_extractors.create("effnet-lite0", threads=1, device="cpu", precision="fp32")
    if not (out / "index.json").exists():
        items, val = _dataset(KFoldConfig(data, out))
        index = []
        for i, (p, folder, fold) in enumerate(items):
            image = read_image(p)
            t0 = time.perf_counter()
            feats = extract(prepare_fixed(image))
            ms = (time.perf_counter() - t0) * 1e3
            mask = read_image(p.with_suffix(".png")) > 127
            np.savez(out / "feats" / f"{i}.npz", feats=feats.astype(np.float16),
                     mask=mask[::PIXEL_STEP, ::PIXEL_STEP], shape=np.array(image.shape[:2]))
            index.append({"i": i, "path": f"{folder}/{p.name}", "folder": folder, "fold": fold, "ms": ms,
                          "cells": int(feats.shape[0] * feats.shape[1])})
            if i % 100 == 0:
                print(i, len(items), feats.shape, f"{ms:.1f} ms", flush=True)
        (out / "index.json").write_text(json.dumps({"val_fold": val, "items": index}))
        print("median extractor ms", np.median([r["ms"] for r in index]),
              "median cells", np.median([r["cells"] for r in index]), flush=True)
    # the over-lit copies of one fold's fit tiles (highlight_exp.py's shares and brightening)
    from highlight_exp import brighten_to_clip
    from prior_exp import load_terms

    f = load_terms(int(sys.argv[2]) if len(sys.argv) > 2 else None)
    (out / "overlit").mkdir(exist_ok=True)
    shares = np.random.default_rng([0, 1]).uniform(0.02, 0.30, len(f.fit))
    for i, share in zip(f.fit, shares, strict=True):
        p = out / "overlit" / f"{i}_copy.npy"
        if not p.exists():
            img = brighten_to_clip(read_image(data / f.items[i]["path"]), float(share))
            np.save(p, extract(prepare_fixed(img)).astype(np.float16))
    print("copies cached", len(f.fit), flush=True)


if __name__ == "__main__":
    main()
