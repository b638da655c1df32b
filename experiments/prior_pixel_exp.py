# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Issue 12, round 6: does the part-level term or prior help the localisation map? Each test tile's
heat map (round 3's bank maps, blurred as the product draws them) is offset by a per-tile constant:
its image-level term, the term less the prior of its 3 nearest held-out good tiles (``prior_exp.py``),
or minus the prior alone, all in the patch distance's units; pixel AUROC over the fold's tiles.

usage: SYNTH_CACHE=CACHE .venv/bin/python experiments/prior_pixel_exp.py [FOLD]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import sys

import numpy as np
from flow_exp import CACHE, heat, top_k
from prior_exp import load_terms

from inspection.vision.goodset import auroc


def main() -> None:
    f = load_terms(int(sys.argv[1]) if len(sys.argv) > 1 else None)
    fold, cal, test, data, cz, tz, ct, tt = f.fold, f.cal, f.test, f.data, f.cal_z, f.test_z, f.cal_dist, f.test_dist
    z = np.load(CACHE / f"maps_bank_fold{fold}.npz")
    cs = np.array([top_k(z[str(i)]) for i in cal])
    base_c = (cs - cs.mean()) / cs.std() + (ct - ct.mean()) / ct.std()
    nearest = np.argsort(np.sqrt(((tz[:, None] - cz[None]) ** 2).sum(-1)), 1)[:, :3]
    prior = 0.5 * base_c[nearest].mean(1) * cs.std()  # in the patch distance's units
    term = (tt - ct.mean()) / ct.std() * cs.std()
    maps = {}
    for i in test:
        h = heat(z[str(i)], data[i]["shape"])[::4, ::4]
        m = data[i]["mask"]
        maps[i] = (h[: m.shape[0], : m.shape[1]].ravel(), m.ravel())
    labels = np.concatenate([maps[i][1] for i in test]) > 0
    for name, off in (("as drawn", np.zeros(len(test))), ("minus the prior", -prior),
                      ("plus the term less the prior", term - prior), ("plus the term", term)):
        s = np.concatenate([maps[i][0] + off[j] for j, i in enumerate(test)])
        print(f"fold {fold} {name:30s} pixel AUROC {auroc(s, labels):.4f}")


if __name__ == "__main__":
    main()
