"""``inspection plant --db URL``: the plant view (every station's state, yield trend, last rejects,
drill-down into a station's results) from the PostgreSQL plant store the stations replicate into
(``inspection demo --station-id NAME --plant-db URL``, or ``[plant] db_url`` in station.toml)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "plant", help="serve the plant view over the PostgreSQL plant store", description=__doc__)
    p.add_argument("--db", required=True, metavar="URL", help="PostgreSQL URL, e.g. postgresql://user@host/plant")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: the LAN)")
    p.add_argument("--port", type=int, default=8090)
    p.add_argument("--title", default="Plant view")
    p.set_defaults(func=_plant)


def _plant(args: argparse.Namespace) -> int:
    import uvicorn

    from plugins.plant.postgres import PlantDb
    from plugins.plant.view import create_plant_app

    db = PlantDb(args.db)
    db.stations()  # fails early (exit 2 with the reason) when the database is unreachable
    print(f"plant view: http://{args.host}:{args.port}", flush=True)
    uvicorn.run(create_plant_app(db, title=args.title), host=args.host, port=args.port, log_level="warning")
    return 0
