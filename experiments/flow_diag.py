# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Diagnostics on saved map sets (cache/maps_<name>_fold<f>.npz) of flow_exp.py: the share of the
top-50 patch anomalies on the outer ring of cells (``ring`` cells wide), good vs defective tiles,
and the image AUROC when the ring is left out of the image score.

usage: .venv/bin/python experiments/flow_diag.py FOLD NAME [NAME ...]
"""

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # one BLAS thread (numpy), before numpy is imported

import json
import sys
from pathlib import Path

import numpy as np

from inspection.vision.goodset import auroc

CACHE = Path(__file__).resolve().parent.parent / "cache"


def main() -> None:
    fold = int(sys.argv[1])
    items = json.loads((CACHE / "index.json").read_text())["items"]
    for name in sys.argv[2:]:
        z = np.load(CACHE / f"maps_{name}_fold{fold}.npz")
        test = [int(k) for k in z.files if items[int(k)]["fold"] == fold]
        bad = np.array([items[i]["folder"] != "MT_Free" for i in test])
        for ring in (1, 2):
            share, inner = [], []
            for i in test:
                a = z[str(i)]
                m = np.zeros(a.shape, bool)
                m[ring:-ring, ring:-ring] = True
                top = np.argsort(a.ravel())[-50:]
                share.append(float((~m.ravel()[top]).mean()))
                v = a[m]
                inner.append(float(np.sort(v)[-50:].mean()))
            share_a = np.array(share)
            print(f"{name}: ring {ring}: top-50 on ring good {share_a[~bad].mean():.2f} defective "
                  f"{share_a[bad].mean():.2f}; image AUROC without ring {auroc(np.array(inner), bad):.4f}")


if __name__ == "__main__":
    main()
