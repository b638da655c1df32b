"""The plant view: every station of the plant on one page, from the PostgreSQL plant store.

``inspection plant --db URL`` serves it. One static page (no CDN: a line network has none) that
polls four JSON endpoints: the stations (state, parts, yield, last part), the yield trend per
minute, the last rejects of all stations, and one station's results (the drill-down). Read-only;
the database is reached through :class:`plugins.plant.postgres.PlantDb`.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse

from inspection.errors import SinkError
from plugins.plant.postgres import PlantDb

PAGE = Path(__file__).parent / "static" / "plant.html"


def create_plant_app(db: PlantDb, *, title: str = "Plant view") -> FastAPI:
    app = FastAPI(title=title, docs_url=None, redoc_url=None)

    def guarded(fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except SinkError as exc:
            raise HTTPException(503, detail={"key": exc.key, "message": str(exc)}) from exc

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE.read_text(encoding="utf-8").replace("{{title}}", html.escape(title))

    @app.get("/api/stations")
    def stations() -> list[dict[str, Any]]:
        return list(guarded(db.stations))

    @app.get("/api/trend")
    def trend(station: str | None = None, minutes: int = Query(60, ge=1, le=7 * 24 * 60),
              bucket_s: int = Query(60, ge=10, le=86400)) -> list[dict[str, Any]]:
        return list(guarded(db.yield_trend, station_id=station, minutes=minutes, bucket_s=bucket_s))

    @app.get("/api/rejects")
    def rejects(limit: int = Query(20, ge=1, le=1000)) -> list[dict[str, Any]]:
        return list(guarded(db.results, verdict="reject", limit=limit))

    @app.get("/api/stations/{station_id}/results")
    def station_results(station_id: str, verdict: Literal["pass", "reject"] | None = None,
                        limit: int = Query(50, ge=1, le=1000)) -> list[dict[str, Any]]:
        return list(guarded(db.results, station_id=station_id, verdict=verdict, limit=limit))

    return app
