"""The audit log: who changed what, when, from which value to which (in the result database)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class AuditEntry:
    id: int
    ts_ns: int
    user: str
    action: str
    target: str
    old_value: str | None
    new_value: str | None
    detail: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> AuditEntry:
        return cls(row["id"], row["ts_ns"], row["user"], row["action"], row["target"],
                   row["old_value"], row["new_value"], row["detail"])

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "ts_ns": self.ts_ns, "user": self.user, "action": self.action,
                "target": self.target, "old_value": self.old_value, "new_value": self.new_value,
                "detail": self.detail}


def encode_value(value: object) -> str | None:
    """Audit values are text: strings as they are, anything else as compact sorted JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def insert_audit(conn: sqlite3.Connection, *, ts_ns: int, user: str, action: str, target: str,
                 old: object = None, new: object = None, detail: str | None = None) -> int:
    """Insert one entry (inside the caller's transaction); returns its id."""
    cur = conn.execute(
        "INSERT INTO audit (ts_ns, user, action, target, old_value, new_value, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (ts_ns, user, action, target, encode_value(old), encode_value(new), detail))
    return int(cur.lastrowid or 0)
