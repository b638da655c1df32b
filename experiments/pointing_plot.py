# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Issue 12, round 12: a picture of where the heat maps point, by physical tile (reported folds).

Rows: defective tiles (two per defect type where there are, in file order) of the reported folds.
Columns: the tile with its defect outlined; the bench's wide-blur map (rounds 2-11's pixel AUROC);
the map the station showed before this round (the detector's 4-px blur); the map it shows now (each
ring of patches by distance from the side at the inner ring's level). A cross marks each map's
hottest point; green where it lies on the defect (15 px), red where not.

usage: (from experiments/) ../.venv/bin/python pointing_plot.py DATA --cache DIR --out PNG
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mapnorm_exp import load_fold
from pointing_exp import edge_stats, variants

from inspection.bench.mtd_kfold import points_at
from inspection.imageio import read_image

H = 150  # row height in pixels
COLUMNS = (("wide", "product"), ("station before", "station"), ("station now", "edge_station"))


def panel(image: np.ndarray, heat: np.ndarray | None, mask: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if heat is None:
        out = grey
    else:
        lo, hi = np.percentile(heat, 50), heat.max()
        level = np.clip((heat - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
        out = cv2.addWeighted(grey, 0.5, cv2.applyColorMap(level, cv2.COLORMAP_JET), 0.5, 0)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, contours, -1, (255, 255, 255), 1)
    if heat is not None:
        y, x = np.unravel_index(int(np.argmax(heat)), heat.shape)
        colour = (0, 220, 0) if points_at(heat, mask) else (0, 0, 255)
        cv2.drawMarker(out, (int(x), int(y)), colour, cv2.MARKER_TILTED_CROSS, 18, 3)
    s = H / out.shape[0]
    return cv2.resize(out, (max(1, round(out.shape[1] * s)), H))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--fold", type=int, default=1)
    args = ap.parse_args()
    f = load_fold(args.data, args.fold, args.cache)
    fns = variants(*edge_stats(f))
    rows = []
    seen: dict[str, int] = {}
    for x in f.tst:
        if x["folder"] == "MT_Free" or not x["mask"].any() or seen.get(x["folder"], 0) >= 2:
            continue
        seen[x["folder"]] = seen.get(x["folder"], 0) + 1
        image = read_image(args.data / x["path"])
        panels = [panel(image, None, x["mask"])] + [panel(image, fns[v](x["local"], image.shape[:2]), x["mask"])
                                                    for _, v in COLUMNS]
        row = np.concatenate([np.pad(p, ((0, 0), (0, 6), (0, 0))) for p in panels], 1)
        label = np.zeros((18, row.shape[1], 3), np.uint8)
        cv2.putText(label, f"{x['path']}   columns: tile | {' | '.join(c for c, _ in COLUMNS)}", (4, 13),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1)
        rows.append(np.concatenate([label, row], 0))
    width = max(r.shape[1] for r in rows)
    sheet = np.concatenate([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0))) for r in rows], 0)
    cv2.imwrite(str(args.out), sheet)
    print(f"wrote {args.out} ({sheet.shape[1]} x {sheet.shape[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
