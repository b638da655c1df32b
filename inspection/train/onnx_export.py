"""ONNX export of trained torch models, with their preprocessing and thresholds as metadata, and
the compressed (FP16, INT8) variants."""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def export(model: object, inputs: tuple[object, ...], path: Path, *, input_names: Sequence[str],
           output_names: Sequence[str], metadata: Mapping[str, object], opset: int = 17,
           dynamic_batch: bool = True) -> Path:
    """Export ``model`` (eval mode) to ``path`` with the batch axis dynamic and ``metadata`` stored
    as ONNX ``metadata_props`` (non-string values JSON-encoded)."""
    import onnx
    import torch

    assert isinstance(model, torch.nn.Module)
    model.eval()
    axes = {n: {0: "batch"} for n in (*input_names, *output_names)} if dynamic_batch else None
    buf = io.BytesIO()
    sink: Any = buf  # torch's stubs say path only; a binary stream works
    # the TorchScript exporter (dynamo=False) needs no extra package (the dynamo one needs
    # onnxscript); it warns that it is deprecated, which is known and fine for these small CNNs
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, inputs, sink, input_names=list(input_names),
                          output_names=list(output_names), opset_version=opset, dynamic_axes=axes,
                          dynamo=False, do_constant_folding=True)
    proto = onnx.load_from_string(buf.getvalue())
    set_metadata(proto, metadata)
    onnx.checker.check_model(proto)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))
    logger.info("wrote %s (%.1f kB)", path, path.stat().st_size / 1024)
    return path


def set_metadata(proto: object, metadata: Mapping[str, object]) -> None:
    import onnx

    assert isinstance(proto, onnx.ModelProto)
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key = key
        entry.value = value if isinstance(value, str) else json.dumps(value)


def to_fp16(src: Path, dst: Path, *, keep_io_types: bool = True) -> Path:
    """FP16 weights and activations (inputs/outputs stay float32), metadata kept."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    proto = onnx.load(str(src))
    meta = {p.key: p.value for p in proto.metadata_props}
    half = convert_float_to_float16(proto, keep_io_types=keep_io_types)
    meta["precision"] = "fp16"
    set_metadata(half, meta)
    onnx.save(half, str(dst))
    return dst


class _Reader:
    """Calibration batches for static INT8 quantisation."""

    def __init__(self, batches: list[dict[str, np.ndarray]]) -> None:
        self._it = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)

    def rewind(self) -> None:  # pragma: no cover - older onnxruntime versions do not call it
        pass


def to_int8(src: Path, dst: Path, calibration: list[dict[str, np.ndarray]]) -> Path:
    """Static INT8 (QDQ, per-channel weights) calibrated on ``calibration`` batches; metadata kept."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = dst.with_suffix(".pre.onnx")
    quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
    try:
        quantize_static(str(pre), str(dst), _Reader(calibration), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
    finally:
        pre.unlink(missing_ok=True)
    meta = {p.key: p.value for p in onnx.load(str(src)).metadata_props}
    meta["precision"] = "int8"
    proto = onnx.load(str(dst))
    set_metadata(proto, meta)
    onnx.save(proto, str(dst))
    return dst
