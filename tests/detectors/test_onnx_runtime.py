"""ONNX Runtime sessions: shipped models load with their metadata; bad files give clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from inspection.errors import DetectorError
from plugins.detectors import onnx_runtime as rt
from plugins.detectors import patch_features, pcb_cnn


@pytest.mark.parametrize("base", ["deeppcb_cnn", "deeppcb_cnn_fast"])
def test_shipped_models_load_with_metadata_on_the_cpu(base):
    for precision in ("fp32", "fp16", "int8"):
        m = rt.load_model(pcb_cnn.default_model(precision, base), threads=1, device="cpu",
                          expect_format=pcb_cnn.FORMAT)
        assert m.providers == ("CPUExecutionProvider",)
        assert m.input_names == ("patches", "vectors") and m.output_names == ("probs", "boxes")
        assert json.loads(m.metadata["patch_size"]) == 32
        assert json.loads(m.metadata["classes"])[0] == "none"
        assert m.metadata["precision"] == precision
        assert m.metadata["version"].startswith("1.")
        assert m.path.stat().st_size < 2_000_000
    total = sum(p.stat().st_size for p in pcb_cnn.MODELS.glob("*.onnx"))
    assert total < 8_000_000  # every shipped model together: a few MB
    f = rt.load_model(patch_features.MODELS / patch_features.PRECISIONS["fp32"], device="cpu",
                      expect_format=patch_features.FORMAT)
    assert json.loads(f.metadata["stride"]) == 8 and json.loads(f.metadata["channels"]) > 0


def test_missing_model_file(tmp_path):
    with pytest.raises(DetectorError, match="not found") as err:
        rt.load_model(tmp_path / "nope.onnx")
    assert err.value.key == "model_missing"
    with pytest.raises(DetectorError, match="not found"):
        pcb_cnn.PcbCnnDetector(tmp_path / "nope.onnx")


@pytest.mark.parametrize("content", [b"", b"garbage" * 100, b"\x08\x07" + bytes(range(256)) * 4])
def test_corrupt_model_file(tmp_path, content):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(content)
    with pytest.raises(DetectorError, match="not a valid ONNX model") as err:
        rt.load_model(bad)
    assert err.value.key == "model_corrupt"


def test_truncated_shipped_model(tmp_path):
    data = pcb_cnn.default_model().read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DetectorError) as err:
        pcb_cnn.PcbCnnDetector(cut)
    assert err.value.key == "model_corrupt"


def test_model_of_another_kind_is_refused():
    with pytest.raises(DetectorError, match="format") as err:
        pcb_cnn.PcbCnnDetector(patch_features.MODELS / patch_features.PRECISIONS["fp32"])
    assert err.value.key == "model_format"


def test_both_runtime_distributions_are_refused():
    rt.check_runtimes(["onnxruntime"])
    rt.check_runtimes(["onnxruntime-gpu"])
    with pytest.raises(DetectorError, match="both onnxruntime and onnxruntime-gpu") as err:
        rt.check_runtimes(["onnxruntime", "onnxruntime-gpu"])
    assert err.value.key == "runtime_conflict"
    assert len(rt.installed_runtimes()) == 1  # this environment itself is consistent


def test_provider_choice():
    assert rt.providers_for("auto", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert rt.providers_for("auto", ["CUDAExecutionProvider", "CPUExecutionProvider"])[0] == \
        "CUDAExecutionProvider"
    assert rt.providers_for("cpu", ["CUDAExecutionProvider", "CPUExecutionProvider"]) == \
        ["CPUExecutionProvider"]
    # models measured slower on CUDA ask for the CPU under "auto", but CUDA when asked explicitly
    both = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert rt.providers_for("auto", both, auto_gpu=False) == ["CPUExecutionProvider"]
    assert rt.providers_for("cuda", both, auto_gpu=False)[0] == "CUDAExecutionProvider"
    with pytest.raises(DetectorError, match="no CUDA"):
        rt.providers_for("cuda", ["CPUExecutionProvider"])
    with pytest.raises(DetectorError):
        rt.providers_for("tpu", ["CPUExecutionProvider"])


def test_compressed_variants_agree_with_fp32_on_fixed_inputs():
    rng = np.random.default_rng(0)
    patches = np.where(rng.random((8, 2, 32, 32)) < 0.4, 30.0, 225.0).astype(np.float32)
    vectors = rng.normal(size=(8, 16)).astype(np.float32)
    outs = {p: rt.load_model(pcb_cnn.default_model(p), device="cpu").run(
        {"patches": patches, "vectors": vectors}) for p in ("fp32", "fp16", "int8")}
    np.testing.assert_allclose(outs["fp16"][0], outs["fp32"][0], atol=0.02)
    np.testing.assert_allclose(outs["int8"][0], outs["fp32"][0], atol=0.25)
    for probs, boxes in outs.values():
        assert probs.shape == (8, 7) and boxes.shape == (8, 4)
        np.testing.assert_allclose(probs.sum(1), 1.0, atol=0.02)  # int8 probs step by 1/255


def test_inference_error_is_a_detector_error():
    m = rt.load_model(pcb_cnn.default_model(), device="cpu")
    with pytest.raises(DetectorError, match="inference failed"):
        m.run({"patches": np.zeros((1, 2, 31, 31), np.float32), "vectors": np.zeros((1, 16), np.float32)})


def test_patch_features_on_images_of_any_size():
    f = patch_features.OnnxPatchFeatures(device="cpu")
    for shape in ((64, 64), (96, 160)):
        out = f(np.full(shape, 100, np.uint8))
        assert out.shape == (shape[0] // 8, shape[1] // 8, f.channels)
        assert np.isfinite(out).all()
    with pytest.raises(DetectorError, match="multiple of 8"):
        f(np.zeros((60, 64), np.uint8))
