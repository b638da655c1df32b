"""The speed bench times real inspections only: a detector that cannot inspect a part is reported as
failed, never timed as if it had run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from inspection.cli import main
from tests.helpers import make_deeppcb_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_deeppcb_folder(tmp_path_factory.mktemp("deeppcb"), n=2)


def test_classical_times_pairs_and_large_parts(folder: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "c"
    assert main(["bench", "speed", str(folder), "--out", str(out), "--pairs", "2", "--large-parts", "1",
                 "--quiet"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["pair_640_ms"]["n"] == 2 and s["pair_640_ms"]["median"] > 0
    assert s["part_5mp_inspect_ms"]["n"] == 1 and s["part_5mp_inspect_ms"]["median"] > 0
    assert s["failed_inspections"] == {"pair_640": 0, "part_5mp": 0}
    assert "FAILED" not in capsys.readouterr().out


def test_pcb_only_detector_large_parts_are_failed_not_timed(folder: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "p"
    assert main(["bench", "speed", str(folder), "--out", str(out), "--pairs", "2", "--large-parts", "2",
                 "--detector", "pcb-cnn-fast", "--device", "cpu", "--quiet"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["pair_640_ms"]["n"] == 2
    # the 5 MP parts use generic classes, which pcb-cnn-fast cannot type: failed, not a 0 ms or fake time
    assert s["failed_inspections"]["part_5mp"] == 2 and s["part_5mp_inspect_ms"]["n"] == 0
    assert math.isnan(s["part_5mp_inspect_ms"]["median"])
    assert "generic classes" in s["failure_reasons"]["part_5mp"]
    assert "FAILED inspections (2448x2048 parts, not timed)" in capsys.readouterr().out
