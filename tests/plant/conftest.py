"""Fixtures of the plant tests: real Mosquitto and PostgreSQL servers (tests/plant/plant_servers.py), a
result store fed with synthetic parts, and a guard against leaked outbox threads."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from plant_servers import Mosquitto, Postgres

from inspection.store import ResultStore, StoreConfig


@pytest.fixture(autouse=True)
def no_leaked_outbox_threads() -> Iterator[None]:
    yield
    left = [t for t in threading.enumerate() if t.name.startswith(("outbox-", "paho-mqtt", "opcua-server")) and t.is_alive()]
    for t in left:
        t.join(5.0)
    assert not [t.name for t in left if t.is_alive()], "outbox threads left running"


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    folder = tmp_path / "broker"
    folder.mkdir()
    broker = Mosquitto(folder).start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Postgres]:
    pg = Postgres().start()
    yield pg
    pg.remove()


@pytest.fixture
def plant_db(pg_cluster: Postgres) -> str:
    """A fresh database in the session's cluster; its URL."""
    import psycopg

    name = f"plant_{uuid.uuid4().hex[:10]}"
    deadline = time.monotonic() + 15
    while True:
        try:
            with psycopg.connect(pg_cluster.url, autocommit=True, connect_timeout=2) as conn:
                conn.execute(f"CREATE DATABASE {name}")
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    return pg_cluster.url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def make_store(tmp_path: Path) -> Iterator[Callable[[str], ResultStore]]:
    made: list[ResultStore] = []

    def make(name: str) -> ResultStore:
        store = ResultStore(StoreConfig(tmp_path / name, save_pass_every=0)).start()
        made.append(store)
        return store

    yield make
    for s in made:
        s.close()
