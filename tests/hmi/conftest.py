"""HMI test fixtures: a real store, user store and in-process station behind the app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hmi_support import Env, bearer, build_env

from hmi.auth.roles import Role
from hmi.server import HmiServer


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = build_env(tmp_path)
    yield e
    e.store.close()
    e.users.close()


@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    with TestClient(env.app) as c:
        yield c


@pytest.fixture
def roles(env: Env, client: TestClient) -> dict[str, dict[str, str]]:
    """Headers of a signed-in operator, engineer and admin."""
    out = {}
    for role in Role:
        env.user(role.value, role)
        out[role.value] = bearer(client, role.value)
    return out


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Env, HmiServer]]:
    """The HMI on a real server (uvicorn on a free port) for the browser tests."""
    env = build_env(tmp_path)
    env.user("olga", Role.OPERATOR)
    env.user("erik", Role.ENGINEER)
    server = HmiServer(env.app).start()
    try:
        yield env, server
    finally:
        server.stop()
        env.store.close()
        env.users.close()
