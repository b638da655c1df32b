"""``inspection train change-cnn``: the change-map network of the ``change-cnn`` detector.

Windows from DeepPCB-layout pairs (minus ``--exclude-group``: a leave-one-group-out fold) and from
synthetic boards of every style (:mod:`inspection.train.change_data`), seeded training on the CPU,
ONNX export with the preprocessing as metadata, a check of the export against torch, FP16 and INT8
variants.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from inspection.progress import Progress
from inspection.train.change_data import WindowSet, collect

logger = logging.getLogger(__name__)

FORMAT = "inspection.change-map/1"
MODEL_VERSION = "1.0.0"
CLASSES = ["open", "short", "mousebite", "spur", "copper", "pinhole"]


@dataclass(frozen=True)
class ChangeTrainConfig:
    epochs: int = 6
    batch: int = 64
    lr: float = 4e-3
    weight_decay: float = 1e-4
    width: int = 16
    pos_weight: float = 3.0
    type_weight: float = 0.5
    seed: int = 0
    threads: int = 1
    size: int = 40
    synthetic: int = 2000
    tolerance_px: float = 1.0
    gate: float = 0.3
    perturbed_copies: int = 1
    max_windows: int = 9000


def train_model(data: WindowSet, cfg: ChangeTrainConfig, *, progress: bool = True,
                log: object = print) -> tuple[object, list[dict[str, float]]]:
    import torch
    from torch.nn import functional as F

    from inspection.train.change_net import ChangeNet

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    model = ChangeNet(width=cfg.width)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n = len(data)
    steps = max(1, math.ceil(n / cfg.batch)) * cfg.epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.15)
    x_all = torch.from_numpy(data.inputs)
    c_all = torch.from_numpy(data.change.astype(np.int64))
    t_all = torch.from_numpy(data.types.astype(np.int64))
    history: list[dict[str, float]] = []
    assert callable(log)
    bar = Progress(steps, "train change-cnn", enabled=progress)
    for epoch in range(cfg.epochs):
        model.train()
        t0 = time.monotonic()
        order = torch.from_numpy(rng.permutation(n))
        total, tp, fp, fn = 0.0, 0, 0, 0
        for i in range(0, n, cfg.batch):
            idx = order[i:i + cfg.batch]
            x = x_all[idx].float()
            c = c_all[idx]
            t = t_all[idx]
            z = model.logits(x)
            known = c != 255
            target = (c == 1).float()
            w = known.float() * (1.0 + (cfg.pos_weight - 1.0) * target)
            loss = F.binary_cross_entropy_with_logits(z[:, 0], target, weight=w, reduction="sum") / \
                w.sum().clamp(min=1.0)
            pos = t > 0
            if pos.any():
                tl = F.cross_entropy(z[:, 1:].permute(0, 2, 3, 1)[pos], t[pos] - 1)
                loss = loss + cfg.type_weight * tl
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            with torch.no_grad():
                pred = (z[:, 0] > 0) & known
                tp += int((pred & (c == 1)).sum())
                fp += int((pred & (c == 0)).sum())
                fn += int((~pred & (c == 1)).sum())
            bar.update()
        row = {"epoch": float(epoch + 1), "loss": total / max(1, n), "seconds": time.monotonic() - t0,
               "pixel_precision": tp / max(1, tp + fp), "pixel_recall": tp / max(1, tp + fn)}
        history.append(row)
        log(" ".join(f"{k}={v:.4f}" if k != "epoch" else f"{k}={v:g}" for k, v in row.items()))
    model.eval()
    return model, history


def train_change_cnn(folder: Path | None, out: Path, *, cfg: ChangeTrainConfig,
                     exclude_groups: tuple[str, ...] = (), cache: Path | None = None,
                     variants: bool = True, progress: bool = True) -> dict[str, object]:
    """Collect windows, train, write ``out`` (fp32), ``out`` with _fp16/_int8 suffixes, ``out``.json."""
    import cv2
    import torch

    from inspection.train.onnx_export import export, to_fp16, to_int8

    torch.set_num_threads(cfg.threads)
    cv2.setNumThreads(cfg.threads)
    t0 = time.monotonic()
    if cache is not None and cache.is_file():
        data = WindowSet.load(cache)
        print(f"loaded {len(data)} windows from {cache}")
    else:
        data = collect(folder, size=cfg.size, seed=cfg.seed, synthetic=cfg.synthetic,
                       tolerance_px=cfg.tolerance_px, gate=cfg.gate, perturbed_copies=cfg.perturbed_copies,
                       progress=progress)
        if cache is not None:
            data.save(cache)
    if exclude_groups:
        data = data.subset(~np.isin(data.groups, list(exclude_groups)))
    if len(data) > cfg.max_windows:
        keep = np.random.default_rng(cfg.seed).choice(len(data), cfg.max_windows, replace=False)
        data = data.subset(np.sort(keep))
    groups = sorted(set(data.groups.tolist()))
    print(f"training on {len(data)} windows from groups {groups}")
    model, history = train_model(data, cfg, progress=progress)
    meta: dict[str, object] = {
        "format": FORMAT,
        "version": f"{MODEL_VERSION}+seed{cfg.seed}",
        "precision": "fp32",
        "channels": ["reference", "part", "bright_excess", "dark_excess"],
        "preprocessing": {"tolerance_px": cfg.tolerance_px, "radius": 7, "floor": 10.0, "clip": 4.0},
        "gate": cfg.gate,
        "classes": CLASSES,
        "inputs": "x: (N,4,H,W) float32, H and W even (inspection.vision.change_features)",
        "outputs": "y: (N,7,H,W): change probability, softmax over the six DeepPCB types",
        "report_threshold": 0.5,
        "training": {"dataset": None if folder is None else folder.name,
                     "excluded_groups": list(exclude_groups), "groups": groups,
                     "windows": len(data), "config": asdict(cfg)},
        "history": history[-1] if history else {},
    }
    n = min(64, len(data))
    sample = torch.from_numpy(data.inputs[:n].astype(np.float32))
    export(model, (sample,), out, input_names=["x"], output_names=["y"], metadata=meta)
    _make_spatial_dynamic(out)
    diff = _max_difference(model, out, data.inputs[:n].astype(np.float32))
    print(f"ONNX export matches torch: max |diff| = {diff:.2e}")
    report: dict[str, object] = {"windows": len(data), "history": history, "onnx_max_abs_diff": diff,
                                 "files": {"fp32": {"path": str(out), "bytes": out.stat().st_size}}}
    if variants:
        fp16 = to_fp16(out, out.with_name(out.stem + "_fp16.onnx"))
        rng = np.random.default_rng(cfg.seed)
        idx = rng.choice(len(data), size=min(512, len(data)), replace=False)
        calib = [{"x": data.inputs[idx[i:i + 32]].astype(np.float32)} for i in range(0, len(idx), 32)]
        int8 = to_int8(out, out.with_name(out.stem + "_int8.onnx"), calib)
        files = report["files"]
        assert isinstance(files, dict)
        files["fp16"] = {"path": str(fp16), "bytes": fp16.stat().st_size}
        files["int8"] = {"path": str(int8), "bytes": int8.stat().st_size}
    report["seconds"] = time.monotonic() - t0
    out.with_suffix(".json").write_text(json.dumps({"metadata": meta, "report": report}, indent=2,
                                                   default=str))
    return report


def _make_spatial_dynamic(path: Path) -> None:
    """Height and width of input and output free (the network is fully convolutional)."""
    import onnx

    proto = onnx.load(str(path))
    for v in (*proto.graph.input, *proto.graph.output):
        dims = v.type.tensor_type.shape.dim
        if len(dims) == 4:
            dims[2].dim_param = "height"
            dims[3].dim_param = "width"
    onnx.save(proto, str(path))


def _max_difference(model: object, path: Path, x: np.ndarray) -> float:
    import onnxruntime as ort
    import torch

    assert isinstance(model, torch.nn.Module)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    got = sess.run(None, {"x": x})[0]
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    return float(np.abs(got - want).max())
