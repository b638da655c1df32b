"""The issue's acceptance runs, end to end with the real command: two demo stations
(``inspection demo --station-id A|B --plant-db URL``) replicate every locally stored result into one
PostgreSQL table ``results``, none twice, across a 5 s database outage; a demo with ``--mqtt`` gets
every stored result to a subscriber."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest
from plant_servers import Mosquitto, Postgres, free_port
from plant_support import Subscriber


def _demo(root: Path, station_id: str, *extra: str, duration: float = 12, rate: float = 10) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "inspection", "demo", "--dir", str(root), "--duration", str(duration),
         "--http-port", "0", "--modbus-port", "0", "--camera", "replay", "--rate", str(rate), "--parts", "6",
         "--station-id", station_id, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _local_ids(root: Path) -> list[str]:
    with sqlite3.connect(root / "data" / "store" / "results.db") as c:
        return [r[0] for r in c.execute("SELECT result_id FROM results")]


def _wait_until_both_replicate(url: str, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(url, connect_timeout=2) as conn:
                seen = {r[0] for r in conn.execute("SELECT DISTINCT station_id FROM results")}
        except psycopg.Error:  # the tables are created by the first station
            seen = set()
        if seen >= {"A", "B"}:
            return
        time.sleep(0.2)
    raise AssertionError("the demo stations did not start replicating")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_two_demo_stations_replicate_across_a_database_outage(tmp_path: Path, pg_cluster: Postgres,
                                                             plant_db: str) -> None:
    procs = {sid: _demo(tmp_path / sid, sid, "--plant-db", plant_db) for sid in ("A", "B")}
    try:
        _wait_until_both_replicate(plant_db)  # both up and sending (start-up varies with the load)
        pg_cluster.stop()
        time.sleep(5.0)
        pg_cluster.start()
        outs = {sid: p.communicate(timeout=60)[0] for sid, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.communicate()
    for sid, p in procs.items():
        assert p.returncode == 0, outs[sid]
        assert "'problems': 0" in outs[sid], outs[sid]
    with psycopg.connect(plant_db) as conn:
        rows = conn.execute("SELECT station_id, result_id FROM results").fetchall()
    assert len(rows) == len(set(rows)), "a result was replicated twice"
    for sid in procs:
        local = _local_ids(tmp_path / sid)
        assert len(local) >= 60, outs[sid]
        assert sorted(r for s, r in rows if s == sid) == sorted(local), outs[sid]
        assert f"outbox postgres: sent {len(local)}, errors " in outs[sid], outs[sid]
        assert re.search(r"outbox postgres: sent \d+, errors [1-9]", outs[sid]), "the outage was not seen"


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_demo_publishes_every_stored_result_over_mqtt(tmp_path: Path, mosquitto: Mosquitto) -> None:
    sub = Subscriber(mosquitto.port, "inspection/C/result")
    try:
        proc = _demo(tmp_path / "C", "C", "--mqtt", f"127.0.0.1:{mosquitto.port}", duration=5, rate=5)
        assert proc.stdout is not None
        head = ""
        while "MQTT:" not in head and proc.poll() is None:
            head += proc.stdout.readline()
        url = re.search(r"HMI:\s+(http://\S+)", head)
        assert url, head
        with urllib.request.urlopen(url.group(1) + "/health", timeout=5) as r:
            health = json.loads(r.read())
        assert set(health["outbox_pending"]) == {"mqtt"}, health
        out = head + proc.communicate(timeout=60)[0]
        assert proc.returncode == 0, out
        local = _local_ids(tmp_path / "C")
        deadline = time.monotonic() + 10
        while len(sub.ids()) < len(local) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(local) >= 15
        assert sorted(sub.ids()) == sorted(local)
    finally:
        sub.close()


def test_demo_refuses_a_bad_mqtt_address(tmp_path: Path) -> None:
    from inspection.cli import main

    assert main(["demo", "--dir", str(tmp_path), "--mqtt", "nohostport", "--http-port", "0",
                 "--modbus-port", str(free_port()), "--duration", "0.1"]) == 2
