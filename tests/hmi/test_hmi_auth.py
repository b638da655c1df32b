"""Sign-in, sessions, first-admin setup, password change, user management."""

from __future__ import annotations

from hmi_support import PASSWORD, bearer, build_env

from hmi.auth.passwords import hash_password, needs_rehash, verify_password
from hmi.auth.roles import Role


def test_password_hashes_are_salted_scrypt():
    a, b = hash_password("correct horse"), hash_password("correct horse")
    assert a != b and a.startswith("scrypt$32768$8$1$")  # N = 2**15 (issue #13: 2**14 was below guidance)
    assert verify_password("correct horse", a) and not verify_password("wrong horse", a)
    assert not verify_password("x", "garbage") and not verify_password("x", "md5$abc")
    assert not needs_rehash(a) and needs_rehash("scrypt$1024$8$1$AA==$AA==")
    import base64
    import hashlib

    old = hashlib.scrypt(b"correct horse", salt=b"0123456789abcdef", n=2**14, r=8, p=1, dklen=32)
    legacy = "$".join(["scrypt", "16384", "8", "1", base64.b64encode(b"0123456789abcdef").decode(),
                       base64.b64encode(old).decode()])
    assert verify_password("correct horse", legacy) and needs_rehash(legacy)  # upgraded at sign-in


def test_first_admin_by_one_time_setup_token(env, client):
    assert client.get("/api/auth/setup").json() == {"needed": True}
    assert len(env.tokens) == 1  # printed once at start
    token = env.tokens[0]
    r = client.post("/api/auth/setup", json={"token": "wrong", "username": "boss", "password": "long-enough"})
    assert r.status_code == 403 and "setup token" in r.json()["detail"]
    r = client.post("/api/auth/setup", json={"token": token, "username": "boss", "password": "short"})
    assert r.status_code == 422 and r.json()["key"] == "validation_error"
    r = client.post("/api/auth/setup", json={"token": token, "username": "boss", "password": "long-enough"})
    assert r.status_code == 201 and r.json()["user"]["role"] == "admin"
    assert client.get("/api/auth/me").json()["username"] == "boss"  # the cookie signs in
    assert client.get("/api/auth/setup").json() == {"needed": False}
    r = client.post("/api/auth/setup", json={"token": token, "username": "evil", "password": "long-enough"})
    assert r.status_code == 409
    assert [u.username for u in env.users.list()] == ["boss"]
    (entry,) = env.store.audit_log(action="create_user")
    assert entry.user == "boss" and "setup token" in (entry.detail or "")


def test_no_setup_token_once_users_exist(tmp_path):
    from fastapi.testclient import TestClient

    env = build_env(tmp_path)
    env.users.create("admin", Role.ADMIN, PASSWORD)
    try:
        with TestClient(env.app) as c:
            assert env.tokens == []
            r = c.post("/api/auth/setup", json={"token": "x", "username": "ab", "password": "long-enough"})
            assert r.status_code == 409
    finally:
        env.store.close()
        env.users.close()


def test_login_logout_bearer_and_cookie(env, client):
    env.user("olga", Role.OPERATOR)
    assert client.get("/api/auth/me").status_code == 401
    r = client.post("/api/auth/login", json={"username": "olga", "password": "nope-nope"})
    assert r.status_code == 401 and r.json()["detail"] == "wrong user name or password"
    r = client.post("/api/auth/login", json={"username": "nobody", "password": "nope-nope"})
    assert r.status_code == 401
    r = client.post("/api/auth/login", json={"username": "olga", "password": PASSWORD})
    assert r.status_code == 200 and "hmi_session" in r.cookies
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert client.get("/api/auth/me").json()["role"] == "operator"  # by cookie
    token = r.json()["token"]
    client.cookies.clear()
    h = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/auth/me", headers=h).status_code == 200
    assert client.post("/api/auth/logout", headers=h).status_code == 204
    assert client.get("/api/auth/me", headers=h).status_code == 401
    actions = [a.action for a in env.store.audit_log()]
    assert actions.count("login_failed") == 2 and "login" in actions and "logout" in actions


def test_login_lockout_after_repeated_failures(env, client):
    env.user("olga", Role.OPERATOR)
    for _ in range(5):
        r = client.post("/api/auth/login", json={"username": "olga", "password": "bad-bad-bad"})
        assert r.status_code == 401
    r = client.post("/api/auth/login", json={"username": "olga", "password": PASSWORD})
    assert r.status_code == 429 and "Retry-After" in r.headers


def test_change_own_password(env, client):
    env.user("olga", Role.OPERATOR)
    h = bearer(client, "olga")
    r = client.post("/api/auth/password", headers=h,
                    json={"old_password": "wrong-one", "new_password": "new-pass-1"})
    assert r.status_code == 403
    r = client.post("/api/auth/password", headers=h,
                    json={"old_password": PASSWORD, "new_password": "new-pass-1"})
    assert r.status_code == 204
    assert client.get("/api/auth/me", headers=h).status_code == 401  # sessions end
    bearer(client, "olga", "new-pass-1")
    assert any(a.action == "change_password" for a in env.store.audit_log())


def test_user_management_by_admin(env, client, roles):
    admin = roles["admin"]
    nina_in = {"username": "nina", "role": "operator", "password": "pw-nina-1"}
    r = client.post("/api/users", headers=admin, json=nina_in)
    assert r.status_code == 201 and r.json()["role"] == "operator"
    assert client.post("/api/users", headers=admin, json=nina_in).status_code == 409
    r = client.post("/api/users", headers=admin, json={**nina_in, "username": "x"})
    assert r.status_code == 422
    r = client.post("/api/users", headers=admin, json={**nina_in, "username": "ok-name", "role": "boss"})
    assert r.status_code == 422
    nina = bearer(client, "nina", "pw-nina-1")
    r = client.patch("/api/users/nina", headers=admin, json={"role": "engineer"})
    assert r.status_code == 200 and r.json()["role"] == "engineer"
    assert client.get("/api/auth/me", headers=nina).status_code == 401  # role change ends sessions
    assert client.patch("/api/users/nina", headers=admin, json={}).status_code == 422
    assert client.patch("/api/users/ghost", headers=admin, json={"active": False}).status_code == 404
    r = client.patch("/api/users/nina", headers=admin, json={"active": False})
    assert r.json()["active"] is False
    r = client.post("/api/auth/login", json={"username": "nina", "password": "pw-nina-1"})
    assert r.status_code == 401
    assert client.delete("/api/users/nina", headers=admin).status_code == 204
    assert client.delete("/api/users/nina", headers=admin).status_code == 404
    names = {u["username"] for u in client.get("/api/users", headers=admin).json()}
    assert names == {"operator", "engineer", "admin"}
    log = [(a.action, a.target) for a in env.store.audit_log(user="admin")]
    assert ("create_user", "user:nina") in log and ("update_user", "user:nina") in log
    assert ("delete_user", "user:nina") in log
    assert not any("pw-nina-1" in (a.new_value or "") + (a.detail or "") for a in env.store.audit_log())


def test_last_admin_cannot_be_removed(env, client, roles):
    admin = roles["admin"]
    r = client.patch("/api/users/admin", headers=admin, json={"role": "operator"})
    assert r.status_code == 409 and r.json()["key"] == "last_admin"
    assert client.delete("/api/users/admin", headers=admin).status_code == 409
    assert client.patch("/api/users/admin", headers=admin, json={"active": False}).status_code == 409
    env.user("admin2", Role.ADMIN)
    assert client.patch("/api/users/admin", headers=admin, json={"role": "engineer"}).status_code == 200
