"""Training loop of the region classifier (torch, CPU, seeded, with per-epoch validation log)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from inspection.train.pcb_data import PatchSet
from inspection.train.pcb_net import PcbNet

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch: int = 256
    lr: float = 3e-3
    weight_decay: float = 1e-4
    box_weight: float = 2.0
    width: int = 16
    seed: int = 0
    threads: int = 1
    holdout_every: int = 10  # pairs with index % holdout_every == 0 are the internal validation set
    augment: str = "dihedral+zoom"  # one of AUGMENTS (chosen on training-group validation)


AUGMENTS = ("none", "dihedral", "dihedral+zoom")
ZOOM_RANGE = (0.85, 1.18)  # content scale of "zoom": log-uniform, about +-16 %


def _zoom(patches: torch.Tensor, boxes: torch.Tensor, scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale the content of each square window by ``scale`` (N,) about its centre (bilinear,
    border pixels repeated where zooming out); boxes (window units) move along. Mimics trace widths
    and pitches of other board designs."""
    n = patches.shape[0]
    theta = torch.zeros(n, 2, 3, dtype=patches.dtype)
    theta[:, 0, 0] = 1.0 / scale
    theta[:, 1, 1] = 1.0 / scale
    grid = torch.nn.functional.affine_grid(theta, list(patches.shape), align_corners=False)
    out = torch.nn.functional.grid_sample(patches, grid, mode="bilinear", padding_mode="border",
                                          align_corners=False)
    return out, ((boxes - 0.5) * scale[:, None] + 0.5).clamp(0.0, 1.0)


def _dihedral(patches: torch.Tensor, boxes: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One of the 8 flips/transpositions of the square windows, boxes (window units) moved along."""
    if k & 1:  # mirror x
        patches = patches.flip(3)
        boxes = torch.stack([1 - boxes[:, 2], boxes[:, 1], 1 - boxes[:, 0], boxes[:, 3]], 1)
    if k & 2:  # mirror y
        patches = patches.flip(2)
        boxes = torch.stack([boxes[:, 0], 1 - boxes[:, 3], boxes[:, 2], 1 - boxes[:, 1]], 1)
    if k & 4:  # transpose
        patches = patches.transpose(2, 3)
        boxes = boxes[:, [1, 0, 3, 2]]
    return patches, boxes


def evaluate(model: PcbNet, data: PatchSet, *, batch: int = 1024) -> dict[str, float]:
    """Validation metrics: defect detection P/R at 0.5, typing accuracy on true defects, mean box
    IoU on true defects, and the share of samples whose (defect, type) decision is right."""
    model.eval()
    probs, boxes = [], []
    with torch.no_grad():
        for i in range(0, len(data), batch):
            p, b = model(torch.from_numpy(data.patches[i:i + batch]).float(),
                         torch.from_numpy(data.vectors[i:i + batch]))
            probs.append(p.numpy())
            boxes.append(b.numpy())
    if not probs:
        return {}
    prob = np.concatenate(probs)
    box = np.concatenate(boxes)
    y = data.labels
    defect = 1 - prob[:, 0] >= 0.5
    cls = prob[:, 1:].argmax(1) + 1
    tp = defect & (y > 0)
    typed = tp & (cls == y)
    out = {"precision": float(tp.sum() / max(1, defect.sum())),
           "recall": float(tp.sum() / max(1, (y > 0).sum())),
           "typing_accuracy": float(typed.sum() / max(1, tp.sum())),
           "aware_recall": float(typed.sum() / max(1, (y > 0).sum()))}
    has = ~np.isnan(data.boxes[:, 0])
    if has.any():
        out["box_iou"] = float(np.mean(_iou(box[has], data.boxes[has])))
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ix = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = ix * iy
    area = lambda x: np.clip(x[:, 2] - x[:, 0], 0, None) * np.clip(x[:, 3] - x[:, 1], 0, None)  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


def train(data: PatchSet, cfg: TrainConfig, *,
          log: Callable[[str], None] = print) -> tuple[PcbNet, list[dict[str, float]]]:
    """Train on ``data`` (minus the internal hold-out pairs); returns the model and the per-epoch
    validation log."""
    if cfg.augment not in AUGMENTS:
        raise ValueError(f"augment must be one of {AUGMENTS}, not {cfg.augment!r}")
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    hold = data.groups % cfg.holdout_every == 0 if cfg.holdout_every > 0 else np.zeros(len(data), bool)
    tr, va = data.subset(~hold), data.subset(hold)
    mean = torch.from_numpy(tr.vectors.mean(0))
    scale = torch.from_numpy(tr.vectors.std(0))
    scale[scale < 1e-6] = 1.0
    size = data.patches.shape[-1]
    model = PcbNet(size=size, n_vectors=data.vectors.shape[1], width=cfg.width, vector_mean=mean,
                   vector_scale=scale)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = max(1, math.ceil(len(tr) / cfg.batch)) * cfg.epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.15)
    ce = nn.CrossEntropyLoss(label_smoothing=0.02)
    l1 = nn.SmoothL1Loss(beta=0.05)
    patches = torch.from_numpy(tr.patches)
    vectors = torch.from_numpy(tr.vectors)
    labels = torch.from_numpy(tr.labels)
    boxes = torch.from_numpy(np.nan_to_num(tr.boxes, nan=0.0))
    has_box = torch.from_numpy(~np.isnan(tr.boxes[:, 0]))
    history: list[dict[str, float]] = []
    log(f"training on {len(tr)} samples ({int((tr.labels > 0).sum())} defects), validating on "
        f"{len(va)} ({int((va.labels > 0).sum())} defects); {cfg.epochs} epochs")
    for epoch in range(cfg.epochs):
        model.train()
        t0 = time.monotonic()
        order = torch.from_numpy(rng.permutation(len(tr)))
        total = 0.0
        for i in range(0, len(tr), cfg.batch):
            idx = order[i:i + cfg.batch]
            p, b = patches[idx].float(), boxes[idx]
            if cfg.augment != "none":
                p, b = _dihedral(p, b, int(rng.integers(8)))
            if cfg.augment == "dihedral+zoom":
                lo, hi = np.log(ZOOM_RANGE)
                p, b = _zoom(p, b, torch.from_numpy(np.exp(rng.uniform(lo, hi, len(idx)))).float())
            logits, pred = model.logits(p, vectors[idx])
            loss = ce(logits, labels[idx])
            hb = has_box[idx]
            if hb.any():
                loss = loss + cfg.box_weight * l1(pred[hb], b[hb])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        row = {"epoch": float(epoch + 1), "loss": total / max(1, len(tr)), "seconds": time.monotonic() - t0}
        row.update(evaluate(model, va))
        history.append(row)
        log(" ".join(f"{k}={v:.4f}" if isinstance(v, float) and k != "epoch" else f"{k}={v:g}"
                     for k, v in row.items()))
    model.eval()
    return model, history
