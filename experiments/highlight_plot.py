# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Picture of the over-lit copies on the validation fold (exp1 relit, as ``highlight_exp.py``): for the
relit good tiles the bank as taught scores highest, and two relit defective tiles, the relit tile and
its anomaly map from the bank as taught and from the bank with over-lit copies (coreset seed 0), each
map coloured from the bank's median held-out patch distance to its threshold, with the patches' score
over that threshold (bank top-50; the threshold at the 1% false-reject point of the held-out tiles as
they are). Needs ``highlight_exp.py``'s cached features (CACHE/overlit/).

usage: SYNTH_CACHE=CACHE .venv/bin/python experiments/highlight_plot.py DATA OUT.png
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import sys
from pathlib import Path

import cv2
import numpy as np
from aug_exp import bank
from flow_exp import CACHE, GOOD, heat, load_fold, top_k
from highlight_exp import brighten_to_clip

from inspection.imageio import read_image
from inspection.vision.goodset import threshold_at_frr
from inspection.vision.memory_bank import nearest_distances

cv2.setNumThreads(1)
FONT = cv2.FONT_HERSHEY_SIMPLEX
ROW = 170  # panel height, px
CELL = 230  # smallest panel width, px (room for the caption)


def main() -> None:
    data_dir, out = Path(sys.argv[1]), sys.argv[2]
    _fold, items, fit, cal, test, data = load_fold(1)
    test_share = dict(zip(test, np.random.default_rng([0, 2]).uniform(0.02, 0.20, len(test)), strict=True))
    lit = {i: np.load(CACHE / "overlit" / f"{i}_test.npy").astype(np.float32) for i in test}
    copies = [np.load(CACHE / "overlit" / f"{i}_copy.npy").astype(np.float32).reshape(-1, 232) for i in fit]
    orig = [data[i]["feats"].reshape(-1, 232) for i in fit]
    banks = {}
    for name, pool in (("bank as taught", orig), ("with over-lit copies", orig + copies)):
        mean, comp, b = bank(pool, orig, 200_000, 5000, 0)

        def amap(feats: np.ndarray, m: np.ndarray = mean, c: np.ndarray = comp, bk: np.ndarray = b) -> np.ndarray:
            return nearest_distances((feats.reshape(-1, 232) - m) @ c, bk).reshape(feats.shape[:2])

        cal_maps = [amap(data[i]["feats"]) for i in cal]
        thr = threshold_at_frr([top_k(a) for a in cal_maps], 0.01)
        banks[name] = (amap, thr, float(np.median(np.concatenate([a.ravel() for a in cal_maps]))))
    plain_fn, plain_thr, _ = banks["bank as taught"]
    good = [i for i in test if items[i]["folder"] == GOOD]
    bad = [i for i in test if items[i]["folder"] != GOOD]
    worst_good = sorted(good, key=lambda i: -top_k(plain_fn(lit[i])))[:3]
    picked = worst_good + sorted(bad, key=lambda i: -test_share[i])[:2]
    rows = []
    for i in picked:
        img = brighten_to_clip(read_image(data_dir / items[i]["path"]), test_share[i])
        h, w = img.shape
        s = ROW / h
        panels = [(cv2.cvtColor(cv2.resize(img, (round(w * s), ROW)), cv2.COLOR_GRAY2BGR),
                   f"{items[i]['folder'][3:]}, {100 * test_share[i]:.0f}% clipped")]
        for name, (fn, thr, med) in banks.items():
            a = fn(lit[i])
            v = np.clip((heat(a, (h, w)) - med) / max(thr - med, 1e-6), 0, 1)
            col = cv2.applyColorMap((v * 255).astype(np.uint8), cv2.COLORMAP_JET)
            panels.append((cv2.resize(col, (round(w * s), ROW)), f"{name}: {top_k(a) / thr:.2f} x thr"))
        cells = []
        for picture, caption in panels:  # each panel over its caption, at least CELL px wide
            cell = np.full((ROW + 22, max(CELL, picture.shape[1]) + 8, 3), 255, np.uint8)
            cell[:ROW, : picture.shape[1]] = picture
            cv2.putText(cell, caption, (2, ROW + 15), FONT, 0.42, (40, 40, 40), 1, cv2.LINE_AA)
            cells.append(cell)
        rows.append(np.hstack(cells))
    width = max(r.shape[1] for r in rows)
    title = np.full((30, width, 3), 255, np.uint8)
    cv2.putText(title, "exp1 relit (validation fold): tile | map, bank as taught | map, bank with over-lit copies",
                (6, 20), FONT, 0.5, (40, 40, 40), 1, cv2.LINE_AA)
    body = [np.pad(r, ((0, 6), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    cv2.imwrite(out, np.vstack([title, *body]))
    print(f"wrote {out} (plain threshold {plain_thr:.2f})")


if __name__ == "__main__":
    main()
