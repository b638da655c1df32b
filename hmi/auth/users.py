"""HMI users and sessions in a small SQLite file (``users.db`` next to the result store).

No user exists until the first admin is created (``python -m hmi users add`` or the one-time
setup token the HMI prints at start); there is no default password. Session tokens are random
(256 bit), handed to the browser once and stored only as their SHA-256; a session expires after
``idle_s`` without a request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hmi.auth.passwords import burn_time, hash_password, needs_rehash, password_problem, verify_password
from hmi.auth.roles import Role
from inspection.errors import InspectionError
from inspection.store.schema import private_file

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{2,32}$")

_DDL = """
CREATE TABLE IF NOT EXISTS users (
    username      TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('operator', 'engineer', 'admin')),
    password_hash TEXT NOT NULL,
    active        INTEGER NOT NULL DEFAULT 1,
    created_ns    INTEGER NOT NULL,
    updated_ns    INTEGER NOT NULL,
    last_login_ns INTEGER
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash   TEXT PRIMARY KEY,
    username     TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    created_ns   INTEGER NOT NULL,
    expires_ns   INTEGER NOT NULL
);
"""


class AuthError(InspectionError):
    """A user-management request was refused. Keys: ``bad_username``, ``weak_password``,
    ``user_exists``, ``unknown_user``, ``last_admin``."""

    key = "auth_error"


@dataclass(frozen=True)
class User:
    username: str
    role: Role
    active: bool
    created_ns: int
    last_login_ns: int | None

    def to_dict(self) -> dict[str, object]:
        return {"username": self.username, "role": self.role.value, "active": self.active,
                "created_ns": self.created_ns, "last_login_ns": self.last_login_ns}


class UserStore:
    def __init__(self, path: Path, *, idle_s: float = 12 * 3600) -> None:
        self.path = Path(path)
        self.idle_ns = int(idle_s * 1e9)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        private_file(self.path)  # password hashes and session digests: owner only
        self._conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False,
                                     timeout=10.0)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._conn.executescript(_DDL)
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _txn(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    # ---- users ----------------------------------------------------------------------------------
    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM users").fetchone()[0])

    def list(self) -> list[User]:
        with self._lock:
            rows = self._conn.execute("SELECT * FROM users ORDER BY username").fetchall()
        return [_user(r) for r in rows]

    def get(self, username: str) -> User | None:
        with self._lock:
            row = self._conn.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
        return None if row is None else _user(row)

    def require(self, username: str) -> User:
        user = self.get(username)
        if user is None:
            raise AuthError(f"no user {username!r}", key="unknown_user")
        return user

    def create(self, username: str, role: Role, password: str) -> User:
        if not USERNAME_RE.match(username):
            raise AuthError("a user name has 2-32 letters, digits, '.', '_' or '-'", key="bad_username")
        problem = password_problem(password)
        if problem:
            raise AuthError(problem, key="weak_password")
        pw = hash_password(password)
        now = time.time_ns()
        with self._txn() as db:
            if db.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
                raise AuthError(f"user {username!r} exists already", key="user_exists")
            db.execute("INSERT INTO users (username, role, password_hash, created_ns, updated_ns) "
                       "VALUES (?, ?, ?, ?, ?)", (username, role.value, pw, now, now))
        return self.require(username)

    def update(self, username: str, *, role: Role | None = None, password: str | None = None,
               active: bool | None = None) -> User:
        if password is not None:
            problem = password_problem(password)
            if problem:
                raise AuthError(problem, key="weak_password")
        pw = None if password is None else hash_password(password)
        with self._txn() as db:
            row = db.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
            if row is None:
                raise AuthError(f"no user {username!r}", key="unknown_user")
            new_role = role.value if role is not None else row["role"]
            new_active = int(active) if active is not None else row["active"]
            if row["role"] == "admin" and row["active"] and (new_role != "admin" or not new_active):
                self._keep_an_admin(db, username)
            db.execute("UPDATE users SET role = ?, active = ?, password_hash = COALESCE(?, password_hash), "
                       "updated_ns = ? WHERE username = ?",
                       (new_role, new_active, pw, time.time_ns(), username))
            if pw is not None or not new_active or new_role != row["role"]:
                db.execute("DELETE FROM sessions WHERE username = ?", (username,))
        return self.require(username)

    def delete(self, username: str) -> User:
        with self._txn() as db:
            row = db.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
            if row is None:
                raise AuthError(f"no user {username!r}", key="unknown_user")
            if row["role"] == "admin" and row["active"]:
                self._keep_an_admin(db, username)
            db.execute("DELETE FROM sessions WHERE username = ?", (username,))
            db.execute("DELETE FROM users WHERE username = ?", (username,))
        return _user(row)

    @staticmethod
    def _keep_an_admin(db: sqlite3.Connection, username: str) -> None:
        n = db.execute("SELECT COUNT(*) FROM users WHERE role = 'admin' AND active = 1 AND username != ?",
                       (username,)).fetchone()[0]
        if n == 0:
            raise AuthError("this is the last active admin; create another admin first", key="last_admin")

    def authenticate(self, username: str, password: str) -> User | None:
        """The active user with this name and password, or None (same time either way)."""
        with self._lock:
            row = self._conn.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
        if row is None:
            burn_time(password)
            return None
        if not verify_password(password, row["password_hash"]) or not row["active"]:
            return None
        now = time.time_ns()
        with self._txn() as db:
            new_hash = hash_password(password) if needs_rehash(row["password_hash"]) else None
            db.execute("UPDATE users SET last_login_ns = ?, password_hash = COALESCE(?, password_hash) "
                       "WHERE username = ?", (now, new_hash, username))
        return self.require(username)

    # ---- sessions -------------------------------------------------------------------------------
    def create_session(self, username: str) -> tuple[str, int]:
        """A new session token for ``username`` and its expiry (ns)."""
        token = secrets.token_urlsafe(32)
        now = time.time_ns()
        expires = now + self.idle_ns
        with self._txn() as db:
            db.execute("DELETE FROM sessions WHERE expires_ns < ?", (now,))
            db.execute("INSERT INTO sessions (token_hash, username, created_ns, expires_ns) "
                       "VALUES (?, ?, ?, ?)", (_digest(token), username, now, expires))
        return token, expires

    def session_user(self, token: str) -> User | None:
        """The user of a valid session (sliding its expiry), or None."""
        if not token or len(token) > 128:
            return None
        now = time.time_ns()
        th = _digest(token)
        with self._lock:
            row = self._conn.execute(
                "SELECT u.*, s.expires_ns AS s_expires FROM sessions s JOIN users u USING (username) "
                "WHERE s.token_hash = ?", (th,)).fetchone()
            if row is None or row["s_expires"] < now or not row["active"]:
                return None
            if row["s_expires"] - now < self.idle_ns - 60 * 10**9:  # slide at most once a minute
                self._conn.execute("UPDATE sessions SET expires_ns = ? WHERE token_hash = ?",
                                   (now + self.idle_ns, th))
        return _user(row)

    def revoke(self, token: str) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM sessions WHERE token_hash = ?", (_digest(token),))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user(row: sqlite3.Row) -> User:
    return User(row["username"], Role(row["role"]), bool(row["active"]), row["created_ns"],
                row["last_login_ns"])
