"""A running station with a good-set recipe (replay camera, simulated PLC over Modbus, SQLite
store): the recipe version it keeps carries the good-set model, a what-if with the model's
threshold runs on its stored parts, and ``inspection replay`` on its data folder reproduces every
stored verdict with the good-set detector (nothing refused)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from goodset_support import goodset_recipe, use_block_features, write_tiles
from tests_support import wait_stored

from inspection.camera.settings import CameraSettings
from inspection.cli import main
from inspection.plc.contract import StationState
from inspection.recipe.catalog import MemoryCatalog
from inspection.recipe.versions import GOODSET_FILE
from inspection.station.config import PlcSection, StationConfig, StationSection, StorageSection
from inspection.station.runtime import Station
from plugins.plc.simulator import PlcSimulator

DEFECTS = [False, True, False, False, True, False]


@pytest.mark.timeout(180)
def test_a_goodset_station_replays_its_own_verdicts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture) -> None:
    use_block_features(monkeypatch)
    recipe = dataclasses.replace(goodset_recipe(0), number=1)
    folder = tmp_path / "camera"
    write_tiles(folder, DEFECTS)
    config = StationConfig(
        station=StationSection(id="goodset-station", data_dir=tmp_path / "data"),
        camera=CameraSettings(driver="replay", image_file=folder, grab_timeout_s=2.0),  # type: ignore[arg-type]
        plc=PlcSection(host="127.0.0.1", port=0, deadline_ms=5000, plc_heartbeat_timeout_ms=10000),
        storage=StorageSection(save_pass_every=1))
    station = Station(config, MemoryCatalog([recipe])).start()
    try:
        with PlcSimulator("127.0.0.1", station.modbus_port, poll_s=0.002, timeout_s=20.0) as sim:
            sim.wait(lambda v: v.state == StationState.READY, "recipe prepared", 30.0)
            sim.recipe_no = 1
            sim.enable(True)
            reports = [sim.run_part(k + 1, part_id=k + 1) for k in range(len(DEFECTS))]
        assert [r.passed for r in reports] == [not d for d in DEFECTS], [r.result_code for r in reports]
        wait_stored(station, len(DEFECTS))  # stored after the PLC saw them: wait for the last one
        lc = station.lifecycle
        (kept,) = lc.versions.hashes()
        assert kept == recipe.content_hash() and (lc.versions.root / kept / GOODSET_FILE).is_file()
        # the model's threshold as a what-if parameter: far above every score, every reject passes
        state = lc.whatif_state()
        assert [p["name"] for p in state["parameters"]] == ["anomaly_threshold"]
        assert state["parameters"][0]["value"] == pytest.approx(recipe.goodset.threshold)
        report = lc.whatif({"anomaly_threshold": recipe.goodset.threshold * 1000}, last=50, user="erik")
        assert report.parts == len(DEFECTS) and report.refused == []
        assert report.newly_passed == sum(DEFECTS) and report.rejected_now == 0
        last = lc.whatif_state()["last"]
        assert last["user"] == "erik" and last["report"]["newly_passed"] == sum(DEFECTS)
    finally:
        station.stop()
    rc = main(["replay", str(tmp_path / "data"), "--out", str(tmp_path / "out"), "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0, out
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["parts"] == len(DEFECTS) and s["same_verdict"] == s["parts"] == s["same_code"]
    assert s["refused"] == [] and s["unknown_recipe"] == 0
    assert s["rejected_before"] == s["rejected_now"] == sum(DEFECTS)
    # without its model the version is refused, and the command says so (exit code 1)
    (tmp_path / "data" / "station" / "recipe-versions" / kept / GOODSET_FILE).unlink()
    rc = main(["replay", str(tmp_path / "data"), "--out", str(tmp_path / "out2"), "--quiet"])
    out = capsys.readouterr().out
    assert rc == 1
    s = json.loads((tmp_path / "out2" / "summary.json").read_text())
    assert s["parts"] == 0 and s["refused_reasons"] == {"recipe_version_incomplete": len(DEFECTS)}
    assert "refused" in out
