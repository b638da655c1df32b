"""Training and export of the learned models (torch; skipped cleanly without the 'train' extra)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from inspection.cli import main  # noqa: E402
from inspection.train.onnx_export import export  # noqa: E402
from inspection.train.pcb_data import PatchSet  # noqa: E402
from inspection.train.pcb_net import PcbNet  # noqa: E402
from inspection.train.pcb_train import TrainConfig, _dihedral, _zoom, train  # noqa: E402
from inspection.vision.patches import VECTOR_NAMES  # noqa: E402
from plugins.detectors.onnx_runtime import load_model  # noqa: E402
from plugins.detectors.pcb_cnn import PcbCnnDetector  # noqa: E402

pytestmark = pytest.mark.train


def test_torch_and_onnx_export_give_identical_outputs(tmp_path):
    torch.manual_seed(0)
    net = PcbNet(size=32, n_vectors=len(VECTOR_NAMES), width=8,
                 vector_mean=torch.randn(len(VECTOR_NAMES)), vector_scale=torch.rand(len(VECTOR_NAMES)) + 0.5)
    net.eval()
    for m in net.modules():  # non-trivial batch-norm statistics, so folding them is exercised
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    rng = np.random.default_rng(0)
    patches = (rng.random((5, 2, 32, 32)) * 255).astype(np.float32)
    vectors = rng.normal(size=(5, len(VECTOR_NAMES))).astype(np.float32)
    path = export(net, (torch.from_numpy(patches), torch.from_numpy(vectors)), tmp_path / "m.onnx",
                  input_names=["patches", "vectors"], output_names=["probs", "boxes"],
                  metadata={"format": "test/1", "patch_size": 32, "classes": ["none", "open"]})
    model = load_model(path, device="cpu", expect_format="test/1")
    assert json.loads(model.metadata["patch_size"]) == 32
    assert json.loads(model.metadata["classes"]) == ["none", "open"]
    with torch.no_grad():
        want = [t.numpy() for t in net(torch.from_numpy(patches), torch.from_numpy(vectors))]
    for n in (5, 1):  # the batch axis is dynamic
        got = model.run({"patches": patches[:n], "vectors": vectors[:n]})
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w[:n], atol=1e-5, rtol=1e-4)


def test_dihedral_augmentation_moves_boxes_with_the_pixels():
    img = torch.zeros(1, 2, 32, 32)
    img[:, :, 4:10, 20:30] = 1.0  # rows 4..9, columns 20..29
    box = torch.tensor([[20 / 32, 4 / 32, 30 / 32, 10 / 32]])
    for k in range(8):
        p, b = _dihedral(img, box, k)
        ys, xs = torch.nonzero(p[0, 0], as_tuple=True)
        found = torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]).float() / 32
        torch.testing.assert_close(b[0], found)


def test_zoom_augmentation_scales_content_and_boxes_about_the_centre():
    img = torch.zeros(2, 2, 32, 32)
    img[:, :, 8:16, 12:28] = 1.0  # rows 8..15, columns 12..27
    box = torch.tensor([[12 / 32, 8 / 32, 28 / 32, 16 / 32]] * 2)
    scale = torch.tensor([1.0, 1.25])
    p, b = _zoom(img, box, scale)
    torch.testing.assert_close(p[0], img[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(b[0], box[0])
    ys, xs = torch.nonzero(p[1, 1] > 0.5, as_tuple=True)
    found = torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]).float() / 32
    torch.testing.assert_close(b[1], torch.tensor([11 / 32, 6 / 32, 31 / 32, 16 / 32]))
    torch.testing.assert_close(found, b[1], atol=1.01 / 32, rtol=0)


def test_training_accepts_each_augmentation_and_rejects_unknown_ones():
    rng = np.random.default_rng(0)
    n = 40
    patches = rng.integers(0, 256, (n, 2, 16, 16), dtype=np.uint8)
    labels = np.arange(n, dtype=np.int64) % 3
    boxes = np.where(labels[:, None] > 0, np.array([0.2, 0.3, 0.6, 0.7], np.float32), np.nan)
    data = PatchSet(patches, rng.normal(size=(n, 3)).astype(np.float32), labels,
                    boxes.astype(np.float32), np.arange(n, dtype=np.int64))
    for aug in ("none", "dihedral", "dihedral+zoom"):
        cfg = TrainConfig(epochs=1, batch=16, width=4, augment=aug)
        _, history = train(data, cfg, log=lambda _: None)
        assert len(history) == 1 and np.isfinite(history[0]["loss"])
    with pytest.raises(ValueError, match="augment"):
        train(data, TrainConfig(epochs=1, augment="mixup"), log=lambda _: None)


def _board(rng: np.random.Generator) -> np.ndarray:
    img = np.full((256, 256), 255, np.uint8)
    for y in range(40, 230, 45):
        cv2.line(img, (20, y), (236, y), 0, int(rng.integers(9, 14)))
    cv2.line(img, (240, 20), (240, 236), 0, 8)
    return img


def _write_dataset(root: Path, n: int) -> None:
    """A tiny DeepPCB-layout folder: boards with spurious copper (5) and opens (1)."""
    rng = np.random.default_rng(0)
    ids = []
    for i in range(n):
        pid = f"{10000 + i // 10:05d}{i % 10:03d}"
        ids.append(pid)
        golden = _board(rng)
        tested = golden.copy()
        lines = []
        for _ in range(2):
            x = int(rng.integers(40, 200))
            y = int(rng.choice([40, 85, 130, 175, 220]))
            if rng.random() < 0.5:  # open: cut the trace
                cv2.rectangle(tested, (x - 3, y - 9), (x + 3, y + 9), 255, -1)
                lines.append(f"{x - 13} {y - 19} {x + 13} {y + 19} 1")
            else:  # copper island between traces
                cy = y + 22 if y < 220 else y - 22
                cv2.circle(tested, (x, cy), 5, 0, -1)
                lines.append(f"{x - 15} {cy - 15} {x + 15} {cy + 15} 5")
        cv2.imwrite(str(root / f"{pid}_temp.jpg"), golden)
        cv2.imwrite(str(root / f"{pid}_test.jpg"), tested)
        (root / f"{pid}.txt").write_text("\n".join(lines) + "\n")
    (root / "index.txt").write_text("\n".join(ids) + "\n")


def test_tiny_end_to_end_training_run(tmp_path, capsys):
    data = tmp_path / "pcb"
    data.mkdir()
    _write_dataset(data, 12)
    out = tmp_path / "models" / "tiny.onnx"
    rc = main(["train", "pcb-cnn", str(data), "--out", str(out), "--epochs", "3", "--width", "4",
               "--perturbed-copies", "1", "--threads", "1", "--seed", "3"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "epoch=3" in printed and "ONNX export matches torch" in printed
    for suffix in ("", "_fp16", "_int8"):
        assert (out.parent / f"tiny{suffix}.onnx").is_file()
    log = json.loads(out.with_suffix(".json").read_text())
    assert len(log["report"]["history"]) == 3
    assert log["report"]["onnx_max_abs_diff"] < 1e-4
    assert log["metadata"]["training"]["split"] == "train"
    det = PcbCnnDetector(out, device="cpu")
    assert det.version.endswith("+seed3")
    for precision in ("fp16", "int8"):
        m = load_model(out.parent / f"tiny_{precision}.onnx", device="cpu")
        assert m.metadata["precision"] == precision
