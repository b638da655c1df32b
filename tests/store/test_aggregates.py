"""Pre-aggregated statistics kept by a trigger, back-filled once for a store made before them, and
the indexes the HMI's filters use (checked with EXPLAIN QUERY PLAN)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests_support import make_result

from inspection.record import PartInfo, PartRecord
from inspection.store import ResultQuery, ResultStore, StoreConfig
from inspection.store.aggregates import HOUR_NS


def _fill(store: ResultStore, n: int) -> None:
    for i in range(n):
        result, _ = make_result(i, defective=i % 3 == 0)
        store.submit(PartRecord(result, PartInfo(trigger_seq=i, part_id=i, part_id_str=f"SN{i:05d}")))
    assert store.flush(10)


def _truth(db: Path) -> tuple[list[tuple[int, int, int]], list[tuple[int, int]]]:
    with sqlite3.connect(db) as c:
        hourly = c.execute(f"SELECT decided_ns / {HOUR_NS}, COUNT(*), SUM(verdict = 'pass') FROM results "
                           "GROUP BY 1 ORDER BY 1").fetchall()
        causes = c.execute("SELECT code, COUNT(*) FROM results WHERE verdict = 'reject' GROUP BY code").fetchall()
    return hourly, causes


def _aggregates(db: Path) -> tuple[list[tuple[int, int, int]], list[tuple[int, int]]]:
    with sqlite3.connect(db) as c:
        hourly = c.execute("SELECT hour, SUM(total), SUM(ok) FROM stats_hourly GROUP BY hour ORDER BY hour").fetchall()
        causes = c.execute("SELECT code, SUM(n) FROM stats_causes GROUP BY code").fetchall()
    return hourly, causes


def test_trigger_keeps_the_aggregates_and_an_old_store_is_back_filled(tmp_path: Path) -> None:
    cfg = StoreConfig(tmp_path / "store", save_pass_every=0)
    with ResultStore(cfg) as store:
        _fill(store, 30)
    assert _aggregates(cfg.db_path) == _truth(cfg.db_path)
    assert _truth(cfg.db_path)[0][0][1:] == (30, 20)
    defects_sql = "SELECT hour, cx, cy, n FROM stats_defects ORDER BY 1, 2, 3"
    with sqlite3.connect(cfg.db_path) as c:
        by_trigger = c.execute(defects_sql).fetchall()
    assert sum(r[3] for r in by_trigger) == 10  # the 10 rejects' reported findings
    # a store written before the aggregates existed: no triggers, no tables, no meta keys
    with sqlite3.connect(cfg.db_path) as c:
        c.executescript("DROP TRIGGER results_stats; DROP TABLE stats_hourly; DROP TABLE stats_causes; "
                        "DROP TRIGGER results_stats_defects; DROP TABLE stats_defects; "
                        "DELETE FROM meta WHERE key IN ('stats_aggregates', 'stats_defects');")
    with ResultStore(cfg) as store:
        assert _aggregates(cfg.db_path) == _truth(cfg.db_path)
        assert [tuple(r) for r in store.select(defects_sql)] == by_trigger
        _fill(store, 6)
    assert _aggregates(cfg.db_path) == _truth(cfg.db_path)
    assert sum(n for _, n, _ in _truth(cfg.db_path)[0]) == 36


def test_every_history_filter_uses_an_index(tmp_path: Path) -> None:
    with ResultStore(StoreConfig(tmp_path / "store")) as store:
        for q in (ResultQuery(verdict="reject"), ResultQuery(code=3), ResultQuery(recipe_id="pcb-a"),
                  ResultQuery(review="pending"), ResultQuery(review="overridden"), ResultQuery(trigger_seq=7),
                  ResultQuery(part="123456"), ResultQuery(since_ns=1, until_ns=2)):
            where, params = q.where()
            plan = " ".join(r[3] for r in store.select(
                f"EXPLAIN QUERY PLAN SELECT * FROM results WHERE {where} ORDER BY seq DESC LIMIT 50", params))
            assert "USING INDEX" in plan or "USING COVERING INDEX" in plan or "USING INTEGER PRIMARY KEY" in plan, (q, plan)
