# ruff: noqa: E402  (thread counts set before numpy is imported)
"""Issue 12, round 7: why do good tiles of a run the model never saw score lower than the taught
tiles' own held-out (calibration) scores? One model taught as the product teaches (k-fold
calibration) from the good tiles of all runs but one, the good tiles of that run scored; both sides
split into the patches' top-50, the image-level term and the prior (three teaches with the same
banks: the patches alone, with the term, with the term and the prior). With ``local`` (round 8): the
model has the local bank (leave-one-out calibration; it needs the image-level descriptors, so the
calibration tiles' patch part is their score without the prior less their leave-one-out term).

usage: .venv/bin/python experiments/gap_exp.py DATA RUN OUT.json [local]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import json
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from inspection.imageio import read_image
from inspection.vision.goodset import (
    BANK_KNN,
    HIGHLIGHTS,
    TILE_KNN,
    TILE_PRIOR,
    TILE_ROWS,
    feature_extractors,
    teach,
    tile_descriptor,
)

cv2.setNumThreads(1)


def main() -> None:
    data, run, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    files = sorted((data / "MT_Free").glob("*.jpg"))
    taught = [p for p in files if not p.name.startswith(f"{run}_") and not p.name.startswith("exp1_")]
    unseen = [p for p in files if p.name.startswith(f"{run}_")]
    extract = feature_extractors.create("effnet-lite0", threads=1, device="cpu", precision="fp32")
    images = [read_image(p) for p in taught]
    local = len(sys.argv) > 4 and sys.argv[4] == "local"
    kw = dict(extractor="effnet-lite0", folds=5, top_k=50, max_patches=200_000, seed=0, highlights=HIGHLIGHTS)
    if local:
        kw |= {"bank_knn": BANK_KNN, "tile_rows": TILE_ROWS}
    term_held: list[tuple[int, float]] = []
    no_prior = teach(images, extract, held_out=term_held, tile_knn=TILE_KNN, tile_prior=0.0, **kw)
    held: list[tuple[int, float]] = []
    model = teach(images, extract, held_out=held, tile_knn=TILE_KNN, tile_prior=TILE_PRIOR, **kw)
    patch_held: list[tuple[int, float]] = []
    if local:  # the calibration term: scale x (leave-one-out distance to the 3 nearest - mu)
        t = no_prior.tile
        for i, s in term_held:
            d = tile_descriptor(no_prior.features(images[i], extract), t.lo, t.hi)
            row = int(np.argmin(np.abs(t.tiles - (d - t.center) / t.spread).sum(1)))
            near = t.nearest(d, exclude=row)[1]
            patch_held.append((i, s - t.scale * (float(near.mean()) - t.mu)))
    else:
        teach(images, extract, held_out=patch_held, **kw)  # the same banks, the patches' score alone
    patch, term = dict(patch_held), dict(term_held)
    cal = [{"tile": taught[i].name, "score": s, "patch": patch[i], "no_prior": term[i]} for i, s in held]
    plain = replace(model.tile, prior=None)
    test = []
    for p in unseen:
        img = read_image(p)
        feats = model.features(img, extract)
        amap = model.patch_map(feats, extract)  # (the local bank: chosen by the whole tile's descriptor)
        patch_score = model.image_score(amap)
        test.append({"tile": p.name, "score": model.part_score(amap, feats), "patch": patch_score,
                     "no_prior": patch_score + plain.term(feats)})
    for name, rows in (("calibration (taught runs, held out by tile)", cal), (f"unseen run {run}", test)):
        s = np.array([r["score"] for r in rows])
        pt = np.array([r["patch"] for r in rows])
        npr = np.array([r["no_prior"] for r in rows])
        print(f"{name:45s} score median {np.median(s):.2f}  patches {np.median(pt):.2f}  "
              f"term {np.median(npr - pt):.2f}  prior {np.median(s - npr):.2f}  (n {len(rows)})")
    out.write_text(json.dumps({"run": run, "threshold": model.threshold, "calibration": cal, "unseen": test}))


if __name__ == "__main__":
    main()
