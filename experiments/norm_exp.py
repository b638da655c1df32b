# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Issue 12, round 10: per-image grey-level normalisation before the good-set model, by physical tile.

The product's bench (``inspection bench mtd-kfold``) with every tile image (never a mask) passed
through one normalisation before teaching and scoring; everything else is the product's:

- ``robust``: (x - median) / IQR x 37 + 109, clipped to 0-255 (37 and 109: the median IQR and the
  median grey level of every third MT_Free tile, computed once before any run);
- ``clahe``: OpenCV's contrast-limited adaptive histogram equalisation (clip limit 2, 8 x 8 tiles),
  the usual per-image normalisation of inspection images;
- ``none``: the product as it is (the same command, for a paired comparison).

MTD's runs are lights: a new physical tile comes under a light whose level and contrast the taught
tiles may not share. The question is whether taking level and contrast out of the image lets the
bank compare texture alone.

usage: (repo root) .venv/bin/python experiments/norm_exp.py robust -- DATA --out OUT --group tile ...
(the arguments after ``--`` are the bench's)

Decided before any run: the variant with the higher AUROC on the validation fold 0 is the one
compared with the product on the reported folds; it is adopted only if it beats the product there.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import sys
from pathlib import Path

import cv2
import numpy as np

import inspection.bench.mtd_kfold as kfold
from inspection.imageio import read_image

MEDIAN, IQR = 109.0, 37.0


def robust(image: np.ndarray) -> np.ndarray:
    x = image.astype(np.float32)
    q25, q50, q75 = np.percentile(x, [25, 50, 75])
    y = (x - q50) / max(float(q75 - q25), 1.0) * IQR + MEDIAN
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)


def clahe(image: np.ndarray) -> np.ndarray:
    eq = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
    if image.ndim == 2:
        return eq.apply(image)
    return np.stack([eq.apply(np.ascontiguousarray(image[..., c])) for c in range(image.shape[2])], axis=-1)


NORMS = {"robust": robust, "clahe": clahe, "none": lambda image: image}


def main() -> int:
    if len(sys.argv) < 3 or sys.argv[2] != "--" or sys.argv[1] not in NORMS:
        print(__doc__)
        return 2
    norm = NORMS[sys.argv[1]]

    def read(path: Path | str, *args: object, **kwargs: object) -> np.ndarray:
        image = read_image(path, *args, **kwargs)  # type: ignore[arg-type]
        return norm(image) if Path(path).suffix.lower() != ".png" else image  # masks are .png

    kfold.read_image = read  # type: ignore[assignment]
    from inspection.cli import main as cli

    return int(cli(["bench", "mtd-kfold", *sys.argv[3:]]) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
