"""The plant store: PostgreSQL (psycopg 3; the only module that imports it).

:class:`PostgresSink` replicates a station's committed results (fed by the store's outbox,
``inspection.store.outbox``) into the plant-wide table ``results``, idempotent on
(station_id, result_id): a batch resent after an outage or a restart inserts nothing twice. It also
keeps one row per station in ``stations`` (state, counters, last heartbeat). :class:`PlantDb` reads
both for the plant view (``plugins/plant/view.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from inspection.errors import MissingDependency, SinkError
from inspection.store.rows import StoredResult

logger = logging.getLogger(__name__)

SCHEMA_LOCK = 40151  # pg_advisory_xact_lock key: stations creating the schema at once wait in turn

DDL = """
CREATE TABLE IF NOT EXISTS results (
    id               BIGSERIAL PRIMARY KEY,
    station_id       TEXT NOT NULL,
    result_id        TEXT NOT NULL,
    station_seq      BIGINT NOT NULL,
    trigger_seq      INTEGER NOT NULL,
    part_id          BIGINT NOT NULL,
    part_id_str      TEXT NOT NULL,
    verdict          TEXT NOT NULL CHECK (verdict IN ('pass', 'reject')),
    result_code      INTEGER NOT NULL,
    result_code_name TEXT NOT NULL,
    message          TEXT NOT NULL,
    defect_count     INTEGER NOT NULL,
    max_score        DOUBLE PRECISION NOT NULL,
    findings         JSONB NOT NULL,
    recipe_id        TEXT NOT NULL,
    recipe_number    INTEGER NOT NULL,
    model_hash       TEXT NOT NULL,
    camera_id        TEXT NOT NULL,
    cycle_ms         DOUBLE PRECISION NOT NULL,
    trigger_ts       TIMESTAMPTZ NOT NULL,
    decided_ts       TIMESTAMPTZ NOT NULL,
    stored_ts        TIMESTAMPTZ NOT NULL,
    replicated_ts    TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (station_id, result_id)
);
CREATE INDEX IF NOT EXISTS results_station_decided ON results (station_id, decided_ts DESC);
CREATE INDEX IF NOT EXISTS results_rejects ON results (decided_ts DESC) WHERE verdict = 'reject';
CREATE TABLE IF NOT EXISTS stations (
    station_id TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    status     JSONB NOT NULL,
    last_seen  TIMESTAMPTZ NOT NULL
);
"""

INSERT = """
INSERT INTO results (station_id, result_id, station_seq, trigger_seq, part_id, part_id_str, verdict,
    result_code, result_code_name, message, defect_count, max_score, findings, recipe_id, recipe_number,
    model_hash, camera_id, cycle_ms, trigger_ts, decided_ts, stored_ts)
VALUES (%(station_id)s, %(result_id)s, %(station_seq)s, %(trigger_seq)s, %(part_id)s, %(part_id_str)s,
    %(verdict)s, %(result_code)s, %(result_code_name)s, %(message)s, %(defect_count)s, %(max_score)s,
    %(findings)s, %(recipe_id)s, %(recipe_number)s, %(model_hash)s, %(camera_id)s, %(cycle_ms)s,
    %(trigger_ts)s, %(decided_ts)s, %(stored_ts)s)
ON CONFLICT (station_id, result_id) DO NOTHING
"""

UPSERT_STATION = """
INSERT INTO stations (station_id, state, status, last_seen) VALUES (%s, %s, %s, now())
ON CONFLICT (station_id) DO UPDATE SET state = excluded.state, status = excluded.status, last_seen = now()
"""


def _psycopg() -> Any:
    try:
        import psycopg
        import psycopg.types.json
    except ModuleNotFoundError as exc:
        raise MissingDependency("psycopg", extra="plant", purpose="the PostgreSQL plant store") from exc
    return psycopg


def _ts(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def _row(r: StoredResult, station_id: str, jsonb: Any) -> dict[str, Any]:
    return {
        "station_id": r.station_id or station_id, "result_id": r.result_id, "station_seq": r.seq,
        "trigger_seq": r.trigger_seq, "part_id": r.part_id, "part_id_str": r.part_id_str,
        "verdict": r.verdict, "result_code": r.code, "result_code_name": r.code_name, "message": r.message,
        "defect_count": r.defect_count, "max_score": r.max_score, "findings": jsonb(r.findings),
        "recipe_id": r.recipe_id, "recipe_number": r.recipe_number, "model_hash": r.model_hash,
        "camera_id": r.camera_id, "cycle_ms": r.cycle_ms, "trigger_ts": _ts(r.trigger_ns),
        "decided_ts": _ts(r.decided_ns), "stored_ts": _ts(r.stored_ns),
    }


def ensure_schema(conn: Any) -> None:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        conn.execute(DDL)


class PostgresSink:
    """Replicates into ``results`` / ``stations`` at ``url`` (a libpq URL or DSN)."""

    name = "postgres"

    def __init__(self, *, station_id: str, url: str, connect_timeout_s: int = 3) -> None:
        self.pg = _psycopg()
        self.station_id = station_id
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        self._conn: Any = None

    def _connect(self) -> Any:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        try:
            conn = self.pg.connect(self.url, connect_timeout=self.connect_timeout_s, autocommit=True)
            ensure_schema(conn)
        except self.pg.Error as exc:
            raise SinkError(f"plant database unreachable: {exc}".strip(), key="sink_unreachable") from exc
        self._conn = conn
        logger.info("plant database connected")
        return conn

    def _failed(self, exc: Exception, what: str) -> SinkError:
        self.close()
        return SinkError(f"plant database: {what}: {exc}".strip(), key="sink_unreachable")

    def send(self, results: Sequence[StoredResult]) -> None:
        conn = self._connect()
        jsonb = self.pg.types.json.Jsonb
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(INSERT, [_row(r, self.station_id, jsonb) for r in results])
        except self.pg.Error as exc:
            raise self._failed(exc, f"{len(results)} results not replicated") from exc

    def heartbeat(self, status: dict[str, Any]) -> None:
        conn = self._connect()
        try:
            conn.execute(UPSERT_STATION, (self.station_id, str(status.get("state", "unknown")),
                                          self.pg.types.json.Jsonb(status)))
        except self.pg.Error as exc:
            raise self._failed(exc, "station status not written") from exc

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):
                conn.close()


class PlantDb:
    """Read side of the plant store, for the plant view. One short connection per call."""

    def __init__(self, url: str, *, connect_timeout_s: int = 3, offline_after_s: float = 30.0) -> None:
        self.pg = _psycopg()
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        self.offline_after_s = offline_after_s

    def _query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows of ``sql`` as dicts; [] while no station has created the tables yet (the view only
        reads: a read-only database role is enough)."""
        from psycopg.rows import dict_row

        try:
            with self.pg.connect(self.url, connect_timeout=self.connect_timeout_s, autocommit=True,
                                 row_factory=dict_row) as conn:
                return list(conn.execute(sql, params or {}).fetchall())
        except self.pg.errors.UndefinedTable:
            return []
        except self.pg.Error as exc:
            raise SinkError(f"plant database: {exc}".strip(), key="sink_unreachable") from exc

    def stations(self) -> list[dict[str, Any]]:
        """Every station seen (in ``stations`` or ``results``): state, counts, yield, last part."""
        rows = self._query("""
                WITH agg AS (
                    SELECT station_id, COUNT(*) AS total, COUNT(*) FILTER (WHERE verdict = 'pass') AS passed,
                           MAX(decided_ts) AS last_part,
                           COUNT(*) FILTER (WHERE decided_ts > now() - interval '1 hour') AS last_hour,
                           COUNT(*) FILTER (WHERE decided_ts > now() - interval '1 hour'
                                             AND verdict = 'pass') AS last_hour_passed
                    FROM results GROUP BY station_id)
                SELECT COALESCE(s.station_id, a.station_id) AS station_id, s.state, s.last_seen,
                       EXTRACT(EPOCH FROM now() - s.last_seen) AS seen_s_ago,
                       COALESCE(a.total, 0) AS total, COALESCE(a.passed, 0) AS passed, a.last_part,
                       COALESCE(a.last_hour, 0) AS last_hour, COALESCE(a.last_hour_passed, 0) AS last_hour_passed
                FROM stations s FULL OUTER JOIN agg a ON a.station_id = s.station_id
                ORDER BY 1""")
        out = []
        for r in rows:
            seen = r["seen_s_ago"]
            online = seen is not None and float(seen) <= self.offline_after_s
            out.append({
                "station_id": r["station_id"], "state": (r["state"] or "unknown") if online else "offline",
                "last_seen": _iso(r["last_seen"]), "total": r["total"], "passed": r["passed"],
                "yield": round(r["passed"] / r["total"], 4) if r["total"] else None,
                "last_hour": r["last_hour"],
                "yield_last_hour": round(r["last_hour_passed"] / r["last_hour"], 4) if r["last_hour"] else None,
                "last_part": _iso(r["last_part"]),
            })
        return out

    def yield_trend(self, *, station_id: str | None = None, minutes: int = 60, bucket_s: int = 60
                    ) -> list[dict[str, Any]]:
        """Parts and yield per station per ``bucket_s`` over the last ``minutes``, oldest first."""
        rows = self._query("""
                SELECT station_id, to_timestamp(floor(EXTRACT(EPOCH FROM decided_ts) / %(b)s) * %(b)s) AS t,
                       COUNT(*) AS total, COUNT(*) FILTER (WHERE verdict = 'pass') AS passed
                FROM results
                WHERE decided_ts > now() - make_interval(mins => %(m)s)
                  AND (%(s)s::text IS NULL OR station_id = %(s)s)
                GROUP BY 1, 2 ORDER BY 2, 1""", {"b": bucket_s, "m": minutes, "s": station_id})
        return [{"station_id": r["station_id"], "t": _iso(r["t"]), "total": r["total"], "passed": r["passed"],
                 "yield": round(r["passed"] / r["total"], 4)} for r in rows]

    def results(self, *, station_id: str | None = None, verdict: str | None = None, limit: int = 50
                ) -> list[dict[str, Any]]:
        """Newest results first (all stations, or one), optionally only passes or rejects."""
        rows = self._query("""
                SELECT station_id, result_id, station_seq, trigger_seq, part_id, part_id_str, verdict,
                       result_code, result_code_name, message, defect_count, max_score, findings, recipe_id,
                       recipe_number, cycle_ms, decided_ts, replicated_ts
                FROM results
                WHERE (%(s)s::text IS NULL OR station_id = %(s)s) AND (%(v)s::text IS NULL OR verdict = %(v)s)
                ORDER BY decided_ts DESC, id DESC LIMIT %(n)s""",
                           {"s": station_id, "v": verdict, "n": max(0, min(limit, 1000))})
        return [{**r, "decided_ts": _iso(r["decided_ts"]), "replicated_ts": _iso(r["replicated_ts"])}
                for r in rows]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="milliseconds")
