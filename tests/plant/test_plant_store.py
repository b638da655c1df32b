"""The PostgreSQL plant store against a real server: two stations replicate every stored result into one
``results`` table, none twice, across a 5 s database outage; replication is idempotent; the plant view
shows them."""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg
import pytest
from fastapi.testclient import TestClient
from plant_servers import Postgres, free_port
from plant_support import Feeder

from inspection.store import ResultStore
from inspection.store.outbox import Forwarder, result_sinks
from plugins.plant.postgres import PlantDb
from plugins.plant.view import create_plant_app


def _forwarder(store: ResultStore, station_id: str, url: str) -> Forwarder:
    sink = result_sinks.create("postgres", station_id=station_id, url=url, connect_timeout_s=1)
    return Forwarder(store, sink, max_delay_s=0.5, heartbeat_s=1.0,
                     status=lambda: {"station_id": station_id, "state": "Ready"}).start()


def _rows(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        return [(r[0], r[1]) for r in conn.execute("SELECT station_id, result_id FROM results")]


@pytest.mark.timeout(60)
def test_two_stations_replicate_every_result_once_across_a_database_outage(
        pg_cluster: Postgres, plant_db: str, make_store: Callable[[str], ResultStore]) -> None:
    stores = {"A": make_store("A"), "B": make_store("B")}
    fwds = {sid: _forwarder(s, sid, plant_db) for sid, s in stores.items()}
    feeder = Feeder(stores, rate=10).start()  # 20 parts/s in all
    try:
        time.sleep(1.5)
        pg_cluster.stop()
        time.sleep(5.0)
        pg_cluster.start()
        time.sleep(1.0)
        feeder.stop()
        for f in fwds.values():
            assert f.wait_idle(20), f.stats()
        rows = _rows(plant_db)
        assert len(rows) == len(set(rows))
        for sid in stores:
            assert len(feeder.ids[sid]) >= 70
            assert sorted(r for s, r in rows if s == sid) == sorted(feeder.ids[sid])
            assert fwds[sid].stats().errors >= 1  # the outage was seen and ridden out

        # Idempotent on (station_id, result_id): replaying A's whole outbox inserts nothing.
        fwds["A"].stop()
        stores["A"].set_meta("outbox.postgres", "0")
        fwds["A"] = _forwarder(stores["A"], "A", plant_db)
        assert fwds["A"].wait_idle(10)
        assert len(_rows(plant_db)) == len(rows)
    finally:
        feeder.stop()
        for f in fwds.values():
            f.stop()


@pytest.mark.timeout(30)
def test_the_plant_view_shows_every_station(plant_db: str, make_store: Callable[[str], ResultStore]) -> None:
    assert PlantDb(plant_db).stations() == []  # no station has created the tables yet: the view only reads
    stores = {"A": make_store("A"), "B": make_store("B")}
    fwds = {sid: _forwarder(s, sid, plant_db) for sid, s in stores.items()}
    feeder = Feeder(stores, rate=100).start()
    time.sleep(0.3)
    feeder.stop()
    try:
        for f in fwds.values():
            assert f.wait_idle(10)
        with TestClient(create_plant_app(PlantDb(plant_db))) as client:
            page = client.get("/")
            assert page.status_code == 200 and "Plant view" in page.text
            stations = {s["station_id"]: s for s in client.get("/api/stations").json()}
            assert set(stations) == {"A", "B"}
            for sid in stations:
                assert stations[sid]["state"] == "Ready"
                assert stations[sid]["total"] == len(feeder.ids[sid])
                assert 0 < stations[sid]["yield"] < 1  # every 4th part is a reject
            rejects = client.get("/api/rejects?limit=5").json()
            assert len(rejects) == 5 and {r["verdict"] for r in rejects} == {"reject"}
            drill = client.get("/api/stations/B/results?limit=1000").json()
            assert {r["result_id"] for r in drill} == set(feeder.ids["B"])
            trend = client.get("/api/trend?minutes=5").json()
            assert {p["station_id"] for p in trend} == {"A", "B"}
            assert sum(p["total"] for p in trend) == sum(len(v) for v in feeder.ids.values())
    finally:
        for f in fwds.values():
            f.stop()


def test_the_plant_view_says_when_the_database_is_unreachable() -> None:
    db = PlantDb(f"postgresql://postgres@127.0.0.1:{free_port()}/none", connect_timeout_s=1)
    with TestClient(create_plant_app(db)) as client:
        r = client.get("/api/stations")
    assert r.status_code == 503 and r.json()["detail"]["key"] == "sink_unreachable"


@pytest.mark.timeout(60)
def test_inspection_plant_serves_the_view(plant_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess
    import sys
    import urllib.request

    from plant_servers import wait_port

    from inspection.cli import main

    assert main(["plant", "--db", f"postgresql://postgres@127.0.0.1:{free_port()}/x"]) == 2  # says why
    assert "plant database" in capsys.readouterr().err
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "inspection", "plant", "--db", plant_db, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_port(port, timeout=30)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.status == 200 and b"Plant view" in r.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/stations", timeout=5) as r:
            assert r.status == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
