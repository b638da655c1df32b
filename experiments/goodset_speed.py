# ruff: noqa: E402  (thread counts set before numpy is imported)
"""Per-tile scoring time of a joint and a per-block good-set model, interleaved in one run (one
thread for ONNX Runtime, OpenCV and BLAS): both taught from the same seeded sample of good tiles.

usage: .venv/bin/python experiments/goodset_speed.py /work/shared/datasets/mtd OUT.json [N_TEACH N_SCORE [PRECISION]]
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
from inspection.vision.goodset import LITE0_BLOCKS, feature_extractors, teach


def main() -> None:
    data, out = Path(sys.argv[1]), Path(sys.argv[2])
    n_teach = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    n_score = int(sys.argv[4]) if len(sys.argv) > 4 else 40
    precision = sys.argv[5] if len(sys.argv) > 5 else "fp32"
    cv2.setNumThreads(1)
    files = sorted((data / "MT_Free").glob("*.jpg"))
    rng = np.random.default_rng(0)
    pick = rng.permutation(len(files))
    teach_files = [files[int(i)] for i in pick[:n_teach]]
    score_files = [files[int(i)] for i in pick[n_teach:n_teach + n_score]]
    extract = feature_extractors.create("effnet-lite0", threads=1, device="cpu", precision=precision)
    name = str(getattr(extract, "name", "effnet-lite0"))
    images = [read_image(p) for p in teach_files]
    models = {}
    for label, scales in (("joint", None), ("per-block", LITE0_BLOCKS)):
        t0 = time.perf_counter()
        models[label] = teach(images, extract, extractor=name, calibration_share=0.2, top_k=50,
                              max_patches=200_000, scales=scales)
        print(f"{label}: taught in {time.perf_counter() - t0:.1f} s", flush=True)
    tiles = [read_image(p) for p in score_files]
    ms: dict[str, list[float]] = {k: [] for k in models}
    for rep in range(2):
        for img in tiles:
            for label, m in (list(models.items()) if rep % 2 == 0 else list(models.items())[::-1]):
                t0 = time.perf_counter()
                m.image_score(m.anomaly_map(img, extract))
                ms[label].append((time.perf_counter() - t0) * 1e3)
    res = {k: {"median_ms": float(np.median(v)), "p95_ms": float(np.percentile(v, 95)), "n": len(v)}
           for k, v in ms.items()}
    res["ratio_per_block_to_joint"] = float(np.median(np.array(ms["per-block"]) / np.array(ms["joint"])))
    res["load_average"] = os.getloadavg()
    res["precision"] = precision  # type: ignore[assignment]
    print(json.dumps(res, indent=2))
    out.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
