"""The audit log for people: old -> new as text, and the part serial of a result an entry is about."""

from __future__ import annotations

import json
from typing import Any

from inspection.store import AuditEntry, ResultStore


def _value(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _show(v: Any) -> str:
    if v is None or v == "":
        return "—"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, dict | list):
        return json.dumps(v, separators=(", ", ": "), sort_keys=True)
    return str(v)


def summary(entry: AuditEntry) -> str:
    """``key: old -> new`` for each changed key of a dict value, else ``old -> new``."""
    old, new = _value(entry.old_value), _value(entry.new_value)
    if isinstance(old, dict) or isinstance(new, dict):
        o = old if isinstance(old, dict) else {}
        n = new if isinstance(new, dict) else {}
        parts = [f"{k}: {_show(o.get(k))} → {_show(n.get(k))}" for k in sorted(set(o) | set(n))
                 if o.get(k) != n.get(k)]
        return "; ".join(parts) or "no change"
    if old is None:
        return _show(new)
    return f"{_show(old)} → {_show(new)}"


def part_serial(store: ResultStore, entry: AuditEntry) -> str:
    """The serial (or part id) of the result a ``result:<id>`` entry is about; "" otherwise."""
    if not entry.target.startswith("result:"):
        return ""
    rows = store.select("SELECT part_id_str, part_id FROM results WHERE result_id = ?", (entry.target[7:],))
    if not rows:
        return ""
    return str(rows[0]["part_id_str"] or rows[0]["part_id"])
