# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Issue 12, round 7: the localisation map (pixel AUROC) of the round-6 model on the validation fold.

Held-out protocol (``flow_exp.load_fold``: 436 fit tiles, 109 held-out calibration tiles), the bank
taught as the product teaches it since round 6 (fit tiles plus their over-lit copies, cached by
``highlight_exp.py``), the image score as the product's (bank top-50, image-level term, prior). Varied:
the bank's shape at about the same search cost (PCA dimensions x coreset size), and how the map is
drawn: the blur, and an offset per ring of cells from the tile's side (the held-out good tiles'
median distance on that ring less the inner cells'), since a tile's outer cells score higher.

A bank spec D:N[:nocopies|:clipped]: PCA dimensions, coreset size; without the over-lit copies, or
with only the copies' cells at or next to saturated pixels (the rest of a copy is the tile's own
texture under another contrast stretch, and would take coreset rows from the normal texture).

usage: SYNTH_CACHE=CACHE .venv/bin/python experiments/map_exp.py DATA [--fold F] [--seeds S..] [--banks SPEC..]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
from flow_exp import CACHE, GOOD, top_k
from highlight_exp import brighten_to_clip
from prior_exp import load_terms, result_row

from inspection.imageio import read_image
from inspection.vision.goodset import auroc, pixel_map, threshold_at_frr
from inspection.vision.memory_bank import coreset, fit_projection, nearest_distances

cv2.setNumThreads(1)
RESULTS = Path(os.environ.get("MAP_RESULTS", str(Path(__file__).resolve().parent / "results" / "map.jsonl")))
RINGS = 3  # rings 0..RINGS-1 from the side get their own offset; the rest are "inner"


def ring_index(shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    y, x = np.mgrid[:h, :w]
    return np.minimum(np.minimum(y, x), np.minimum(h - 1 - y, w - 1 - x)).clip(max=RINGS)


def ring_offsets(maps: list[np.ndarray]) -> np.ndarray:
    vals = [np.concatenate([m[ring_index(m.shape) == r] for m in maps]) for r in range(RINGS + 1)]
    med = np.array([np.median(v) for v in vals])
    return med - med[RINGS]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("--fold", type=int, default=None)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--banks", nargs="+", default=["64:5000", "48:6667", "32:10000"])
    ap.add_argument("--sigmas", type=float, nargs="+", default=[4.0, 5.0, 6.0])
    args = ap.parse_args()
    f = load_terms(args.fold)
    fold, items, fit, cal, test, data = f.fold, f.items, f.fit, f.cal, f.test, f.data
    copies = {i: np.load(CACHE / "overlit" / f"{i}_copy.npy").astype(np.float32) for i in fit}
    orig = [data[i]["feats"].reshape(-1, 232) for i in fit]
    extra = [copies[i].reshape(-1, 232) for i in fit]
    # the copies' saturated cells (the same seeded shares as highlight_exp.py's cached copies)
    shares = np.random.default_rng([0, 1]).uniform(0.02, 0.30, len(fit))
    clipped = []
    for i, share in zip(fit, shares, strict=True):
        sat = (brighten_to_clip(read_image(args.data / items[i]["path"]), float(share)) == 255).astype(np.float32)
        gh, gw = copies[i].shape[:2]
        cells = cv2.resize(sat, (gw, gh), interpolation=cv2.INTER_AREA) > 0
        cells = cv2.dilate(cells.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        clipped.append(copies[i][cells].reshape(-1, 232))
    print("copy cells kept near saturation:", sum(len(c) for c in clipped), "of",
          sum(len(c) for c in extra), flush=True)
    cz, ct = f.cal_z, f.cal_dist
    dc = np.sqrt(((cz[:, None] - cz[None]) ** 2).sum(-1))
    np.fill_diagonal(dc, np.inf)
    nc = np.argsort(dc, 1)[:, :3]
    nt = np.argsort(np.sqrt(((f.test_z[:, None] - cz[None]) ** 2).sum(-1)), 1)[:, :3]
    folder = np.array([items[i]["folder"] for i in test])
    good = folder == GOOD
    for spec in args.banks:
        parts = spec.split(":")
        dims, size, with_copies = int(parts[0]), int(parts[1]), "nocopies" not in parts
        only_clipped = "clipped" in parts
        for seed in args.seeds:
            t0 = time.perf_counter()
            mean, comp = fit_projection(np.concatenate(orig), dims, seed=0)
            pool = np.concatenate(orig + (clipped if only_clipped else extra if with_copies else []))
            rng = np.random.default_rng(seed)
            pool = pool[rng.choice(pool.shape[0], 200_000, replace=False)]
            pool = (pool - mean) @ comp
            b = np.ascontiguousarray(pool[coreset(pool, size, seed=seed)])
            teach_s = time.perf_counter() - t0

            def amap(i: int, m: np.ndarray = mean, c: np.ndarray = comp, bk: np.ndarray = b) -> np.ndarray:
                x = data[i]["feats"]
                return nearest_distances((x.reshape(-1, 232) - m) @ c, bk).reshape(x.shape[:2])

            cmaps = {i: amap(i) for i in cal}
            tmaps = {i: amap(i) for i in test}
            offs = ring_offsets(list(cmaps.values()))

            def image_scores(fn, cmaps: dict = cmaps, tmaps: dict = tmaps) -> tuple[np.ndarray, float]:
                cs = np.array([top_k(fn(cmaps[i])) for i in cal])
                c = (cs - cs.mean()) / cs.std() + (ct - ct.mean()) / ct.std()
                thr = threshold_at_frr(c - 0.5 * c[nc].mean(1), 0.01)
                ts = np.array([top_k(fn(tmaps[i])) for i in test])
                s = (ts - cs.mean()) / cs.std() + (f.test_dist - ct.mean()) / ct.std() - 0.5 * c[nt].mean(1)
                return s, thr

            def ringed(m: np.ndarray, offs: np.ndarray = offs) -> np.ndarray:
                return m - offs[ring_index(m.shape)]

            base = {"fold": fold, "seed": seed, "dims": dims, "bank": size,
                    "copies": "clipped cells" if only_clipped else with_copies,
                    "teach_s": round(teach_s, 1), "ring_offsets": [round(float(o), 3) for o in offs]}
            for label, fn in (("plain", lambda m: m), ("ringed", ringed)):
                s, thr = image_scores(fn)
                row = result_row(s, good, thr, **base, image_map=label)
                for sigma in args.sigmas:
                    ps, pl, per = [], [], {}
                    for i in test:
                        m = data[i]["mask"]
                        h = pixel_map(fn(tmaps[i]), data[i]["shape"],
                                      sigma=sigma * data[i]["shape"][0] / tmaps[i].shape[0])[::4, ::4]
                        ps.append(h[: m.shape[0], : m.shape[1]].ravel())
                        pl.append(m.ravel() > 0)
                    row[f"pixel_s{sigma:g}"] = round(auroc(np.concatenate(ps), np.concatenate(pl)), 4)
                    if sigma == 5.0:
                        for n in sorted(set(folder) - {GOOD}):
                            sel = [k for k, i in enumerate(test) if folder[k] in (n, GOOD)]
                            per[n] = round(auroc(np.concatenate([ps[k] for k in sel]),
                                                 np.concatenate([pl[k] for k in sel])), 4)
                        row["pixel_per_type"] = per
                print(json.dumps(row), flush=True)
                with RESULTS.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
