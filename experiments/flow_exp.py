# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Issue 12, round 3: a normalizing-flow density model on the frozen Lite0 patch features.

Reads the feature cache of ``flow_cache.py``. For one fold (default: the validation fold, the one
holding exp1) the good tiles of the other folds are split exactly as ``goodset.teach(folds=0,
calibration_share=0.2, seed=0)`` splits them: 80% to fit, 20% held out to set the threshold at the
1% false-reject target. Models:

- ``bank``: the product's memory bank (PCA 64, coreset 5000 from a 200,000-patch sample, top-50),
  recomputed on the cached features (same code: memory_bank.fit_projection/coreset/nearest_distances);
- ``flow``: FastFlow-like 2D flow (affine coupling blocks with conv subnets, alternating 3x3 and 1x1
  kernels, a fixed random orthogonal channel mix between blocks) on the features (PCA-projected and
  whitened, or all 232 channels standardised), trained by maximum likelihood on the fit tiles'
  feature maps only (crops of full width); patch anomaly = negative log-likelihood;
- ensembles of both (scores normalised by the held-out good tiles, summed; and the rank-normalised
  sum over the scored fold, for AUROC only).

One thread everywhere. Prints and appends one JSON line per model to experiments/results/flow.jsonl.

usage: .venv/bin/python experiments/flow_exp.py --name flow_pca64 [--fold F] [flow options]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # one BLAS thread (numpy), before numpy is imported


import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from inspection.vision.goodset import auroc, pixel_map, threshold_at_frr
from inspection.vision.memory_bank import coreset, fit_projection, nearest_distances

torch.set_num_threads(1)
torch.set_num_interop_threads(1)
cv2.setNumThreads(1)

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("SYNTH_CACHE", str(ROOT / "cache")))
RESULTS = Path(os.environ.get("EXP_RESULTS", str(ROOT / "experiments" / "results" / "flow.jsonl")))
GOOD = "MT_Free"
MAP_SIGMA = 5.0
TOP_K = 50
FRR = 0.01


def load_fold(fold: int | None) -> tuple[int, list[dict], list[int], list[int], list[int], dict]:
    idx = json.loads((CACHE / "index.json").read_text())
    items = idx["items"]
    f = idx["val_fold"] if fold is None else fold
    train = [r["i"] for r in items if r["fold"] != f and r["folder"] == GOOD]
    test = [r["i"] for r in items if r["fold"] == f]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(train))
    n_cal = min(len(train) - 1, max(1, round(len(train) * 0.2)))
    cal = [train[int(k)] for k in order[:n_cal]]
    fit = [train[int(k)] for k in order[n_cal:]]
    feats = {i: np.load(CACHE / "feats" / f"{i}.npz") for i in set(fit) | set(cal) | set(test)}
    cache = {i: {"feats": z["feats"].astype(np.float32), "mask": z["mask"], "shape": tuple(z["shape"])}
             for i, z in feats.items()}
    return f, items, fit, cal, test, cache | {"_rng": rng}  # type: ignore[operator]


def top_k(amap: np.ndarray, k: int = TOP_K) -> float:
    flat = amap.ravel()
    k = min(k, flat.size)
    return float(np.partition(flat, flat.size - k)[flat.size - k:].mean())


def heat(amap: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return pixel_map(amap, shape, sigma=MAP_SIGMA * shape[0] / amap.shape[0])


def evaluate(name: str, fold: int, items: list[dict], test: list[int], cal: list[int],
             maps: dict[int, np.ndarray], data: dict, score_fn=top_k, extra: dict | None = None) -> dict:
    folder = np.array([items[i]["folder"] for i in test])
    good = folder == GOOD
    s = np.array([score_fn(maps[i]) for i in test])
    cal_s = np.array([score_fn(maps[i]) for i in cal])
    thr = threshold_at_frr(cal_s, FRR)
    ps, pl = [], []
    for i in test:
        h = heat(maps[i], data[i]["shape"])[::4, ::4]
        m = data[i]["mask"]
        ps.append(h[:m.shape[0], :m.shape[1]].ravel())
        pl.append(m.ravel())
    out = {"name": name, "fold": fold, "image_auroc": auroc(s, ~good),
           "per_defect_auroc": {n: auroc(s[(folder == n) | good], ~good[(folder == n) | good])
                                for n in sorted(set(folder) - {GOOD})},
           "pixel_auroc": auroc(np.concatenate(ps), np.concatenate(pl)),
           "threshold": thr, "good_rejected": int((s[good] > thr).sum()), "good": int(good.sum()),
           "defective_rejected": int((s[~good] > thr).sum()), "defective": int((~good).sum()),
           "per_defect_rejected": {n: float((s[folder == n] > thr).mean()) for n in sorted(set(folder) - {GOOD})}}
    out["recall_at_thr"] = out["defective_rejected"] / out["defective"]
    out["frr_at_thr"] = out["good_rejected"] / out["good"]
    out.update(extra or {})
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()
                      if k not in ("per_defect_auroc", "per_defect_rejected")}), flush=True)
    print("  per defect AUROC", {k: round(v, 3) for k, v in out["per_defect_auroc"].items()},
          "rejected", {k: round(v, 2) for k, v in out["per_defect_rejected"].items()}, flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as fh:
        fh.write(json.dumps(out) + "\n")
    np.savez_compressed(CACHE / f"maps_{name}_fold{fold}.npz",
                        **{str(i): maps[i] for i in list(test) + list(cal)})
    return out


# ---------------------------------------------------------------- memory bank (the product's model)
def bank_maps(fit: list[int], cal: list[int], test: list[int], data: dict, max_patches: int) -> tuple[dict, dict]:
    rng = data["_rng"]
    feats = [data[i]["feats"].reshape(-1, data[i]["feats"].shape[-1]) for i in fit]
    t0 = time.perf_counter()
    mean, comp = fit_projection(np.concatenate(feats), 64, seed=0)
    pool = np.concatenate(feats)
    if pool.shape[0] > max_patches:
        pool = pool[rng.choice(pool.shape[0], max_patches, replace=False)]
    pool = (pool - mean) @ comp
    bank = np.ascontiguousarray(pool[coreset(pool, 5000, seed=0)])
    teach_s = time.perf_counter() - t0
    maps, ms = {}, []
    for i in list(test) + list(cal):
        f = data[i]["feats"]
        t1 = time.perf_counter()
        raw = f.reshape(-1, f.shape[-1])
        maps[i] = nearest_distances((raw - mean) @ comp, bank).reshape(f.shape[:2])
        ms.append((time.perf_counter() - t1) * 1e3)
    return maps, {"teach_s": teach_s, "ms_model": float(np.median(ms))}


# ---------------------------------------------------------------- the flow
class Coupling(nn.Module):
    """Affine coupling: the second half of the channels scaled and shifted by a conv net of the
    first half; soft-clamped log-scale (as FrEIA's AllInOneBlock); then a fixed orthogonal mix."""

    def __init__(self, c: int, hidden: int, k: int, clamp: float, seed: int, cond: int = 0) -> None:
        super().__init__()
        self.c1 = c // 2
        self.clamp = clamp
        self.net = nn.Sequential(
            nn.Conv2d(self.c1 + cond, hidden, k, padding=k // 2, padding_mode="replicate"), nn.ReLU(),
            nn.Conv2d(hidden, 2 * (c - self.c1), k, padding=k // 2, padding_mode="replicate"))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        g = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(c, c, generator=g))
        self.register_buffer("mix", q[:, :, None, None].contiguous())

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        x1, x2 = x[:, :self.c1], x[:, self.c1:]
        s, t = self.net(x1 if cond is None else torch.cat([x1, cond], 1)).chunk(2, 1)
        s = self.clamp * torch.tanh(s / self.clamp)
        y = torch.cat([x1, x2 * torch.exp(s) + t], 1)
        return nn.functional.conv2d(y, self.mix), s.sum(1)


class Flow(nn.Module):
    def __init__(self, c: int, blocks: int, hidden: int, kernels: tuple[int, ...], clamp: float,
                 cond: int = 0) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Coupling(c, hidden, kernels[b % len(kernels)], clamp, seed=b, cond=cond)
                                    for b in range(blocks))

    def nll(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """(N, C, H, W) -> (N, H, W): negative log-likelihood per position (without the constant),
        conditioned on ``cond`` (N, K, H, W) when given (CFlow-like)."""
        logdet = torch.zeros(x.shape[0], *x.shape[2:])
        for b in self.blocks:
            x, ld = b(x, cond)
            logdet = logdet + ld
        return 0.5 * (x ** 2).sum(1) - logdet


def flow_maps(args: argparse.Namespace, fit: list[int], cal: list[int], test: list[int],
              data: dict) -> tuple[dict, dict]:
    t0 = time.perf_counter()
    lo, hi = args.channels
    st = args.stride
    nc = hi - lo

    def sub(i: int) -> np.ndarray:  # one tapped block's channels at its own stride (FastFlow per scale)
        return data[i]["feats"][::st, ::st, lo:hi]

    raw = np.concatenate([sub(i).reshape(-1, nc) for i in fit])
    if args.dims < nc:
        mean, comp = fit_projection(raw, args.dims, seed=0)
    else:
        mean, comp = raw.mean(0), np.eye(nc, dtype=np.float32)
    proj = (raw - mean) @ comp
    scale = proj.std(0) + 1e-6
    comp = (comp / scale).astype(np.float32)  # whitened (PCA) / standardised (all channels)

    def prep(i: int) -> torch.Tensor:
        f = sub(i)
        return torch.from_numpy(((f.reshape(-1, nc) - mean) @ comp).reshape(*f.shape[:2], -1)
                                .transpose(2, 0, 1).copy())

    def border(i: int) -> torch.Tensor | None:
        """Condition: closeness to each of the 4 tile sides, exp(-cells / 1.5) (4, h, w); tile borders
        look unlike the inside, and an unconditional density calls them rare, i.e. anomalous."""
        if not args.cond:
            return None
        h, w = data[i]["feats"][::st, ::st].shape[:2]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        d = np.stack([yy, h - 1 - yy, xx, w - 1 - xx]) * st
        return torch.from_numpy(np.exp(-d / 1.5).astype(np.float32))

    fit_x = [prep(i) for i in fit]
    fit_c = [border(i) for i in fit]
    torch.manual_seed(args.seed)
    model = Flow(comp.shape[1], args.blocks, args.hidden, tuple(args.kernels), args.clamp,
                 cond=4 if args.cond else 0)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=1e-5)
    rng = np.random.default_rng(args.seed)
    crop = args.crop
    steps = 0
    losses = []
    t_train = time.perf_counter()
    while steps < args.steps and time.perf_counter() - t_train < args.max_train_s:
        batch, cbatch = [], []
        for k in rng.integers(len(fit_x), size=args.batch):
            x = fit_x[int(k)]
            c = fit_c[int(k)]
            y0 = int(rng.integers(x.shape[1] - crop + 1))
            x0 = int(rng.integers(x.shape[2] - crop + 1))
            batch.append(x[:, y0:y0 + crop, x0:x0 + crop])  # short side is 28 cells: whole width or height
            if c is not None:
                cbatch.append(c[:, y0:y0 + crop, x0:x0 + crop])
        xb = torch.stack(batch)
        loss = model.nll(xb, torch.stack(cbatch) if cbatch else None).mean() / xb.shape[1]
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        steps += 1
        losses.append(float(loss.detach()))
        if steps % 100 == 0:
            print(f"  step {steps} loss {np.mean(losses[-100:]):.4f} {time.perf_counter() - t_train:.0f}s",
                  flush=True)
    teach_s = time.perf_counter() - t0
    model.eval()
    maps, ms = {}, []
    with torch.no_grad():
        for i in list(test) + list(cal):
            t1 = time.perf_counter()
            c = border(i)
            m = model.nll(prep(i)[None], None if c is None else c[None])[0].numpy()
            if st > 1:  # back onto the stride-8 grid of the other models
                h, w = data[i]["feats"].shape[:2]
                m = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
            maps[i] = m
            ms.append((time.perf_counter() - t1) * 1e3)
    params = sum(p.numel() for p in model.parameters())
    return maps, {"teach_s": teach_s, "steps": steps, "ms_model": float(np.median(ms)),
                  "params": params, "final_loss": float(np.mean(losses[-50:]))}


def norm_by_cal(maps: dict, cal: list[int], score_fn=top_k) -> tuple[dict, float, float]:
    cs = np.array([score_fn(maps[i]) for i in cal])
    return maps, float(cs.mean()), float(cs.std() + 1e-12)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--fold", type=int, default=None, help="default: the validation fold (exp1)")
    ap.add_argument("--model", choices=("bank", "flow", "ensemble"), default="flow")
    ap.add_argument("--max-patches", type=int, default=200_000)
    ap.add_argument("--dims", type=int, default=64, help="PCA dimensions (>= channels: all, standardised)")
    ap.add_argument("--channels", type=int, nargs=2, default=[0, 232],
                    help="channel range: 0 40 block 4, 40 120 block 7, 120 232 block 10")
    ap.add_argument("--stride", type=int, default=1, help="subsample the map (2: blocks 7, 10 native)")
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--kernels", type=int, nargs="+", default=[3, 1])
    ap.add_argument("--clamp", type=float, default=2.0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=28)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--max-train-s", type=float, default=240.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cond", action="store_true", help="condition the flow on closeness to the tile sides")
    ap.add_argument("--members", nargs="+", default=[], help="ensemble: names of saved map sets")
    ap.add_argument("--score", choices=("top50", "max", "top10"), default="top50")
    args = ap.parse_args()
    fold, items, fit, cal, test, data = load_fold(args.fold)
    score_fn = {"top50": top_k, "max": lambda a: float(a.max()), "top10": lambda a: top_k(a, 10)}[args.score]
    print(f"fold {fold}: fit {len(fit)}, cal {len(cal)}, test {len(test)}", flush=True)
    if args.model == "bank":
        maps, extra = bank_maps(fit, cal, test, data, args.max_patches)
    elif args.model == "flow":
        maps, extra = flow_maps(args, fit, cal, test, data)
        extra["args"] = {k: v for k, v in vars(args).items() if k not in ("members",)}
    else:
        members = []
        for m in args.members:
            z = np.load(CACHE / f"maps_{m}_fold{fold}.npz")
            members.append({int(k): z[k] for k in z.files})
        # deployable: each member's patch map standardised by its held-out good tiles' image scores
        maps = {}
        for mm in members:
            _, mu, sd = norm_by_cal(mm, cal)
            for i in list(test) + list(cal):
                maps[i] = maps.get(i, 0) + (mm[i] - mu) / sd
        # rank-normalised sum of image scores over the scored fold (AUROC only, not deployable)
        folder = np.array([items[i]["folder"] for i in test])
        ranks = sum(np.argsort(np.argsort([top_k(mm[i]) for i in test])) for mm in members)
        extra = {"members": args.members, "rank_sum_image_auroc": auroc(ranks, folder != GOOD)}
    evaluate(args.name, fold, items, test, cal, maps, data, score_fn, extra)


if __name__ == "__main__":
    main()
