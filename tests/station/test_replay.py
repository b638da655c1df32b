"""``inspection replay`` on the data folder of a real demo run (generated parts through the pylon
emulator, the simulated PLC, the SQLite store): every stored verdict reproduces with the recipe
version that judged it; a what-if with changed thresholds reports the parts that would change; a
stored image that was swapped is caught."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import cv2
import pytest

from inspection.cli import main
from inspection.recipe.versions import RecipeVersions
from inspection.station.replay import versions_dir


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    rc = main(["demo", "--dir", str(root), "--duration", "10", "--http-port", "0", "--modbus-port", "0",
               "--parts", "8", "--rate", "3"])
    assert rc == 0
    return root / "data"


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


@pytest.mark.timeout(240)
def test_replay_reproduces_every_stored_verdict(demo_data: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    with sqlite3.connect(demo_data / "store" / "results.db") as c:
        stored = dict(c.execute("select result_id, verdict from results where image_state = 'saved'"))
        hashes = {h for (h,) in c.execute("select distinct model_hash from results")}
    assert len(stored) >= 5 and "reject" in stored.values()
    kept = RecipeVersions(versions_dir(demo_data)).hashes()
    assert {h.rpartition("@")[2] for h in hashes} <= {k[:12] for k in kept}
    rc = main(["replay", str(demo_data), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert rc == 0, out
    s = _summary(tmp_path / "out")
    assert s["mode"] == "replay" and s["parts"] == len(stored) >= 5
    assert s["same_verdict"] == s["parts"] and s["same_code"] == s["parts"] and s["changed"] == []
    assert s["unknown_recipe"] == 0
    assert "same verdict" in out and f"{s['parts']}" in out


@pytest.mark.timeout(240)
def test_whatif_with_a_higher_threshold_passes_some_rejects(demo_data: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    rc = main(["replay", str(demo_data), "--out", str(tmp_path / "w"), "--set", "threshold=0.6", "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0
    s = _summary(tmp_path / "w")
    assert s["mode"] == "what-if" and s["candidate"]["thresholds"] == {"threshold": 0.6}
    assert s["changed_count"] >= 1 and s["newly_passed"] == s["changed_count"]  # only fewer rejects
    assert s["rejected_now"] == s["rejected_before"] - s["changed_count"]
    for c in s["changed"]:
        assert (tmp_path / "w" / "changed" / f"{c['result_id']}.png").is_file()
    assert "would have rejected" in out
    # a time window before the run holds nothing
    assert main(["replay", str(demo_data), "--out", str(tmp_path / "e"), "--until", "2001-01-01T00:00:00",
                 "--quiet"]) == 0
    assert _summary(tmp_path / "e")["parts"] == 0


@pytest.mark.timeout(240)
def test_replay_catches_a_stored_image_that_does_not_match_its_verdict(demo_data: Path, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture) -> None:
    copy = tmp_path / "data"
    import shutil

    shutil.copytree(demo_data, copy)
    with sqlite3.connect(copy / "store" / "results.db") as c:
        rid, rel, model_hash = c.execute("select result_id, image_path, model_hash from results where "
                                         "verdict = 'reject' and image_state = 'saved' limit 1").fetchone()
    golden = RecipeVersions(versions_dir(copy)).load(model_hash).reference
    cv2.imwrite(str(copy / "store" / "images" / rel), golden)  # a perfect part where a reject was
    rc = main(["replay", str(copy), "--out", str(tmp_path / "out"), "--quiet"])
    capsys.readouterr()
    assert rc == 1
    s = _summary(tmp_path / "out")
    assert [(c["result_id"], c["old_verdict"], c["new_verdict"]) for c in s["changed"]] == [(rid, "reject", "pass")]
    assert s["same_verdict"] == s["parts"] - 1


@pytest.mark.timeout(240)
def test_replay_of_a_deeppcb_demo_with_a_recipe_per_part(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from helpers import make_deeppcb_folder

    data = make_deeppcb_folder(tmp_path / "pcb", n=3)
    assert main(["demo", "--dir", str(tmp_path / "demo"), "--data", str(data), "--duration", "8",
                 "--http-port", "0", "--modbus-port", "0", "--rate", "3", "--camera", "replay"]) == 0
    root = tmp_path / "demo" / "data"
    assert len(RecipeVersions(versions_dir(root)).hashes()) == 3  # one version per pair, kept once each
    assert main(["replay", str(root), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    s = _summary(tmp_path / "out")
    assert s["parts"] >= 3 and s["same_verdict"] == s["parts"]
    assert main(["replay", str(root), "--out", str(tmp_path / "two"), "--recipe-number", "2", "--quiet"]) == 0
    two = _summary(tmp_path / "two")
    assert 1 <= two["parts"] < s["parts"] and two["same_verdict"] == two["parts"]
    capsys.readouterr()


@pytest.mark.timeout(240)
def test_whatif_with_a_candidate_bundle(demo_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import dataclasses

    from calibration.bundle import load_bundle
    from calibration.bundle_writer import write_bundle

    own = demo_data.parent / "recipes" / "demo-part"  # the bundle the demo ran
    assert main(["replay", str(demo_data), "--out", str(tmp_path / "own"), "--recipe", str(own), "--quiet"]) == 0
    s = _summary(tmp_path / "own")
    assert s["mode"] == "what-if" and s["parts"] >= 5 and s["changed_count"] == 0 and s["recipe_number"] == 1
    recipe = load_bundle(own).recipe
    stricter = dataclasses.replace(recipe, detect=dataclasses.replace(recipe.detect, min_area_px=100_000))
    write_bundle(stricter, tmp_path / "candidate")
    assert main(["replay", str(demo_data), "--out", str(tmp_path / "cand"), "--recipe", str(tmp_path / "candidate"),
                 "--quiet"]) == 0
    c = _summary(tmp_path / "cand")
    assert c["rejected_now"] < c["rejected_before"] and c["newly_passed"] >= 1
    assert c["candidate"]["recipe"].endswith(stricter.content_hash()[:12])
    capsys.readouterr()
