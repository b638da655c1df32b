"""HMI test helpers: a real store, user store and in-process station behind the app."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests_support import make_result

from hmi.app import create_app
from hmi.auth.roles import Role
from hmi.auth.users import UserStore
from hmi.settings import HmiSettings
from inspection.record import PartInfo, PartRecord
from inspection.station.local import LocalStation, RecipeDef
from inspection.store import ResultStore, StoreConfig

PASSWORD = "pass-word-1"


@dataclass
class Env:
    root: Path
    store: ResultStore
    users: UserStore
    station: LocalStation
    app: FastAPI
    tokens: list[str] = field(default_factory=list)

    def inject(self, n: int = 1, *, defective: bool | None = None, start: int = 0) -> list[PartRecord]:
        """Decide ``n`` parts (alternating OK/NG unless ``defective`` is given)."""
        out = []
        for i in range(start, start + n):
            bad = (i % 2 == 1) if defective is None else defective
            result, image = make_result(i, defective=bad)
            out.append(self.station.inject(result, image, part=PartInfo(
                trigger_seq=i, part_id=100 + i, part_id_str=f"SN{100 + i:06d}", recipe_number=1)))
        return out

    def user(self, name: str, role: Role, password: str = PASSWORD) -> str:
        if self.users.get(name) is None:
            self.users.create(name, role, password)
        return name


def build_env(root: Path, settings: HmiSettings | None = None) -> Env:
    store = ResultStore(StoreConfig(root / "store", save_pass_every=2)).start()
    users = UserStore(root / "users.db")
    station = LocalStation(store, data_dir=root / "station", armed=True, recipes=[
        RecipeDef("pcb-a", 1, "PCB type A", model_hash="hash-a"), RecipeDef("pcb-b", 2, "PCB type B")])
    env = Env(root, store, users, station, FastAPI())
    env.app = create_app(station, store, users, settings=settings or HmiSettings(),
                         announce=env.tokens.append)
    return env


def bearer(client: TestClient, name: str, password: str = PASSWORD) -> dict[str, str]:
    """Sign in through the API; returns the Authorization header (the cookie is dropped so each
    request says explicitly who it is)."""
    r = client.post("/api/auth/login", json={"username": name, "password": password})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['token']}"}
