# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Cache the frozen Lite0 patch features (blocks 4+7+10, 232 channels, stride 8) of every MTD tile.

One thread (ONNX Runtime, OpenCV). Writes cache/feats/<i>.npz (features float16 (h, w, 232), mask
subsampled every 4 px as the bench does, image shape) and cache/index.json (path, folder, fold,
validation fold, ms of the extractor per tile). The features are exactly what the good-set model
sees: ``prepare_image(image, 224, "percentile")`` then the extractor of the product.

usage: .venv/bin/python experiments/flow_cache.py /work/shared/datasets/mtd cache
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # one BLAS thread (numpy), before numpy is imported


import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from inspection.bench.mtd_kfold import KFoldConfig, _dataset
from inspection.imageio import read_image
from inspection.vision.goodset import feature_extractors, prepare_image

PIXEL_STEP = 4
SHORT = int(os.environ.get("SHORT_SIDE", "224"))
PAD = int(os.environ.get("PAD", "0"))  # px, a multiple of 8


def main() -> None:
    data, out = Path(sys.argv[1]), Path(sys.argv[2])
    cv2.setNumThreads(1)
    (out / "feats").mkdir(parents=True, exist_ok=True)
    items, val = _dataset(KFoldConfig(data, out))
    extract = feature_extractors.create("effnet-lite0", threads=1, device="cpu", precision="fp32")
    index = []
    for i, (p, folder, fold) in enumerate(items):
        image = read_image(p)
        t0 = time.perf_counter()
        prep = prepare_image(image, SHORT, "percentile")
        if PAD:  # reflect the borders so edge patches see mirrored surface, not the CNN's zero padding
            prep = cv2.copyMakeBorder(prep, PAD, PAD, PAD, PAD, cv2.BORDER_REFLECT_101)
        feats = extract(prep)
        if PAD:
            c = PAD // 8
            feats = feats[c:-c, c:-c]
        ms = (time.perf_counter() - t0) * 1e3
        mask = read_image(p.with_suffix(".png")) > 127
        np.savez(out / "feats" / f"{i}.npz", feats=feats.astype(np.float16),
                 mask=mask[::PIXEL_STEP, ::PIXEL_STEP], shape=np.array(image.shape[:2]))
        index.append({"i": i, "path": f"{folder}/{p.name}", "folder": folder, "fold": fold, "ms": ms})
        if i % 100 == 0:
            print(i, len(items), feats.shape, f"{ms:.1f} ms", flush=True)
    (out / "index.json").write_text(json.dumps({"val_fold": val, "items": index}))
    print("median extractor ms", np.median([r["ms"] for r in index]))


if __name__ == "__main__":
    main()
