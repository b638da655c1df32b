# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Issue 12, round 8: the local bank (``local_bank_exp.py``) calibrated as the product would calibrate it.

The product's threshold comes from every taught tile's held-out score (5-fold calibration, about 545
scores). A local bank needs no calibration banks: a taught tile is scored against the patches of its
K nearest *other* taught tiles (leave-one-out), exactly as an inspected part is scored against its K
nearest taught tiles. Here the 545 good tiles of the fold's training runs are the taught tiles (fit and
calibration tiles of ``flow_exp.load_fold`` together), each scored leave-one-out; the image-level term
is leave-one-out too (as the product since round 7), the prior is the round-6 prior (K 3, ``--prior``),
and the threshold is the 1% false-reject point of the 545 adjusted scores; the fold's 150 tiles are
scored once.

The global bank for comparison is the product bench's result for the same fold (``--only 1``:
docs/bench/mtd_round7/val_exp1_loo_*), not recomputed here.

usage: SYNTH_CACHE=CACHE .venv/bin/python experiments/local_loo_exp.py [--fold F] [--ks 3] [--copies]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
import time
from pathlib import Path

import numpy as np
from flow_exp import GOOD, top_k
from local_bank_exp import tile_rows
from prior_exp import result_row

from inspection.vision.goodset import auroc, pixel_map, threshold_at_frr
from inspection.vision.memory_bank import fit_projection, nearest_distances

RESULTS = Path(os.environ.get("LOCAL_RESULTS",
                              str(Path(__file__).resolve().parent / "results" / "local_bank.jsonl")))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fold", type=int, default=None)
    ap.add_argument("--ks", type=int, nargs="+", default=[3])
    ap.add_argument("--tile-coreset", type=int, default=0, help="rows kept per taught tile (0: all)")
    ap.add_argument("--copies", action="store_true", help="the taught tiles' over-lit copies join their tile")
    ap.add_argument("--prior", type=float, nargs="+", default=[0.5])
    ap.add_argument("--pixel", action="store_true")
    ap.add_argument("--sigmas", type=float, nargs="+", default=[5.0], help="map blurs, patches (--pixel)")
    args = ap.parse_args()
    from flow_exp import load_fold

    fold, items, fit, cal, test, data = load_fold(args.fold)
    taught = list(fit) + list(cal)
    mean, comp = fit_projection(np.concatenate([data[i]["feats"].reshape(-1, 232) for i in taught]), 64, seed=0)
    t0 = time.perf_counter()
    rows = tile_rows(taught, data, mean, comp, copies=args.copies, keep=args.tile_coreset)
    prep_s = time.perf_counter() - t0

    def desc(i: int) -> np.ndarray:
        r = data[i]["feats"].reshape(-1, 232)[:, 120:232]
        return np.concatenate([r.mean(0), r.std(0)])

    tz = np.stack([desc(i) for i in taught])
    mu, sd = tz.mean(0), tz.std(0) + 1e-6
    tz = (tz - mu) / sd
    dtt = np.sqrt(((tz[:, None] - tz[None]) ** 2).sum(-1))
    np.fill_diagonal(dtt, np.inf)  # leave-one-out among the taught tiles
    qz = (np.stack([desc(i) for i in test]) - mu) / sd
    dqt = np.sqrt(((qz[:, None] - tz[None]) ** 2).sum(-1))
    order_t, order_q = np.argsort(dtt, 1), np.argsort(dqt, 1)
    term_t = np.sort(dtt, 1)[:, :3].mean(1)
    term_q = np.sort(dqt, 1)[:, :3].mean(1)
    folder = np.array([items[i]["folder"] for i in test])
    good = folder == GOOD

    def amap(i: int, neighbours: np.ndarray) -> np.ndarray:
        bank = np.concatenate([rows[j] for j in neighbours])
        x = data[i]["feats"]
        return nearest_distances((x.reshape(-1, 232) - mean) @ comp, bank).reshape(x.shape[:2])

    for k in args.ks:
        t1 = time.perf_counter()
        cmaps = [amap(i, order_t[n, :k]) for n, i in enumerate(taught)]
        qmaps = [amap(i, order_q[n, :k]) for n, i in enumerate(test)]
        ms = (time.perf_counter() - t1) / (len(taught) + len(test)) * 1e3
        cs = np.array([top_k(m) for m in cmaps])
        qs = np.array([top_k(m) for m in qmaps])
        c = (cs - cs.mean()) / cs.std() + (term_t - term_t.mean()) / term_t.std()
        q = (qs - cs.mean()) / cs.std() + (term_q - term_t.mean()) / term_t.std()
        pixel = {}
        for sigma in args.sigmas if args.pixel else []:
            ps, pl = [], []
            for n, i in enumerate(test):
                m = data[i]["mask"]
                h = pixel_map(qmaps[n], data[i]["shape"], sigma=sigma * data[i]["shape"][0] / qmaps[n].shape[0])
                ps.append(h[::4, ::4][: m.shape[0], : m.shape[1]].ravel())
                pl.append(m.ravel() > 0)
            pixel[f"pixel_s{sigma:g}"] = round(auroc(np.concatenate(ps), np.concatenate(pl)), 4)
        for a in args.prior:
            cal_adj = c - a * c[order_t[:, :3]].mean(1)
            thr = threshold_at_frr(cal_adj, 0.01)
            s = q - a * c[order_q[:, :3]].mean(1)
            g = np.sort(s[good])
            oracle = {f"oracle_rec_at_{p}pct": round(float((s[~good] > g[int(np.ceil(len(g) * (1 - p / 100))) - 1])
                                                           .mean()), 3) for p in (1, 2, 5)}
            per_type = {n: int((s[folder == n] > thr).sum()) for n in sorted(set(folder) - {GOOD})}
            top_cal = [items[taught[j]]["path"] for j in np.argsort(cal_adj)[-3:][::-1]]
            row = result_row(s, good, thr, protocol="leave-one-out calibration", fold=fold, k=k,
                             tile_coreset=args.tile_coreset, copies=args.copies, prior=a,
                             prep_s=round(prep_s, 1), numpy_ms_per_tile=round(ms, 1),
                             test_good_max_over_thr=round(float(g[-1] - thr), 3),
                             highest_calibration_tiles=top_cal, rejected_per_type=per_type) | oracle | pixel
            print(json.dumps(row), flush=True)
            with RESULTS.open("a") as fh:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
