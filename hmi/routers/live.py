"""The live view: snapshot, recent parts (filmstrip), part images, and the Server-Sent Events stream.

The stream gives each browser its own bounded queue (``HmiSettings.sse_queue`` events, oldest
dropped): a stalled or slow browser loses old events and gets a ``dropped`` event (so it can
re-sync from ``/api/live``), and never slows the station, which only appends to the queues.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

import cv2
import numpy as np
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from hmi.context import HmiContext
from hmi.deps import Ctx, OperatorUser, session_token
from hmi.imaging import encode_jpeg, heat_jpeg
from hmi.schemas import CountersOut, LiveOut, StageOut, StatusOut
from inspection.events import StationEvent
from inspection.record import RESULT_ID_PATTERN
from inspection.store import ResultQuery
from inspection.vision.heatmap import levels_in_image

logger = logging.getLogger(__name__)

router = APIRouter(tags=["live"])

ResultIdPath = Annotated[str, Path(pattern=RESULT_ID_PATTERN, description="20 hex digits")]
JPEG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/jpeg": {}}, "description": "JPEG image"}}
RECENT_LOOKUP = 256


def part_dict(ctx: HmiContext, result_id: str) -> dict[str, Any] | None:
    """A part as JSON: from the station's memory while recent, else from the store."""
    for rec in ctx.station.recent_parts(RECENT_LOOKUP):
        if rec.result_id == result_id:
            return {**rec.to_dict(), "stored": False}
    stored = ctx.store.get(result_id)
    return None if stored is None else {**stored.to_dict(), "stored": True}


def live_snapshot(ctx: HmiContext) -> LiveOut:
    st = ctx.station
    parts = st.recent_parts(ctx.settings.filmstrip_len)
    return LiveOut(
        status=StatusOut(**st.status().to_dict()),  # type: ignore[arg-type]
        counters=CountersOut(**st.counters().to_dict()),  # type: ignore[arg-type]
        last=parts[0].to_dict() if parts else None,
        filmstrip=[_summary(p.to_dict()) for p in parts],
        stages={k: StageOut(**v.to_dict()) for k, v in st.stage_stats().items()},  # type: ignore[arg-type]
        pending_reviews=ctx.store.count(ResultQuery(review="pending")),
    )


def _summary(d: dict[str, Any]) -> dict[str, Any]:
    keys = ("result_id", "verdict", "code", "code_name", "part_id", "part_id_str", "trigger_seq",
            "decided_ns", "defect_count", "max_score", "cycle_ms")
    return {k: d.get(k) for k in keys}


@router.get("/api/live", response_model=LiveOut)
def live(ctx: Ctx, user: OperatorUser) -> LiveOut:
    """Everything the live view shows, in one snapshot (then follow ``/api/events``)."""
    return live_snapshot(ctx)


@router.get("/api/parts/recent", response_model=list[dict[str, Any]])
def recent_parts(ctx: Ctx, user: OperatorUser,
                 n: Annotated[int, Query(ge=1, le=RECENT_LOOKUP)] = 12) -> list[dict[str, Any]]:
    """The last ``n`` parts, newest first (from the station's memory)."""
    return [p.to_dict() for p in ctx.station.recent_parts(n)]


@router.get("/api/parts/{result_id}", response_model=dict[str, Any], responses={404: {}})
def get_part(result_id: ResultIdPath, ctx: Ctx, user: OperatorUser) -> dict[str, Any]:
    found = part_dict(ctx, result_id)
    if found is None:
        raise HTTPException(404, f"no part {result_id} (not recent and not stored)")
    return found


def _part_jpeg(ctx: HmiContext, result_id: str, *, width: int, overlay: bool, labels: bool = True) -> bytes:
    """A part's image as JPEG: from the station's memory while recent, else the stored raw PNG;
    overlays drawn from the part's shapes."""
    key = (result_id, f"{width}:{int(overlay)}:{int(labels)}")
    q = ctx.settings.jpeg_quality

    def make() -> bytes:
        image = ctx.station.part_image(result_id)
        if image is None:
            path = ctx.store.image_file(result_id)  # StoreError(no_image / unknown_result) -> 404
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if image is None:
                raise HTTPException(404, f"the stored image of {result_id} is unreadable")
        shapes = None
        if overlay:
            d = part_dict(ctx, result_id) or {}
            shapes = d.get("overlay", [])
        return encode_jpeg(image, max_width=width, quality=q, shapes=shapes, labels=labels)

    return ctx.images.get_or_make(key, make)


@router.get("/api/parts/{result_id}/image", response_class=Response, responses={**JPEG, 404: {}})
def part_image(result_id: ResultIdPath, ctx: Ctx, user: OperatorUser,
               width: Annotated[int, Query(ge=32, le=8192)] = 1600,
               overlay: bool = False) -> Response:
    """The part's image as JPEG, scaled to at most ``width`` px; ``overlay`` draws the findings."""
    data = _part_jpeg(ctx, result_id, width=min(width, ctx.settings.live_image_width), overlay=overlay)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


def _heat_jpeg(ctx: HmiContext, result_id: str, *, width: int) -> bytes:
    """A part's heat map over its image as JPEG: from the station's memory while recent, else the
    stored heat map file over the stored image."""

    def make() -> bytes:
        rec = next((r for r in ctx.station.recent_parts(RECENT_LOOKUP) if r.result_id == result_id), None)
        image = ctx.station.part_image(result_id)
        levels: np.ndarray | None
        if rec is not None and rec.result.heat_map is not None and image is not None:
            levels = levels_in_image(rec.result.heat_map, rec.result.alignment, image.shape[:2])
        else:
            levels = cv2.imread(str(ctx.store.heat_file(result_id)), cv2.IMREAD_GRAYSCALE)  # 404 if none
            image = cv2.imread(str(ctx.store.image_file(result_id)), cv2.IMREAD_UNCHANGED)
            if levels is None or image is None:
                raise HTTPException(404, f"the stored heat map or image of {result_id} is unreadable")
        return heat_jpeg(image, levels, max_width=width, quality=ctx.settings.jpeg_quality)

    return ctx.images.get_or_make((result_id, f"heat:{width}"), make)


@router.get("/api/parts/{result_id}/heatmap", response_class=Response, responses={**JPEG, 404: {}})
def part_heatmap(result_id: ResultIdPath, ctx: Ctx, user: OperatorUser,
                 width: Annotated[int, Query(ge=32, le=4096)] = 800) -> Response:
    """Where the detector saw the part deviate (a good-set model's anomaly map), over the part's
    image as JPEG, coloured from the model's threshold: blue to amber below it, red from it, its
    outline in white. 404 when the part has no heat map (another detector, or no image kept)."""
    data = _heat_jpeg(ctx, result_id, width=min(width, ctx.settings.live_image_width))
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


@router.get("/api/parts/{result_id}/thumb", response_class=Response, responses={**JPEG, 404: {}})
def part_thumb(result_id: ResultIdPath, ctx: Ctx, user: OperatorUser) -> Response:
    """A small JPEG with the findings drawn (filmstrip, history)."""
    data = _part_jpeg(ctx, result_id, width=240, overlay=True, labels=False)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


def _sse(kind: str, data: str, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {data}\n\n"


@router.get("/api/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "events: hello, part, status, counters, recipes, dropped"}})
async def events(request: Request, ctx: Ctx, user: OperatorUser) -> StreamingResponse:
    """Live updates as Server-Sent Events. The first event (``hello``) is the live snapshot."""
    token = session_token(request) or ""

    async def stream() -> AsyncIterator[str]:
        # Subscribe before taking the snapshot: nothing falls between the two (at worst a part
        # arrives twice, which the page ignores by result id).
        sub = ctx.station.subscribe(maxsize=ctx.settings.sse_queue, name=f"sse:{user.username}")
        ctx.streams.add(sub)
        ctx.sse_clients += 1
        reported = 0
        try:
            snapshot = (await run_in_threadpool(live_snapshot, ctx)).model_dump_json()
            yield "retry: 2000\n\n"
            yield _sse("hello", snapshot)
            while not sub.closed:
                if not await sub.wait_async(ctx.settings.sse_keepalive_s):
                    if await run_in_threadpool(ctx.users.session_user, token) is None:
                        yield _sse("bye", '{"reason":"session ended"}')
                        return
                    yield ": keep-alive\n\n"
                    continue
                batch: list[StationEvent] = sub.drain()
                if sub.dropped > reported:
                    ctx.sse_dropped += sub.dropped - reported
                    yield _sse("dropped", f'{{"dropped":{sub.dropped}}}')
                    reported = sub.dropped
                for ev in batch:
                    ctx.sse_sent += 1
                    yield _sse(ev.kind, ev.to_json(), ev.seq)
        finally:
            sub.close()
            ctx.streams.discard(sub)
            ctx.sse_clients -= 1

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
