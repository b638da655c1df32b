# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Picture of the image-level term on the validation fold (exp1): each tile's patch score (the bank's
top-50, round 3's cached maps) against its image-level distance (block 10's mean and spread, 3 nearest
fit tiles), both in units of the held-out good tiles' spread; the line where their sum reaches the
threshold at the 1% false-reject target, and the patch score's own threshold.

usage: SYNTH_CACHE=CACHE .venv/bin/python experiments/tile_plot.py OUT.png
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import sys

import cv2
import numpy as np
from flow_exp import CACHE, GOOD, load_fold, top_k
from tile_exp import descriptor

from inspection.vision.goodset import threshold_at_frr

# drawn with OpenCV, as calibration/plot.py draws the teach report's histogram: no plotting library
# in the lock for one picture
W, H, M = 900, 700, 70
COLOURS = {"MT_Free": (60, 160, 60), "MT_Blowhole": (40, 40, 220), "MT_Break": (160, 60, 160),
           "MT_Crack": (0, 140, 255), "MT_Fray": (40, 90, 140), "MT_Uneven": (200, 120, 30)}
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _text(img: np.ndarray, text: str, xy: tuple[int, int], scale: float = 0.5, colour=(40, 40, 40)) -> None:
    cv2.putText(img, text, xy, FONT, scale, colour, 1, cv2.LINE_AA)


def main() -> None:
    out = sys.argv[1]
    fold, items, fit, cal, test, data = load_fold(None)
    z = np.load(CACHE / f"maps_bank_fold{fold}.npz")
    fits = np.stack([descriptor(data[i]["feats"], 120, 232, "meanstd") for i in fit])
    mu, sd = fits.mean(0), fits.std(0) + 1e-6
    fits = (fits - mu) / sd

    def dist(i: int) -> float:
        d = np.sqrt(((fits - (descriptor(data[i]["feats"], 120, 232, "meanstd") - mu) / sd) ** 2).sum(1))
        return float(np.sort(d)[:3].mean())

    bc = np.array([top_k(z[str(i)]) for i in cal])
    tc = np.array([dist(i) for i in cal])

    def zs(b: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (b - bc.mean()) / bc.std(), (t - tc.mean()) / tc.std()

    pb, pt = zs(np.array([top_k(z[str(i)]) for i in test]), np.array([dist(i) for i in test]))
    cb, ct = zs(bc, tc)
    thr = threshold_at_frr(cb + ct, 0.01)
    thr_patch = threshold_at_frr(cb, 0.01)
    folder = np.array([items[i]["folder"] for i in test])
    xs = np.concatenate([cb, pb])
    ys = np.concatenate([ct, pt])
    x0, x1, y0, y1 = xs.min() - 0.5, xs.max() + 0.5, ys.min() - 0.5, ys.max() + 0.5

    def px(x: float, y: float) -> tuple[int, int]:
        return (int(M + (x - x0) / (x1 - x0) * (W - 2 * M)), int(H - M - (y - y0) / (y1 - y0) * (H - 2 * M)))

    img = np.full((H, W, 3), 255, np.uint8)
    cv2.rectangle(img, px(x0, y1), px(x1, y0), (40, 40, 40), 1)
    for v in range(int(np.ceil(x0)), int(x1) + 1):
        cv2.line(img, px(v, y0), px(v, y1), (230, 230, 230), 1)
        _text(img, str(v), (px(v, y0)[0] - 5, H - M + 18), 0.4)
    for v in range(int(np.ceil(y0)), int(y1) + 1):
        cv2.line(img, px(x0, v), px(x1, v), (230, 230, 230), 1)
        _text(img, str(v), (M - 25, px(x0, v)[1] + 4), 0.4)
    for x, y in zip(cb, ct, strict=True):
        cv2.circle(img, px(x, y), 3, (190, 190, 190), -1, cv2.LINE_AA)
    for name, colour in COLOURS.items():
        m = folder == name
        for x, y in zip(pb[m], pt[m], strict=True):
            if name == GOOD:
                cv2.circle(img, px(x, y), 4, colour, -1, cv2.LINE_AA)
            else:
                c = px(x, y)
                tri = np.array([[c[0], c[1] - 6], [c[0] - 5, c[1] + 4], [c[0] + 5, c[1] + 4]], np.int32)
                cv2.fillPoly(img, [tri], colour, cv2.LINE_AA)
                cv2.polylines(img, [tri], True, (30, 30, 30), 1, cv2.LINE_AA)
    (lx, ly), (rx, ry) = px(x0, y0), px(x1, y1)
    ok, a, b = cv2.clipLine((lx, ry, rx - lx, ly - ry), px(x0, thr - x0), px(x1, thr - x1))
    if ok:
        cv2.line(img, a, b, (0, 0, 0), 2, cv2.LINE_AA)  # where the sum reaches its threshold
    for yy in np.arange(y0, y1, 0.3):  # dashed: the patch score's own threshold
        cv2.line(img, px(thr_patch, yy), px(thr_patch, min(yy + 0.15, y1)), (0, 0, 0), 1, cv2.LINE_AA)
    _text(img, "exp1 (validation): what the image-level term adds", (M, 30), 0.65)
    _text(img, "patch score (top-50 bank distance), z", (W // 2 - 150, H - 25))
    _text(img, "image-level distance (block 10 mean+spread, 3 nearest), z", (8, M - 12), 0.45)
    legend = [("held-out good tiles of other runs", (190, 190, 190))] + [
        (("good" if n == GOOD else n[3:]) + f" exp1 ({int((folder == n).sum())})", c) for n, c in COLOURS.items()]
    lx0, ly0 = W - M - 340, H - M - 20 * (len(legend) + 3)
    cv2.rectangle(img, (lx0 - 8, ly0 - 18), (W - M - 4, H - M - 6), (255, 255, 255), -1)
    for k, (label, colour) in enumerate(legend):
        y = ly0 + 20 * k
        cv2.circle(img, (lx0 + 5, y - 4), 5, colour, -1, cv2.LINE_AA)
        _text(img, label, (lx0 + 18, y), 0.45)
    _text(img, "solid line: threshold of the sum (1% of held-out good)", (lx0, ly0 + 20 * len(legend)), 0.42)
    _text(img, "dashed line: the patch score's own threshold", (lx0, ly0 + 20 * len(legend) + 18), 0.42)
    cv2.imwrite(out, img)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
