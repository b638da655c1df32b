# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Issue 12, round 8: judge a tile's patches against the patches of the good tiles that look like it.

SPADE-like (Cohen & Hoshen 2020): the K taught tiles nearest in the image-level descriptor (block 10's
mean and spread, the product's term) are found first, and each patch's anomaly is its distance to the
nearest patch of those K tiles only ("local bank"), instead of to a coreset of all taught patches
("global bank"). The global bank accepts a patch that is normal *anywhere* (a dark groove of one run
explains a dark pore on another); the local bank asks whether it is normal for tiles of this look.

Held-out protocol (``flow_exp.load_fold``: 436 fit tiles, 109 held-out calibration tiles), PCA 64
fitted on the fit tiles, the round-6 score around it (image-level term, prior K 3, a 0.5). Each fit
tile keeps a seeded random share of its patches (``--keep``), or a per-tile coreset (``--tile-coreset
N``), so the local bank's size is K x kept patches. Variants: local alone; z(local) + z(global) (the
global maps are the round-7 product maps, ``score_exp.maps_for``).

usage: SYNTH_CACHE=CACHE .venv/bin/python experiments/local_bank_exp.py [--fold F] [--ks 3 10 30]
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
from flow_exp import CACHE, GOOD, top_k
from prior_exp import load_terms, result_row
from score_exp import maps_for

from inspection.vision.goodset import auroc, pixel_map, threshold_at_frr
from inspection.vision.memory_bank import coreset, fit_projection, nearest_distances

RESULTS = Path(os.environ.get("LOCAL_RESULTS", str(Path(__file__).resolve().parent / "results" / "local_bank.jsonl")))


def tile_rows(tiles: list[int], data: dict, mean: np.ndarray, comp: np.ndarray, *, copies: bool,
              keep: int) -> list[np.ndarray]:
    """Per tile: its projected patches (and its cached over-lit copy's with ``copies``), a coreset of
    ``keep`` of them when ``keep`` > 0 (seeded by the tile's index)."""
    rows = []
    for i in tiles:
        x = (data[i]["feats"].reshape(-1, 232) - mean) @ comp
        if copies:
            p = CACHE / "overlit" / f"{i}_copy.npy"
            if not p.exists():
                raise SystemExit(f"no over-lit copy cached for tile {i}: run scale_cache.py / highlight_exp.py")
            x = np.concatenate([x, (np.load(p).astype(np.float32).reshape(-1, 232) - mean) @ comp])
        if keep and x.shape[0] > keep:
            x = x[coreset(x, keep, seed=i)]
        rows.append(np.ascontiguousarray(x, dtype=np.float32))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fold", type=int, default=None)
    ap.add_argument("--ks", type=int, nargs="+", default=[3, 10, 30])
    ap.add_argument("--tile-coreset", type=int, default=0, help="rows kept per fit tile (0: all)")
    ap.add_argument("--copies", action="store_true", help="the fit tiles' over-lit copies join their tile")
    ap.add_argument("--seed", type=int, default=0, help="the global bank's coreset seed (round-7 maps)")
    ap.add_argument("--pixel", action="store_true")
    ap.add_argument("--prior", type=float, nargs="+", default=[0.5], help="prior weights a")
    args = ap.parse_args()
    f = load_terms(args.fold)
    fit, cal, test, data = f.fit, f.cal, f.test, f.data
    mean, comp = fit_projection(np.concatenate([data[i]["feats"].reshape(-1, 232) for i in fit]), 64, seed=0)
    t0 = time.perf_counter()
    rows = tile_rows(fit, data, mean, comp, copies=args.copies, keep=args.tile_coreset)
    prep_s = time.perf_counter() - t0
    # image-level descriptors: the fit tiles' (standardised as load_terms does) for the neighbours
    def desc(i: int) -> np.ndarray:
        r = data[i]["feats"].reshape(-1, 232)[:, 120:232]
        return np.concatenate([r.mean(0), r.std(0)])

    fz = np.stack([desc(i) for i in fit])
    mu, sd = fz.mean(0), fz.std(0) + 1e-6
    fz = (fz - mu) / sd
    cz, ct = f.cal_z, f.cal_dist
    dc = np.sqrt(((cz[:, None] - cz[None]) ** 2).sum(-1))
    np.fill_diagonal(dc, np.inf)
    nc = np.argsort(dc, 1)[:, :3]
    nt = np.argsort(np.sqrt(((f.test_z[:, None] - cz[None]) ** 2).sum(-1)), 1)[:, :3]
    folder = np.array([f.items[i]["folder"] for i in test])
    good = folder == GOOD
    gmaps = maps_for(f, args.seed)

    def nearest_fit(i: int, k: int) -> np.ndarray:
        z = (desc(i) - mu) / sd
        return np.argsort(np.sqrt(((fz - z) ** 2).sum(1)))[:k]

    def score(cs: np.ndarray, ts: np.ndarray, a: float) -> tuple[np.ndarray, float]:
        c = (cs - cs.mean()) / cs.std() + (ct - ct.mean()) / ct.std()
        thr = threshold_at_frr(c - a * c[nc].mean(1), 0.01)
        s = (ts - cs.mean()) / cs.std() + (f.test_dist - ct.mean()) / ct.std() - a * c[nt].mean(1)
        return s, thr

    def oracle(s: np.ndarray) -> dict:
        """Share of defective tiles over the test good tiles' 99th / 95th percentile (not deployable)."""
        g = np.sort(s[good])
        cut = {q: g[int(np.ceil(len(g) * (1 - q / 100))) - 1] for q in (1, 2, 5)}
        return {f"oracle_rec_at_{q}pct": round(float((s[~good] > cut[q]).mean()), 3)
                for q in (1, 2, 5)}

    for k in args.ks:
        t1 = time.perf_counter()
        lmaps = {}
        for i in list(cal) + list(test):
            bank = np.concatenate([rows[j] for j in nearest_fit(i, k)])
            x = data[i]["feats"]
            lmaps[i] = nearest_distances((x.reshape(-1, 232) - mean) @ comp, bank).reshape(x.shape[:2])
        score_s = (time.perf_counter() - t1) / (len(cal) + len(test))
        base = {"fold": f.fold, "k": k, "tile_coreset": args.tile_coreset, "copies": args.copies,
                "global_seed": args.seed, "prep_s": round(prep_s, 1), "numpy_ms_per_tile": round(score_s * 1e3, 1),
                "bank_rows": int(np.mean([sum(rows[j].shape[0] for j in nearest_fit(i, k)) for i in test[:20]]))}
        lc = np.array([top_k(lmaps[i]) for i in cal])
        lt = np.array([top_k(lmaps[i]) for i in test])
        gc = np.array([top_k(gmaps[i]) for i in cal])
        gt = np.array([top_k(gmaps[i]) for i in test])
        variants = {"global (round 7)": (gc, gt), "local": (lc, lt),
                    "z(local) + z(global)": ((lc - lc.mean()) / lc.std() + (gc - gc.mean()) / gc.std(),
                                             (lt - lc.mean()) / lc.std() + (gt - gc.mean()) / gc.std())}
        for name, (cs, ts) in variants.items():
            if name.startswith("global") and k != args.ks[0]:
                continue
            pixel = {}
            if args.pixel and not name.startswith("global"):
                ps, pl = [], []
                for i in test:
                    m = data[i]["mask"]
                    amap = lmaps[i] if name == "local" else (
                        (lmaps[i] - lc.mean()) / lc.std() + (gmaps[i] - gc.mean()) / gc.std())
                    h = pixel_map(amap, data[i]["shape"], sigma=5.0 * data[i]["shape"][0] / amap.shape[0])[::4, ::4]
                    ps.append(h[: m.shape[0], : m.shape[1]].ravel())
                    pl.append(m.ravel() > 0)
                pixel["pixel_s5"] = round(auroc(np.concatenate(ps), np.concatenate(pl)), 4)
            for a in args.prior:
                s, thr = score(cs, ts, a)
                row = result_row(s, good, thr, **base, variant=name, prior=a) | oracle(s) | pixel
                print(json.dumps(row), flush=True)
                with RESULTS.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")

if __name__ == "__main__":
    main()
