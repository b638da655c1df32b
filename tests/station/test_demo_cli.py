"""``inspection demo`` end to end: generated parts through the pylon emulator, and a DeepPCB-layout
folder replayed with a recipe per pair, each for a few seconds with the simulated PLC."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from helpers import make_deeppcb_folder

from inspection.cli import main


def _results(root: Path) -> list[tuple]:
    db = root / "data" / "store" / "results.db"
    with sqlite3.connect(db) as c:
        return list(c.execute("select part_id, verdict, code, recipe_number, timings_json from results"))


@pytest.mark.timeout(180)
def test_demo_on_generated_parts_with_the_pylon_emulator(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rc = main(["demo", "--dir", str(tmp_path), "--duration", "8", "--http-port", "0", "--modbus-port", "0",
               "--parts", "6", "--rate", "3"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "HMI:" in out and "Modbus TCP: 127.0.0.1:" in out and "camera:     pylon" in out
    assert "'problems': 0" in out
    rows = _results(tmp_path)
    assert len(rows) >= 6, out
    from inspection.cli.demo_parts import generate_parts

    _, planted = generate_parts(tmp_path / "check", count=6)
    for part_id, verdict, code, _, timings in rows:
        expected = "reject" if planted[(part_id - 1) % 6] else "pass"
        assert verdict == expected, (part_id, verdict, code)
        assert {"acquire", "align", "detect", "decide"} <= set(json.loads(timings))


@pytest.mark.timeout(180)
def test_demo_replays_a_deeppcb_folder_with_recipe_changes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = make_deeppcb_folder(tmp_path / "pcb", n=3)
    rc = main(["demo", "--dir", str(tmp_path / "demo"), "--data", str(data), "--duration", "8",
               "--http-port", "0", "--modbus-port", "0", "--rate", "3", "--camera", "replay"])
    out = capsys.readouterr().out
    assert rc == 0 and "recipe changed before each part (3 recipes)" in out
    rows = _results(tmp_path / "demo")
    assert len(rows) >= 3
    assert {r[3] for r in rows} == {1, 2, 3}  # each part under its own recipe
    assert all(r[1] == "reject" for r in rows)  # every replayed pair has planted defects


@pytest.mark.timeout(240)
def test_demo_with_the_goodset_detector_teaches_once_and_judges_tiles(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:
    """``inspection demo --detector goodset``: a good-set recipe taught at start from generated good
    tiles with the real feature extractor (ONNX Runtime), kept for the next start; every tile judged
    as planted (a pore, a crack or a scratch rejected, the others passed), each with its heat map."""
    args = ["demo", "--detector", "goodset", "--dir", str(tmp_path), "--http-port", "0", "--modbus-port", "0",
            "--parts", "9", "--teach-parts", "40", "--rate", "3", "--camera", "replay"]
    assert main([*args, "--duration", "8"]) == 0
    out = capsys.readouterr().out
    assert "teaching the good-set demo recipe from 40 generated good tiles" in out and "'problems': 0" in out
    assert "WARNING: the threshold rests on 40 held-out good scores" in out  # fewer than 100 for a 1% target
    from inspection.cli.demo_parts import generate_tiles

    planted = generate_tiles(tmp_path / "check", count=9)
    assert any(planted) and not all(planted)
    db = tmp_path / "data" / "store" / "results.db"
    with sqlite3.connect(db) as c:
        rows = list(c.execute("select part_id, verdict, code, heat_json, image_path from results"))
    assert len(rows) >= 9, out
    for part_id, verdict, code, heat, image in rows:
        expected = "reject" if planted[(part_id - 1) % 9] else "pass"
        assert verdict == expected, (part_id, verdict, code, planted[(part_id - 1) % 9])
        if verdict == "reject" or image:  # stored with its image (every reject, every 10th pass): its heat map
            assert json.loads(heat)["kind"] == "anomaly" and (tmp_path / "data" / "store" / "images" / image).with_suffix(
                ".heat.png").is_file(), part_id
    # the next start finds the taught recipe and does not teach again; other settings teach anew
    assert main([*args, "--duration", "2"]) == 0
    assert "teaching the good-set" not in capsys.readouterr().out
    assert main([*args[:-6], "--teach-parts", "5", "--duration", "2"]) == 2
    assert "--teach-parts must be within 10..2000" in capsys.readouterr().err
