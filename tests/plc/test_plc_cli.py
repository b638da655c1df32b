"""``inspection plc-*`` commands, called through main() against a real loopback station."""

from __future__ import annotations

import json

from inspection.cli import main


def test_plc_commands_are_listed(capsys):
    main([])
    out = capsys.readouterr().out
    for name in ("plc-sim", "plc-conformance", "plc-bench", "plc-serve"):
        assert name in out


def test_plc_sim_runs_parts_and_checks_echoes(loopback, capsys, tmp_path):
    ls = loopback()
    out_json = tmp_path / "parts.json"
    rc = main(["plc-sim", "--port", str(ls.port), "--parts", "5", "--rate", "100", "--part-str", "NG",
               "--recipe", "3", "--json", str(out_json)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert out.count("REJECT") == 5 and "5 parts, 0 PASS, 0 with handshake problems" in out
    parts = json.loads(out_json.read_text())
    assert [p["trigger_seq"] for p in parts] == [1, 2, 3, 4, 5] and all(p["result_code"] == 2 for p in parts)
    assert ls.station.image().active_recipe == 3


def test_plc_conformance_command(loopback, capsys, tmp_path):
    ls = loopback()
    rc = main(["plc-conformance", "--port", str(ls.port), "--heartbeat-timeout-ms", "300",
               "--case", "happy_path", "--case", "slow_detector", "--parts", "5",
               "--json", str(tmp_path / "c.json")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "2 passed, 0 skipped, 0 failed" in out  # skipped cases are not counted as passed (#13)
    assert {r["name"] for r in json.loads((tmp_path / "c.json").read_text())} == {"happy_path",
                                                                                    "slow_detector"}


def test_plc_conformance_unknown_case_is_a_clear_error(capsys):
    assert main(["plc-conformance", "--case", "nope"]) == 2
    assert "unknown case" in capsys.readouterr().err


def test_plc_bench_short_run_writes_json(capsys, tmp_path):
    out_json = tmp_path / "bench.json"
    main(["plc-bench", "--parts", "30", "--deadline-parts", "3", "--soak-s", "1", "--out", str(out_json)])
    out = capsys.readouterr().out
    assert "trigger -> TRIG_ACK" in out and "soak" in out
    data = json.loads(out_json.read_text())
    assert data["latency"]["trig_ack_ms"]["n"] == 30
    assert data["deadline"]["timeout_after_deadline_ms"]["n"] == 3
    soak = data["soak"]
    assert soak["parts"] >= 10 and soak["lost"] == 0 and soak["duplicated"] == 0 and soak["out_of_order"] == 0


def test_plc_serve_bad_job_is_a_clear_error(capsys):
    assert main(["plc-serve", "--job", "warp:9", "--port", "0"]) == 2
    assert "unknown job" in capsys.readouterr().err


def test_plc_serve_runs_for_a_while(capsys):
    assert main(["plc-serve", "--port", "0", "--seconds", "0.2", "--job", "fixed:5"]) == 0
    assert "station listening on 127.0.0.1:" in capsys.readouterr().out


def test_bridge_registry_finds_modbus_and_names_the_known_ones(loopback):
    import pytest

    from inspection.errors import ConfigError
    from inspection.plc.bridge import plc_bridges
    from inspection.plc.job import ScriptedJob
    from inspection.plc.station import PlcStation

    assert "modbus" in plc_bridges.names()
    with PlcStation(ScriptedJob()) as station:
        bridge = plc_bridges.create("modbus", station, host="127.0.0.1", port=0)
        bridge.start()
        try:
            assert bridge.port > 0
        finally:
            bridge.stop()
    with pytest.raises(ConfigError, match=r"known: .*modbus"):
        plc_bridges.get("profinet")
