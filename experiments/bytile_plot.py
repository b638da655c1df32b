"""Issue 12, round 9: where the local bank's map peaks on the by-tile validation fold (pictures).

Reads the pieces pickled by ``bytile_exp.py --save PKL`` and draws, per tile, the image (labelled
defect outlined in green) beside its local-bank map (blue 15 .. red 45, the map's units): the
fold's defective tiles, and its highest-scoring good tiles.

usage: (from experiments/) ../.venv/bin/python bytile_plot.py PKL DATA OUT_DIR
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import cv2
import numpy as np
from bytile_exp import GOOD, top_k

from inspection.imageio import read_image

HEIGHT = 160


def panel(x: dict, data: Path, width: int) -> np.ndarray:
    image = read_image(data / x["path"])
    h, w = image.shape
    size = (max(1, round(w * HEIGHT / h)), HEIGHT)
    grey = cv2.cvtColor(cv2.resize(image, size), cv2.COLOR_GRAY2BGR)
    mask = cv2.resize(x["mask"].astype(np.uint8) * 255, size, interpolation=cv2.INTER_NEAREST)
    cv2.drawContours(grey, cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0], -1, (0, 255, 0), 1)
    level = np.clip((x["local"] - 15.0) / 30.0, 0, 1)
    heat = cv2.applyColorMap((cv2.resize(level, size, interpolation=cv2.INTER_NEAREST) * 255).astype(np.uint8),
                             cv2.COLORMAP_JET)
    row = np.concatenate([grey, heat], 1)
    label = f"{x['path']}  top-50 {top_k(x['local']):.1f}"
    row = cv2.copyMakeBorder(row, 18, 4, 0, max(0, width - row.shape[1]), cv2.BORDER_CONSTANT)[:, :width]
    cv2.putText(row, label, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return row


def sheet(tiles: list[dict], data: Path, out: Path, columns: int = 2, width: int = 640) -> None:
    rows = [panel(x, data, width) for x in tiles]
    while len(rows) % columns:
        rows.append(np.zeros_like(rows[0]))
    cols = [np.concatenate(rows[c::columns], 0) for c in range(columns)]
    cv2.imwrite(str(out), np.concatenate(cols, 1), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {out}")


def main() -> None:
    pkl, data, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    with pkl.open("rb") as fh:
        f = pickle.load(fh)  # our own file (bytile_exp.py --save)
    defective = [x for x in f.tst if x["folder"] != GOOD]
    good = sorted((x for x in f.tst if x["folder"] == GOOD), key=lambda x: -top_k(x["local"]))
    sheet(defective, data, out / f"fold{f.fold}_defective_maps.jpg")
    sheet(good[:8], data, out / f"fold{f.fold}_top_good_maps.jpg")


if __name__ == "__main__":
    main()
