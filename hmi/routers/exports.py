"""CSV exports: results (the history's filters) and the audit log.

Both stream: rows are read in keyset pages (``seq`` / ``id`` descending, newest first), so an
export of millions of rows holds one page in memory. Text cells that a spreadsheet would run as a
formula (starting with = + - @, tab or CR) get a leading apostrophe.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import sqlite3
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from hmi import audit_text
from hmi.deps import Ctx, EngineerUser, OperatorUser
from hmi.routers.results import Filters
from inspection.result import ResultCode
from inspection.store import ResultQuery, ResultStore

router = APIRouter(prefix="/api", tags=["exports"])

PAGE = 2000
RESULT_COLUMNS = ("result_id", "decided", "part_id", "serial", "trigger_seq", "recipe_id", "verdict",
                  "code", "code_name", "defect_count", "max_score", "worst_class", "cycle_ms",
                  "review_status", "review_user", "review_reason", "reviewed", "message", "image_state")
AUDIT_COLUMNS = ("id", "time", "user", "action", "target", "part", "change", "old_value", "new_value", "detail")
CSV_MEDIA = "text/csv; charset=utf-8"


def iso(ns: int | None) -> str:
    if not ns:
        return ""
    return datetime.fromtimestamp(ns / 1e9).astimezone().isoformat(timespec="milliseconds")


def cell(value: object) -> object:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv(header: Iterable[str], rows: Iterable[Iterable[object]]) -> Iterator[str]:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    for n, row in enumerate(rows, 1):
        w.writerow([cell(v) for v in row])
        if n % 500 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


LEAN = ("seq, result_id, decided_ns, part_id, part_id_str, trigger_seq, recipe_id, verdict, code, defect_count, "
        "max_score, worst_class, cycle_ms, review_status, review_user, review_reason, review_ns, message, image_state")


def _code_name(code: int) -> str:
    try:
        return ResultCode(code).name
    except ValueError:
        return f"CODE_{code}"


def result_row(r: sqlite3.Row) -> list[object]:
    return [r["result_id"], iso(r["decided_ns"]), r["part_id"], r["part_id_str"], r["trigger_seq"], r["recipe_id"],
            r["verdict"], r["code"], _code_name(int(r["code"])), r["defect_count"], round(float(r["max_score"]), 4),
            "" if r["worst_class"] is None else r["worst_class"], round(float(r["cycle_ms"]), 3), r["review_status"],
            r["review_user"] or "", r["review_reason"] or "", iso(r["review_ns"]), r["message"], r["image_state"]]


def result_pages(store: ResultStore, q: ResultQuery, limit: int | None) -> Iterator[list[sqlite3.Row]]:
    """The matching rows' export columns, newest first, in keyset pages (no JSON decoded)."""
    left = limit
    before: int | None = None
    while left is None or left > 0:
        page = min(PAGE, left) if left is not None else PAGE
        where, params = store.bounded(dataclasses.replace(q, before_seq=before)).where()
        params["limit"] = page
        seqs = [r[0] for r in store.select(
            f"SELECT seq FROM results WHERE {where} ORDER BY seq DESC LIMIT :limit", params)]
        if not seqs:
            return
        yield store.select(f"SELECT {LEAN} FROM results WHERE seq IN ({','.join('?' * len(seqs))}) "
                           "ORDER BY seq DESC", tuple(seqs))
        if len(seqs) < page:
            return
        before = seqs[-1]
        if left is not None:
            left -= len(seqs)


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


@router.get("/results.csv", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}, "description": "one row per result, newest first"}})
def results_csv(ctx: Ctx, user: OperatorUser, filters: Filters,
                limit: Annotated[int | None, Query(ge=1, le=10_000_000,
                                                   description="at most this many rows (default: all)")] = None,
                ) -> StreamingResponse:
    """The results matching the history's filters as CSV (header row first, newest first)."""

    def rows() -> Iterator[list[object]]:
        for page in result_pages(ctx.store, filters, limit):
            for r in page:
                yield result_row(r)

    return StreamingResponse(_csv(RESULT_COLUMNS, rows()), media_type=CSV_MEDIA, headers={
        "Content-Disposition": f'attachment; filename="results-{_stamp()}.csv"', "Cache-Control": "no-store"})


@router.get("/audit.csv", response_class=StreamingResponse, tags=["audit"],
            responses={200: {"content": {"text/csv": {}}, "description": "the audit log, newest first"}})
def audit_csv(ctx: Ctx, user: EngineerUser,
              by: Annotated[str | None, Query(alias="user", max_length=64)] = None,
              action: Annotated[str | None, Query(max_length=64)] = None) -> StreamingResponse:
    """The audit log as CSV: time, user, action, target, old and new value, detail."""

    def rows() -> Iterator[list[object]]:
        before: int | None = None
        while True:
            items = ctx.store.audit_log(limit=PAGE, before_id=before, user=by, action=action)
            for a in items:
                yield [a.id, iso(a.ts_ns), a.user, a.action, a.target, audit_text.part_serial(ctx.store, a),
                       audit_text.summary(a), a.old_value or "", a.new_value or "", a.detail or ""]
            if len(items) < PAGE:
                return
            before = items[-1].id

    return StreamingResponse(_csv(AUDIT_COLUMNS, rows()), media_type=CSV_MEDIA, headers={
        "Content-Disposition": f'attachment; filename="audit-{_stamp()}.csv"', "Cache-Control": "no-store"})
