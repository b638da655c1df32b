"""change-cnn: synthetic boards, a tiny training run, the ONNX model in the station path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from inspection.cli import main  # noqa: E402
from inspection.errors import DetectorError  # noqa: E402
from inspection.pipeline import inspect  # noqa: E402
from inspection.recipe.definition import Recipe, prepare  # noqa: E402
from inspection.recipe.params import AlignParams, DetectParams  # noqa: E402
from inspection.train.change_data import collect  # noqa: E402
from inspection.train.change_net import ChangeNet  # noqa: E402
from inspection.vision import board_synth as bs  # noqa: E402
from plugins.detectors.change_cnn import ChangeCnnDetector  # noqa: E402
from tests.helpers import make_deeppcb_folder  # noqa: E402

pytestmark = pytest.mark.train


def test_network_is_fully_convolutional() -> None:
    net = ChangeNet(width=8).eval()
    with torch.no_grad():
        y = net(torch.zeros(2, 4, 24, 36))
    assert y.shape == (2, 7, 24, 36)
    assert torch.allclose(y[:, 1:].sum(1), torch.ones(2, 24, 36), atol=1e-5)


def test_windows_from_pairs_and_synthetic_boards_drop_excluded_groups(tmp_path: Path) -> None:
    folder = make_deeppcb_folder(tmp_path / "d", n=2, shape=(128, 128))
    data = collect(folder, size=32, synthetic=6, perturbed_copies=0, progress=False)
    assert len(data) > 0 and data.inputs.shape[1:] == (4, 32, 32)
    assert set(data.groups.tolist()) <= {"99000", "synth"}
    assert (data.change == 1).any() and (data.types > 0).any()
    assert not np.isin(data.subset(data.groups != "99000").groups, ["99000"]).any()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cc") / "change_cnn.onnx"
    assert main(["train", "change-cnn", "--synthetic", "30", "--epochs", "1", "--width", "8",
                 "--threads", "1", "--max-windows", "120", "--out", str(out), "--quiet"]) == 0
    return out


def test_training_writes_model_variants_and_metadata(tiny_model: Path) -> None:
    for suffix in ("", "_fp16", "_int8"):
        assert tiny_model.with_name(f"change_cnn{suffix}.onnx").is_file()
    log = json.loads(tiny_model.with_suffix(".json").read_text())
    assert log["metadata"]["format"] == "inspection.change-map/1"
    assert log["report"]["onnx_max_abs_diff"] < 1e-4


@pytest.mark.parametrize("precision", ["", "_int8"])
def test_detector_runs_in_the_pipeline_fail_safe(tiny_model: Path, precision: str) -> None:
    rng = np.random.default_rng(5)
    board = bs.random_board(rng, (160, 192))
    planted = None
    for kind in (bs.COPPER, bs.SPUR, bs.OPEN):
        planted = bs.plant_defect(rng, board, kind)
        if planted is not None:
            break
    assert planted is not None
    style = bs.random_style(rng, "grey")
    golden = bs.render(board, style, rng, texture_seed=1)
    part = bs.render(planted[0], style, rng, texture_seed=1)
    det = ChangeCnnDetector(tiny_model.with_name(f"change_cnn{precision}.onnx"))
    for classes in ("generic", "pcb"):
        prepared = prepare(Recipe("t", golden, align=AlignParams(), detect=DetectParams(classes=classes),
                                  roi=(8, 8, 176, 144)))
        result = inspect(prepared, part, detector=det)
        assert result.alignment is not None and result.alignment.ok
        for f in result.findings:
            assert 0.0 <= f.score <= 1.0 and f.box[2] > f.box[0]
        # a good part under the same recipe: whatever the tiny model says, no crash, no exception
        inspect(prepared, golden, detector=det)


def test_broken_model_file_is_a_detector_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(DetectorError):
        ChangeCnnDetector(bad)
