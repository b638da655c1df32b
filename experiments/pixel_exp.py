# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Issue 12, round 5: localisation variants on the saved anomaly maps of one fold (pixel AUROC):
the product's map (bilinear, Gaussian blur of 5 patches) against per-image normalised maps (minus
a share of the map's median, minus its 25th percentile, over its median, robust z-score) and
against guided filtering by the contrast-normalised tile (radius 4-16 px after a narrower blur).

usage: SYNTH_CACHE=CACHE .venv/bin/python experiments/pixel_exp.py MAPS_NAME FOLD DATA
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import json
import sys

import cv2
import numpy as np
from flow_exp import CACHE

from inspection.imageio import read_image
from inspection.vision.goodset import auroc, normalise_contrast, pixel_map

cv2.setNumThreads(1)
idx = json.loads((CACHE / "index.json").read_text())["items"]
name, fold, data_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
z = np.load(CACHE / f"maps_{name}_fold{fold}.npz")
test = [int(k) for k in z.files if idx[int(k)]["fold"] == fold]
feats = {i: np.load(CACHE / "feats" / f"{i}.npz") for i in test}
imgs = {i: normalise_contrast(read_image(f"{data_dir}/{idx[i]['path']}"), "percentile").astype(np.float32) / 255
        for i in test}


def box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1))


def guided(guide: np.ndarray, p: np.ndarray, r: int, eps: float) -> np.ndarray:
    m_i, m_p = box(guide, r), box(p, r)
    a = (box(guide * p, r) - m_i * m_p) / (box(guide * guide, r) - m_i * m_i + eps)
    return box(a, r) * guide + box(m_p - a * m_i, r)


def pm(a: np.ndarray, shape: tuple[int, int], s: float) -> np.ndarray:
    return pixel_map(a, shape, sigma=s * shape[0] / a.shape[0])


def run(label, fn):
    ps, pl = [], []
    for i in test:
        shape = tuple(feats[i]["shape"])
        m = feats[i]["mask"]
        a = z[str(i)].astype(np.float32)
        h = fn(a, shape, imgs[i])[::4, ::4]
        ps.append(h[:m.shape[0], :m.shape[1]].ravel())
        pl.append(m.ravel())
    print(label, round(auroc(np.concatenate(ps), np.concatenate(pl)), 4), flush=True)


run("as is (blur 5 patches)", lambda a, sh, g: pm(a, sh, 5))
for f in (0.5, 0.8, 1.0):
    run(f"minus {f} x median", lambda a, sh, g, f=f: pm(a - f * np.median(a), sh, 5))
run("minus 25th percentile", lambda a, sh, g: pm(a - np.percentile(a, 25), sh, 5))
run("over median", lambda a, sh, g: pm(a / np.median(a), sh, 5))
run("robust z", lambda a, sh, g: pm((a - np.median(a)) / (np.median(np.abs(a - np.median(a))) + 1e-3), sh, 5))
for s in (1, 2, 3):
    for r in (8, 16):
        run(f"blur {s}, guided r{r}, blur 3", lambda a, sh, g, s=s, r=r: cv2.GaussianBlur(
            guided(g, pm(a, sh, s), r, 1e-2), (0, 0), 3 * sh[0] / a.shape[0]))
