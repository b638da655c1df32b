# ruff: noqa: E402  (BLAS thread count set before numpy is imported)
"""Issue 12, round 10: a student network regressing the product's features, by physical tile.

Every model of rounds 3-9 compares a part's patch features with the taught parts' (nearest
neighbours, flows): a new physical tile whose normal grain has no close twin among the taught tiles
scores high. A student-teacher model (STPM, EfficientAD) learns instead to *predict* the teacher's
features from the image; trained on good tiles only, it interpolates between textures it has seen,
and a defect, unlike any good texture, is predicted badly. The question: does that generalise to new
physical tiles better than the bank?

- teacher: the product's extractor (EfficientNet-Lite0 ONNX, 232 channels at stride 8) on the image
  as the product prepares it (short side 224, percentile contrast); channels standardised over the
  taught tiles;
- student: a small CNN (5 convolutions, 3 average pools: stride 8, receptive field about 45 px),
  trained with mean squared error on random 96 x 96 crops of the taught good tiles (the crop's outer
  two feature cells left out of the loss: the teacher saw more context there);
- anomaly map: the squared error per feature cell, summed over channels; image score: the mean of
  the 50 largest cells (the product's top-k).

The folds are the product bench's by physical tile (``--group tile``: fold 0 validation). One result
line per fold in experiments/results/student.jsonl.

usage: .venv/bin/python experiments/student_exp.py DATA --fold F [--steps N] [--name NAME]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from inspection.bench.mtd_kfold import KFoldConfig, _dataset
from inspection.imageio import read_image
from inspection.vision.goodset import auroc, feature_extractors, pixel_map, prepare_image

RESULTS = Path(__file__).resolve().parent / "results" / "student.jsonl"
GOOD = "MT_Free"
STRIDE = 8
CROP = 96
EDGE = 2  # feature cells at a crop's border left out of the loss


class Student(nn.Module):
    def __init__(self, channels: int, width: int = 64) -> None:
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(1, w // 2, 3, padding=1), nn.ReLU(inplace=True), nn.AvgPool2d(2),
            nn.Conv2d(w // 2, w, 3, padding=1), nn.ReLU(inplace=True), nn.AvgPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(inplace=True), nn.AvgPool2d(2),
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(4 * w, 4 * w, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(4 * w, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def prepared(path: Path) -> np.ndarray:
    return prepare_image(read_image(path), 224, "percentile")


def to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img.astype(np.float32) / 255.0 - 0.5)[None, None]


def separation(neg: np.ndarray, pos: np.ndarray) -> float:
    return auroc(np.concatenate([neg, pos]), np.r_[np.zeros(len(neg)), np.ones(len(pos))])


def top_k(m: np.ndarray, k: int = 50) -> float:
    f = m.ravel()
    k = min(k, f.size)
    return float(np.partition(f, f.size - k)[f.size - k:].mean())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("--fold", type=int, required=True)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--name", default="student")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    cfg = KFoldConfig(args.data, Path("/tmp/unused"), group="tile", val_source=None, val_fold=0)
    items, val = _dataset(cfg)
    train = [p for p, folder, f in items if f != args.fold and folder == GOOD]
    test = [(p, folder) for p, folder, f in items if f == args.fold]
    extract = feature_extractors.create("effnet-lite0", threads=1)

    t0 = time.perf_counter()
    imgs = [prepared(p) for p in train]
    feats = [extract(im) for im in imgs]
    allf = np.concatenate([f.reshape(-1, f.shape[-1]) for f in feats])
    mu, sd = allf.mean(0), allf.std(0) + 1e-6
    feats = [((f - mu) / sd).astype(np.float32) for f in feats]
    c = feats[0].shape[-1]
    print(f"fold {args.fold}: {len(train)} taught, teacher features in {time.perf_counter() - t0:.1f} s", flush=True)

    student = Student(c, args.width)
    opt = torch.optim.Adam(student.parameters(), lr=1e-3, weight_decay=1e-5)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps)
    cells = CROP // STRIDE
    t1 = time.perf_counter()
    for step in range(args.steps):
        xs, ys = [], []
        for _ in range(args.batch):
            j = int(rng.integers(len(imgs)))
            im, f = imgs[j], feats[j]
            h, w = f.shape[:2]
            if h < cells or w < cells:
                continue
            r, q = int(rng.integers(h - cells + 1)), int(rng.integers(w - cells + 1))
            crop = im[r * STRIDE:(r + cells) * STRIDE, q * STRIDE:(q + cells) * STRIDE]
            if rng.random() < 0.5:  # flips keep a tile's texture a tile's texture
                crop, fc = crop[:, ::-1], f[r:r + cells, q:q + cells][:, ::-1]
            else:
                fc = f[r:r + cells, q:q + cells]
            xs.append(to_tensor(np.ascontiguousarray(crop)))
            ys.append(torch.from_numpy(np.ascontiguousarray(fc.transpose(2, 0, 1)))[None])
        x, y = torch.cat(xs), torch.cat(ys)
        out = student(x)
        loss = ((out - y)[:, :, EDGE:-EDGE, EDGE:-EDGE] ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 500 == 0 or step == args.steps - 1:
            print(f"  step {step}: loss {loss.item():.4f} ({time.perf_counter() - t1:.0f} s)", flush=True)
    train_s = time.perf_counter() - t1

    student.eval()

    def amap(img: np.ndarray, f: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = student(to_tensor(img))[0].numpy().transpose(1, 2, 0)
        h, w = min(out.shape[0], f.shape[0]), min(out.shape[1], f.shape[1])
        return np.square(out[:h, :w] - f[:h, :w]).sum(-1)

    taught_scores = [top_k(amap(im, f)) for im, f in zip(imgs[::4], feats[::4], strict=True)]
    scores, folders, ps, pl, ms = [], [], [], [], []
    for p, folder in test:
        raw = read_image(p)
        im = prepare_image(raw, 224, "percentile")
        t2 = time.perf_counter()
        f = (extract(im) - mu) / sd
        m = amap(im, f)
        ms.append((time.perf_counter() - t2) * 1e3)
        scores.append(top_k(m))
        folders.append(folder)
        mask_path = p.with_suffix(".png")
        if mask_path.is_file():
            full = pixel_map(m, raw.shape[:2])
            mask = read_image(mask_path) > 127
            ps.append(full[::4, ::4].ravel())
            pl.append(mask[::4, ::4].ravel())
    s = np.array(scores)
    good = np.array([f == GOOD for f in folders])
    per = {d: separation(s[good], s[np.array(folders) == d]) for d in sorted(set(folders) - {GOOD})}
    pv, plab = (np.concatenate(ps), np.concatenate(pl)) if pl else (None, None)
    pix = separation(pv[~plab], pv[plab]) if pv is not None else None
    row = {"name": args.name, "fold": args.fold, "validation": args.fold == val, "steps": args.steps,
           "width": args.width, "seed": args.seed, "image_auroc": separation(s[good], s[~good]),
           "per_defect_auroc": per, "pixel_auroc": pix, "train_s": train_s,
           "ms_per_image_median": float(np.median(ms)), "taught_score_median": float(np.median(taught_scores)),
           "test_good_median": float(np.median(s[good])), "test_defective_median": float(np.median(s[~good])),
           "scores": [[f"{fo}/{p.name}", float(x)] for (p, fo), x in zip(test, s, strict=True)]}
    print(json.dumps({k: v for k, v in row.items() if k != "scores"}), flush=True)
    with RESULTS.open("a") as fh:
        fh.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
