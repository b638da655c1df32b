"""Statistics over the result store: yield per hour and per shift, a defect Pareto, where on the part
the defects are. All three read the pre-aggregated tables of :mod:`inspection.store.aggregates`
(UTC hours; labelled and folded into shifts in local time, so a zone with a half-hour offset gets
shift edges half an hour off).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from inspection.findings import DefectClass
from inspection.result import ResultCode
from inspection.store.aggregates import GRID_COLS, GRID_ROWS
from inspection.store.store import ResultStore

HOUR_NS = 3_600_000_000_000
DEFAULT_SHIFTS = ((6, "early"), (14, "late"), (22, "night"))


@dataclass(frozen=True)
class Bucket:
    start_ns: int
    total: int
    ok: int
    label: str = ""

    @property
    def ng(self) -> int:
        return self.total - self.ok

    def to_dict(self) -> dict[str, object]:
        return {"start_ns": self.start_ns, "label": self.label, "total": self.total, "ok": self.ok,
                "ng": self.ng, "yield_pct": None if not self.total else round(100.0 * self.ok / self.total, 2)}


def _range_where(recipe_id: str | None) -> str:
    return "decided_ns >= :since AND decided_ns < :until" + (" AND recipe_id = :recipe" if recipe_id else "")


def yield_per_hour(store: ResultStore, since_ns: int, until_ns: int, *,
                   recipe_id: str | None = None) -> list[Bucket]:
    """Parts and OK parts per hour that has parts, oldest first, from the pre-aggregated table
    (hour granularity: the hours that ``since_ns`` and ``until_ns`` fall in are counted whole)."""
    rows = store.select(
        "SELECT hour, SUM(total) AS n, SUM(ok) AS ok FROM stats_hourly WHERE hour >= :h0 AND hour <= :h1"
        + (" AND recipe_id = :recipe" if recipe_id else "") + " GROUP BY hour ORDER BY hour",
        {"h0": since_ns // HOUR_NS, "h1": (until_ns - 1) // HOUR_NS, "recipe": recipe_id})
    out = []
    for r in rows:
        start = int(r["hour"]) * HOUR_NS
        out.append(Bucket(start, int(r["n"]), int(r["ok"] or 0),
                          datetime.fromtimestamp(start / 1e9).strftime("%Y-%m-%d %H:00")))
    return out


def yield_per_shift(hours: list[Bucket], shifts: tuple[tuple[int, str], ...] = DEFAULT_SHIFTS) -> list[Bucket]:
    """Fold hourly buckets into shifts (start hour, name), oldest first."""
    starts = sorted(shifts)
    acc: dict[int, list[int | str]] = {}
    for b in hours:
        t = datetime.fromtimestamp(b.start_ns / 1e9)
        prior = [s for s in starts if s[0] <= t.hour]
        hour, name = prior[-1] if prior else starts[-1]
        day = t.date() if prior else t.date() - timedelta(days=1)
        start = datetime(day.year, day.month, day.day, hour)
        key = int(start.timestamp() * 1e9)
        total, ok, _ = acc.get(key, [0, 0, ""])
        acc[key] = [int(total) + b.total, int(ok) + b.ok, f"{start:%Y-%m-%d} {name} ({hour:02d}:00)"]
    return [Bucket(k, int(v[0]), int(v[1]), str(v[2])) for k, v in sorted(acc.items())]


def pareto(store: ResultStore, since_ns: int, until_ns: int, *,
           recipe_id: str | None = None) -> list[dict[str, object]]:
    """Rejected parts by cause (the worst defect's class, or the result code when it is not a
    defect), most frequent first, with the cumulative share."""
    rows = store.select(
        "SELECT code, worst_class, SUM(n) AS n FROM stats_causes WHERE hour >= :h0 AND hour <= :h1"
        + (" AND recipe_id = :recipe" if recipe_id else "") + " GROUP BY code, worst_class",
        {"h0": since_ns // HOUR_NS, "h1": (until_ns - 1) // HOUR_NS, "recipe": recipe_id})
    counts: dict[str, int] = {}
    for r in rows:
        code, wc = int(r["code"]), r["worst_class"]
        if code == ResultCode.NG_DEFECT and wc is not None and wc >= 0:
            try:
                label = DefectClass(int(wc)).label
            except ValueError:
                label = f"class {wc}"
        else:
            try:
                label = ResultCode(code).name.lower().replace("ng_", "").replace("_", " ")
            except ValueError:
                label = f"code {code}"
        counts[label] = counts.get(label, 0) + int(r["n"])
    total = sum(counts.values())
    out, cum = [], 0
    for label, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        cum += n
        out.append({"cause": label, "parts": n, "pct": round(100.0 * n / total, 2),
                    "cumulative_pct": round(100.0 * cum / total, 2)})
    return out


@dataclass(frozen=True)
class DefectMap:
    grid: np.ndarray  # counts, rows x cols, over the part (image pixels, normalised)
    defects: int

    def to_dict(self) -> dict[str, object]:
        return {"grid": self.grid.astype(int).tolist(), "defects": self.defects,
                "cols": GRID_COLS, "rows": GRID_ROWS}


def defect_map(store: ResultStore, since_ns: int, until_ns: int, *, recipe_id: str | None = None) -> DefectMap:
    """Where the reported defects of the rejects in the range lie on the part (32 x 24 cells),
    from the pre-aggregated table."""
    found = store.select(
        "SELECT cx, cy, SUM(n) AS n FROM stats_defects WHERE hour >= :h0 AND hour <= :h1"
        + (" AND recipe_id = :recipe" if recipe_id else "") + " GROUP BY cx, cy",
        {"h0": since_ns // HOUR_NS, "h1": (until_ns - 1) // HOUR_NS, "recipe": recipe_id})
    grid = np.zeros((GRID_ROWS, GRID_COLS), np.int64)
    for r in found:
        grid[int(r["cy"]), int(r["cx"])] += int(r["n"])
    return DefectMap(grid, int(grid.sum()))


def default_range(hours: float = 24.0) -> tuple[int, int]:
    now = time.time_ns()
    return now - int(hours * HOUR_NS), now + 1
