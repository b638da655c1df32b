# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Issue 12, round 4: a defect head trained on synthetic defects planted on good tiles.

Same protocol as ``flow_exp.py`` (its fold split, threshold and evaluation, reused): for one fold
the good tiles of the other folds are split 80/20 (fit / held-out calibration). Synthetic defects
(:mod:`inspection.vision.defect_synth`) are planted on the fit tiles, their features extracted by
the product's extractor, and a small conv head on the frozen features learns patch "defect vs
good". Scores: the head alone, and the head's z-score (by the held-out good tiles) added to the
memory bank's.

usage: .venv/bin/python experiments/synth_exp.py --name head [--fold F] [options]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import flow_exp as fx

from inspection.imageio import read_image
from inspection.vision.defect_synth import KINDS, plant
from inspection.vision.goodset import feature_extractors, prepare_image

DATA = Path("/work/shared/datasets/mtd")
fx.CACHE = Path(os.environ.get("SYNTH_CACHE", "/work/cache"))
fx.RESULTS = Path(__file__).resolve().parent / "results" / "synth.jsonl"


def synth_features(fold: int, items: list[dict], fit: list[int], per_tile: int, seed: int,
                   kinds: tuple[str, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    path = fx.CACHE / f"synth_fold{fold}_n{per_tile}_s{seed}_{'-'.join(kinds)}.npz"
    if path.exists():
        z = np.load(path)
        n = int(z["n"])
        return [(z[f"f{k}"].astype(np.float32), z[f"c{k}"]) for k in range(n)]
    extract = feature_extractors.create("effnet-lite0", threads=1, device="cpu", precision="fp32")
    rng = np.random.default_rng(seed)
    out = []
    t0 = time.perf_counter()
    for j, i in enumerate(fit):
        img = read_image(DATA / items[i]["path"])
        for _ in range(per_tile):
            donor = read_image(DATA / items[fit[int(rng.integers(len(fit)))]]["path"])
            syn, mask, _ = plant(img, rng, kinds=kinds, donor=donor)
            prep = prepare_image(syn, 224, "percentile")
            f = extract(prep)
            cov = cv2.resize(mask.astype(np.float32), (f.shape[1], f.shape[0]), interpolation=cv2.INTER_AREA)
            out.append((f, cov))
        if j % 100 == 0:
            print(f"  synth {j}/{len(fit)} {time.perf_counter() - t0:.0f}s", flush=True)
    np.savez(path, n=len(out), **{f"f{k}": f.astype(np.float16) for k, (f, _) in enumerate(out)},
             **{f"c{k}": c for k, (_, c) in enumerate(out)})
    return out


class Head(nn.Module):
    def __init__(self, c: int, hidden: int, k: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(c, hidden, 1), nn.ReLU(),
                                 nn.Conv2d(hidden, hidden, k, padding=k // 2, padding_mode="replicate"),
                                 nn.ReLU(), nn.Conv2d(hidden, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[:, 0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--fold", type=int)
    ap.add_argument("--per-tile", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kinds", nargs="+", default=list(KINDS))
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--max-train-s", type=float, default=150)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=24)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--pos", type=float, default=0.3, help="coverage that makes a cell a defect")
    ap.add_argument("--top-k", type=int, default=50)
    ap.add_argument("--bank", default="bank", help="name of the bank maps to ensemble with")
    args = ap.parse_args()
    fold, items, fit, cal, test, data = fx.load_fold(args.fold)
    syn = synth_features(fold, items, fit, args.per_tile, args.seed, tuple(args.kinds))
    feats = np.concatenate([data[i]["feats"].reshape(-1, 232) for i in fit])
    mu, sd = feats.mean(0), feats.std(0) + 1e-6

    def tens(f: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(((f - mu) / sd).transpose(2, 0, 1).astype(np.float32).copy())

    xs = [tens(data[i]["feats"]) for i in fit] + [tens(f) for f, _ in syn]
    ys, ws = [], []
    for i in fit:
        h, w = data[i]["feats"].shape[:2]
        ys.append(torch.zeros(h, w))
        ws.append(torch.ones(h, w))
    for _, cov in syn:
        c = torch.from_numpy(cov)
        ys.append((c >= args.pos).float())
        ws.append(((c >= args.pos) | (c == 0)).float())
    npos = float(sum(float(y.sum()) for y in ys))
    nneg = float(sum(float(((y == 0) & (w > 0)).sum()) for y, w in zip(ys, ws, strict=True)))
    pos_weight = min(50.0, nneg / max(npos, 1.0))
    print(f"fold {fold}: {len(xs)} maps, {npos:.0f} defect cells, {nneg:.0f} good, pos weight {pos_weight:.1f}")
    torch.manual_seed(args.seed)
    model = Head(232, args.hidden, args.k)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=1e-4)
    rng = np.random.default_rng(args.seed)
    crop = args.crop
    t0 = time.perf_counter()
    step, losses = 0, []
    while step < args.steps and time.perf_counter() - t0 < args.max_train_s:
        xb, yb, wb = [], [], []
        for k in rng.integers(len(xs), size=args.batch):
            x, y, w = xs[int(k)], ys[int(k)], ws[int(k)]
            y0 = int(rng.integers(x.shape[1] - crop + 1))
            x0 = int(rng.integers(x.shape[2] - crop + 1))
            xb.append(x[:, y0:y0 + crop, x0:x0 + crop])
            yb.append(y[y0:y0 + crop, x0:x0 + crop])
            wb.append(w[y0:y0 + crop, x0:x0 + crop])
        logit = model(torch.stack(xb))
        yt, wt = torch.stack(yb), torch.stack(wb)
        loss = (nn.functional.binary_cross_entropy_with_logits(
            logit, yt, pos_weight=torch.tensor(pos_weight), reduction="none") * wt).sum() / wt.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        losses.append(float(loss))
        if step % 250 == 0:
            print(f"  step {step} loss {np.mean(losses[-250:]):.4f} {time.perf_counter() - t0:.0f}s", flush=True)
    train_s = time.perf_counter() - t0
    model.eval()
    maps, ms = {}, []
    with torch.no_grad():
        for i in list(test) + list(cal):
            t1 = time.perf_counter()
            maps[i] = model(tens(data[i]["feats"])[None])[0].numpy()
            ms.append((time.perf_counter() - t1) * 1e3)
    extra = {"train_s": train_s, "steps": step, "ms_model": float(np.median(ms)), "args": vars(args)}
    fx.evaluate(args.name, fold, items, test, cal, maps, data, score_fn=lambda m: fx.top_k(m, args.top_k),
                extra=extra)
    for k in (1, 10):
        fx.evaluate(f"{args.name}_top{k}", fold, items, test, cal, maps, data,
                    score_fn=lambda m, k=k: fx.top_k(m, k), extra=extra)
    bank_file = fx.CACHE / f"maps_{args.bank}_fold{fold}.npz"
    if bank_file.exists():
        z = np.load(bank_file)
        bank = {i: z[str(i)] for i in list(test) + list(cal)}
        for label, kb in (("", args.top_k), ("_top10", 10)):
            # per-map z-scores by the held-out good tiles' patch statistics, summed
            def zs(mp: dict, k: int) -> tuple[float, float]:
                s = np.array([fx.top_k(mp[i], k) for i in cal])
                return float(s.mean()), float(s.std() + 1e-9)
            mb, sb = zs(bank, fx.TOP_K)
            mh, sh = zs(maps, kb)
            ens = {i: (bank[i] - mb) / sb + (maps[i] - mh) / sh for i in list(test) + list(cal)}
            fx.evaluate(f"{args.name}_ens{label}", fold, items, test, cal, ens, data,
                        score_fn=lambda m: fx.top_k(m, fx.TOP_K), extra=extra)


if __name__ == "__main__":
    main()
