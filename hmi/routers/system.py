"""Health, metrics and the static page."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse, Response

from hmi import metrics
from hmi.deps import Ctx
from hmi.schemas import HealthOut

router = APIRouter(tags=["system"])

STATIC = Path(__file__).resolve().parent.parent / "static"


@router.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
def health(ctx: Ctx) -> JSONResponse:
    """200 while the HMI serves and the store writer runs; 503 (same body) when degraded."""
    st = ctx.station.status()
    w = ctx.store.stats()
    body = HealthOut(status="ok" if w.alive else "degraded", station_state=st.state.name,
                     store_writer=w.alive, store_queue=w.queued,
                     low_disk=w.low_disk or w.records_near_limit,
                     plc_connected=st.plc.connected, outbox_pending=_outbox_pending(ctx.station))
    return JSONResponse(body.model_dump(), status_code=200 if w.alive else 503)


def _outbox_pending(station: object) -> dict[str, int]:
    integrations = getattr(station, "integrations", None)
    if integrations is None:
        return {}
    return {f.name: f.pending() for f in list(integrations.forwarders)}


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {metrics.CONTENT_TYPE: {"schema": {"type": "string"}}}}})
def prometheus(ctx: Ctx) -> Response:
    """Prometheus text format (prometheus-client)."""
    return Response(metrics.render(ctx), media_type=metrics.CONTENT_TYPE)


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})
