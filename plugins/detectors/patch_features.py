"""``effnet-lite0``: patch features of a grey image from the first blocks of EfficientNet-Lite0,
run by ONNX Runtime (the extractor of good-set mode, :mod:`inspection.vision.goodset`).

The model file takes the raw grey image (1, 1, H, W) float32 0..255 (H, W multiples of 8; any
size) and returns (1, C, H/8, W/8) features; normalisation and neighbourhood averaging are inside
the graph, and its metadata names the stride and channel count.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from inspection.errors import DetectorError
from plugins.detectors.onnx_runtime import OnnxModel, load_model

logger = logging.getLogger(__name__)

FORMAT = "inspection.patch-features/1"
NEAREST_FORMAT = "inspection.nearest-distance/1"
NEAREST = "nearest_patch.onnx"
MODELS = Path(__file__).resolve().parent / "models"
#: patch rows per call of the nearest-neighbour graph: its (rows x bank) distance matrix then stays
#: in the processor's cache instead of going through memory (1,100 x 5,000: 22 MB); 1,100 patches
#: against 5,000 bank rows, one thread: 10-12 ms in one call, 8-9 ms in chunks of 256-512
#: (docs/benchmarks.md, round 6). Rows are independent: the same distances up to float rounding
#: (the matrix kernel blocks rows differently; about 1e-6 relative).
NEAREST_CHUNK = 256
PRECISIONS = {"fp32": "effnet_lite0_patch.onnx", "fp16": "effnet_lite0_patch_fp16.onnx",
              "int8": "effnet_lite0_patch_int8.onnx"}


class OnnxPatchFeatures:
    """Callable: grey uint8 image (H, W) -> float32 patch features (H/stride, W/stride, C)."""

    def __init__(self, model: str | Path | None = None, *, threads: int = 1, device: str = "auto",
                 precision: str = "fp32", nearest: str | Path | None = None) -> None:
        if model is None:
            if precision not in PRECISIONS:
                raise DetectorError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}",
                                    key="bad_precision")
            model = MODELS / PRECISIONS[precision]
        self.model: OnnxModel = load_model(model, threads=threads, device=device, expect_format=FORMAT)
        try:
            self.stride = int(json.loads(self.model.metadata["stride"]))
            self.channels = int(json.loads(self.model.metadata["channels"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise DetectorError(f"model {self.model.path.name}: stride/channels metadata missing",
                                key="model_metadata") from exc
        self.name = f"{self.model.metadata.get('name', 'patch-features')}@" \
                    f"{self.model.metadata.get('version', 'unversioned')}"
        self.providers = self.model.providers
        # the nearest-neighbour search of good-set scoring, in ONNX Runtime with the same threads
        self.nearest = OnnxNearest(nearest, threads=threads)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if image.ndim != 2:
            raise DetectorError(f"expected a grey image, got shape {image.shape}", key="bad_input")
        h, w = image.shape
        if h % self.stride or w % self.stride:
            raise DetectorError(f"image size {w}x{h} is not a multiple of {self.stride}", key="bad_input")
        x = image.astype(np.float32)[None, None]
        (feats,) = self.model.run({"image": x})[:1]
        if feats.shape != (1, self.channels, h // self.stride, w // self.stride):
            raise DetectorError(f"model returned {feats.shape}", key="inference_failed")
        return np.ascontiguousarray(feats[0].transpose(1, 2, 0))


class OnnxNearest:
    """Callable: (features (P, C), mean (C,), components (C, D), bank (M, D)) -> (P,) distance of
    each centred, projected feature row to its nearest bank row; ONNX Runtime on the CPU with an
    explicit thread count (numpy's BLAS would pick its own)."""

    def __init__(self, model: str | Path | None = None, *, threads: int = 1, chunk: int = NEAREST_CHUNK) -> None:
        path = Path(model) if model is not None else MODELS / NEAREST
        self.model = load_model(path, threads=threads, device="cpu", expect_format=NEAREST_FORMAT)
        self.chunk = int(chunk)  # rows per call (<= 0: all in one call)

    def __call__(self, features: np.ndarray, mean: np.ndarray, components: np.ndarray,
                 bank: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(features, np.float32)
        fixed = {"mean": mean.astype(np.float32, copy=False),
                 "components": components.astype(np.float32, copy=False),
                 "bank": bank.astype(np.float32, copy=False)}
        step = self.chunk if self.chunk > 0 else max(1, rows.shape[0])
        parts = [np.asarray(self.model.run({"features": rows[i:i + step], **fixed})[0])
                 for i in range(0, max(1, rows.shape[0]), step)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)
