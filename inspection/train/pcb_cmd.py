"""``inspection train pcb-cnn``: the region classifier of the ``pcb-cnn`` detector, from DeepPCB.

Collects the candidates of the training split (clean + seeded perturbed copies), trains the CNN
(seeded, per-epoch validation on held-out training pairs), exports it to ONNX with its
preprocessing as metadata, checks the export against torch, and writes FP16 and INT8 variants.
The DeepPCB validation split is never read.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from inspection.findings import DefectClass
from inspection.recipe.params import DetectParams
from inspection.train.pcb_data import PatchSet, collect
from inspection.train.pcb_train import TrainConfig
from inspection.vision.patches import REGION_ONLY_NAMES, VECTOR_NAMES, select

logger = logging.getLogger(__name__)

FORMAT = "inspection.pcb-region-classifier/1"
CLASSES = ["none"] + [DefectClass(i).name.lower() for i in range(1, 7)]
MODEL_VERSION = "1.0.0"
INPUTS = {"full": VECTOR_NAMES, "region": REGION_ONLY_NAMES}


def train_pcb_cnn(folder: Path, out: Path, *, cfg: TrainConfig, copies: int = 2, size: int = 32,
                  pad: int = 10, candidate_threshold: float = 0.35, candidate_min_area: int = 12,
                  cache: Path | None = None, variants: bool = True,
                  inputs: Sequence[str] = VECTOR_NAMES, progress: bool = True,
                  exclude_groups: tuple[str, ...] = ()) -> dict[str, object]:
    """Train and write ``out`` (fp32), ``out`` with _fp16/_int8 suffixes, and ``out``.json (the
    training log). Returns the report that is also written to the JSON file."""
    import torch

    from inspection.bench.deeppcb_data import deeppcb_params
    from inspection.train.onnx_export import export, to_fp16, to_int8
    from inspection.train.pcb_train import train

    torch.set_num_threads(cfg.threads)
    t0 = time.monotonic()
    _, base = deeppcb_params()
    detect = DetectParams(**{**asdict(base), "threshold": candidate_threshold,
                             "min_area_px": candidate_min_area})
    if cache is not None and cache.is_file():
        data = PatchSet.load(cache)
        print(f"loaded {len(data)} samples from {cache}")
    else:
        data = collect(folder, split="all" if exclude_groups else "train", copies=copies, seed=cfg.seed,
                       size=size, pad=pad, detect=detect, threads=cfg.threads, progress=progress,
                       exclude_groups=exclude_groups)
        if cache is not None:
            data.save(cache)
    if data.patches.shape[-1] != size:
        raise ValueError(f"cached samples are {data.patches.shape[-1]} px, asked for {size}")
    data = replace(data, vectors=select(data.vectors, inputs))
    model, history = train(data, cfg)
    meta: dict[str, object] = {
        "format": FORMAT,
        "version": f"{MODEL_VERSION}+seed{cfg.seed}",
        "precision": "fp32",
        "patch_size": size, "patch_pad": pad,
        "vector_names": list(inputs),
        "classes": CLASSES,
        "candidates": {"threshold": candidate_threshold, "min_area_px": candidate_min_area},
        "inputs": "patches: (N,2,S,S) float32 grey 0..255 (reference, aligned part); vectors: (N,F)",
        "outputs": "probs: (N,7) softmax (none + DeepPCB types); boxes: (N,4) window units",
        "score": "1 - probs[:, 0]", "report_threshold": 0.5,
        "training": {"dataset": folder.name, "split": "train",
                     "excluded_groups": list(exclude_groups), "perturbed_copies": copies,
                     "samples": len(data), "config": asdict(cfg)},
        "validation": history[-1] if history else {},
    }
    n = min(256, len(data))
    sample_p = torch.from_numpy(data.patches[:n]).float()
    sample_v = torch.from_numpy(data.vectors[:n])
    export(model, (sample_p, sample_v), out, input_names=["patches", "vectors"],
           output_names=["probs", "boxes"], metadata=meta)
    report: dict[str, object] = {"samples": len(data), "history": history,
                                 "files": {"fp32": _file_info(out)}}
    diff = max_difference(model, out, data.patches[:n].astype(np.float32), data.vectors[:n])
    report["onnx_max_abs_diff"] = diff
    print(f"ONNX export matches torch: max |diff| = {diff:.2e}")
    if variants:
        fp16 = to_fp16(out, out.with_name(out.stem + "_fp16.onnx"))
        rng = np.random.default_rng(cfg.seed)
        idx = rng.choice(len(data), size=min(2048, len(data)), replace=False)
        calib = [{"patches": data.patches[idx[i:i + 64]].astype(np.float32),
                  "vectors": data.vectors[idx[i:i + 64]]} for i in range(0, len(idx), 64)]
        int8 = to_int8(out, out.with_name(out.stem + "_int8.onnx"), calib)
        files = report["files"]
        assert isinstance(files, dict)
        files["fp16"] = _file_info(fp16)
        files["int8"] = _file_info(int8)
    report["seconds"] = time.monotonic() - t0
    out.with_suffix(".json").write_text(json.dumps({"metadata": meta, "report": report}, indent=2,
                                                   default=str))
    return report


def _file_info(path: Path) -> dict[str, object]:
    return {"path": str(path), "bytes": path.stat().st_size}


def max_difference(model: object, onnx_path: Path, patches: np.ndarray, vectors: np.ndarray) -> float:
    """Largest absolute difference between the torch model's and the ONNX export's outputs."""
    import onnxruntime as ort
    import torch

    assert isinstance(model, torch.nn.Module)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])
    got = sess.run(None, {"patches": patches, "vectors": vectors})
    with torch.no_grad():
        want = model(torch.from_numpy(patches), torch.from_numpy(vectors))
    return float(max(np.abs(g - w.numpy()).max() for g, w in zip(got, want, strict=True)))
