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


def test_a_time_window_is_exact_with_rows_out_of_time_order(tmp_path: Path) -> None:
    """The window is read as a seq range (two index seeks); a clock step that stores rows out of
    time order within the margin does not lose them."""
    base = 1_700_000_000 * 10**9
    # decided times: 0..49 s, then the clock steps back 20 s for 10 parts, then on again
    times = [base + i * 10**9 for i in range(50)] + [base + (30 + i) * 10**9 for i in range(10)] + \
        [base + (50 + i) * 10**9 for i in range(20)]
    with ResultStore(StoreConfig(tmp_path / "store", save_pass_every=0)) as store:
        for i, t in enumerate(times):
            result, _ = make_result(i, defective=i % 4 == 0)
            store.submit(PartRecord(result, PartInfo(trigger_seq=i, part_id=i, part_id_str=f"SN{i:05d}"),
                                    decided_ns=t))
        assert store.flush(10)
        for lo, hi in ((base + 25 * 10**9, base + 45 * 10**9), (base + 35 * 10**9, None), (None, base + 5 * 10**9)):
            want = sorted((i for i, t in enumerate(times) if (lo is None or t >= lo) and (hi is None or t < hi)),
                          reverse=True)
            got = [r.part_id for r in store.query(ResultQuery(since_ns=lo, until_ns=hi, limit=1000))]
            assert got == want
            assert store.count(ResultQuery(since_ns=lo, until_ns=hi)) == len(want)
            rej = [r.part_id for r in store.query(ResultQuery(since_ns=lo, until_ns=hi, verdict="reject", limit=1000))]
            assert rej == [i for i in want if i % 4 == 0]
