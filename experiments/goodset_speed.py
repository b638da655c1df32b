# ruff: noqa: E402  (thread counts set before numpy is imported)
"""Per-tile scoring time of good-set model variants, interleaved in one run (one thread for ONNX
Runtime, OpenCV and BLAS), all taught from the same seeded sample of good tiles. Variants: joint
(one bank, the patches' score), per-block (a bank per tapped block), joint+tile (one bank and the
image-level term, as inspection teach made it in round 5), product (joint+tile with the prior of
the nearest taught tiles' scores, over-lit copies and 5-fold calibration, as inspection teach made
it in rounds 6-7; "prior": the same without the over-lit copies; "local": the product with a local
bank, each tile against the rows of its 10 nearest taught tiles, as inspection teach makes it since
round 8). A variant named with "@whole"
runs the same model with the nearest-neighbour search in one call per tile instead of chunks of rows
(patch_features.NEAREST_CHUNK). The first variant is the baseline of the ratios.

usage: .venv/bin/python experiments/goodset_speed.py DATA OUT.json [N_TEACH N_SCORE [PRECISION [VARIANTS]]]
       VARIANTS: comma-separated, default joint,per-block
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

from inspection.imageio import read_image
from inspection.vision.goodset import (
    BANK_KNN,
    HIGHLIGHTS,
    LITE0_BLOCKS,
    TILE_KNN,
    TILE_PRIOR,
    TILE_ROWS,
    feature_extractors,
    teach,
)


def main() -> None:
    data, out = Path(sys.argv[1]), Path(sys.argv[2])
    n_teach = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    n_score = int(sys.argv[4]) if len(sys.argv) > 4 else 40
    precision = sys.argv[5] if len(sys.argv) > 5 else "fp32"
    variants = (sys.argv[6] if len(sys.argv) > 6 else "joint,per-block").split(",")
    settings = {"joint": {"scales": None, "tile_knn": 0}, "per-block": {"scales": LITE0_BLOCKS, "tile_knn": 0},
                "joint+tile": {"scales": None, "tile_knn": TILE_KNN},
                "prior": {"scales": None, "tile_knn": TILE_KNN, "tile_prior": TILE_PRIOR, "folds": 5},
                "product": {"scales": None, "tile_knn": TILE_KNN, "tile_prior": TILE_PRIOR, "folds": 5,
                            "highlights": HIGHLIGHTS},
                "local": {"scales": None, "tile_knn": TILE_KNN, "tile_prior": TILE_PRIOR, "highlights": HIGHLIGHTS,
                          "bank_knn": BANK_KNN, "tile_rows": TILE_ROWS}}
    cv2.setNumThreads(1)
    files = sorted((data / "MT_Free").glob("*.jpg"))
    rng = np.random.default_rng(0)
    pick = rng.permutation(len(files))
    teach_files = [files[int(i)] for i in pick[:n_teach]]
    score_files = [files[int(i)] for i in pick[n_teach:n_teach + n_score]]
    extract = feature_extractors.create("effnet-lite0", threads=1, device="cpu", precision=precision)
    whole = feature_extractors.create("effnet-lite0", threads=1, device="cpu", precision=precision)
    whole.nearest.chunk = 0  # type: ignore[attr-defined]
    name = str(getattr(extract, "name", "effnet-lite0"))
    images = [read_image(p) for p in teach_files]
    models = {}
    for label in variants:
        base_label = label.split("@")[0]
        if base_label in models:
            models[label] = models[base_label]
            continue
        t0 = time.perf_counter()
        kw = {"calibration_share": 0.2} | settings[base_label]
        models[label] = teach(images, extract, extractor=name, top_k=50, max_patches=200_000,
                              **kw)  # type: ignore[arg-type]
        models[base_label] = models[label]
        print(f"{label}: taught in {time.perf_counter() - t0:.1f} s", flush=True)
    models = {k: models[k] for k in variants}
    tiles = [read_image(p) for p in score_files]
    ms: dict[str, list[float]] = {k: [] for k in models}
    for rep in range(2):
        for img in tiles:
            for label, m in (list(models.items()) if rep % 2 == 0 else list(models.items())[::-1]):
                t0 = time.perf_counter()
                m.score(img, whole if label.endswith("@whole") else extract)
                ms[label].append((time.perf_counter() - t0) * 1e3)
    res = {k: {"median_ms": float(np.median(v)), "p95_ms": float(np.percentile(v, 95)), "n": len(v)}
           for k, v in ms.items()}
    base = variants[0]
    for label in variants[1:]:
        res[f"ratio_{label}_to_{base}"] = float(np.median(np.array(ms[label]) / np.array(ms[base])))
    res["load_average"] = os.getloadavg()
    res["precision"] = precision  # type: ignore[assignment]
    print(json.dumps(res, indent=2))
    out.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
