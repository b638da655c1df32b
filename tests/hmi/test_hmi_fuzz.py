"""Schemathesis fuzz pass over the OpenAPI schema: no generated request may get a 5xx.

Runs signed in as an admin (so every route's body is reached, not just the 401), on a station with
parts, stored images and a golden reference. Bounded for CI: ``HMI_FUZZ_EXAMPLES`` examples per
operation (default 15), derandomized. The SSE stream never ends, so it is tested separately.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hmi_support import PASSWORD, Env, build_env
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error

from hmi.auth.roles import Role

EXAMPLES = int(os.environ.get("HMI_FUZZ_EXAMPLES", "15"))
FUZZ_ADMIN = "fuzz-admin"


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    env = build_env(tmp_path_factory.mktemp("fuzz"))
    env.users.create(FUZZ_ADMIN, Role.ADMIN, PASSWORD)
    env.inject(8)
    env.station.teach_golden("pcb-a", user="test")
    env.store.flush(10)
    yield env
    env.store.close()
    env.users.close()


@pytest.fixture(scope="module")
def fuzz_app(fuzz_env: Env) -> Iterator[FastAPI]:
    with TestClient(fuzz_env.app):  # runs the lifespan
        yield fuzz_env.app


def _admin_token(env: Env) -> str:
    """A fresh admin session per case: the fuzzer may log out, or change this user."""
    admin = env.users.get(FUZZ_ADMIN)
    if admin is None:
        env.users.create(FUZZ_ADMIN, Role.ADMIN, PASSWORD)
    elif admin.role is not Role.ADMIN or not admin.active:
        env.users.update(FUZZ_ADMIN, role=Role.ADMIN, active=True)
    return env.users.create_session(FUZZ_ADMIN)[0]


# One hypothesis run per operation inside one test (schemathesis' pytest fixture loader does not
# work with pytest 9: it sets the removed ``Node._nodeid``).
def test_no_server_errors(fuzz_app: FastAPI, fuzz_env: Env) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        op = result.ok()
        if op.path == "/api/events":  # an endless stream; see test_hmi_live_stream.py
            continue
        operations += 1

        @given(case=op.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case: Case) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {_admin_token(fuzz_env)}"},
                                   checks=[not_a_server_error])

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{op.method.upper()} {op.path}: {exc}")
    assert operations >= 35
    assert not failures, "\n\n".join(failures)
