"""The HMI application factory.

``create_app(station, store, users)`` builds the FastAPI app around a running station (any
:class:`~inspection.station.port.StationPort`), its result store and the HMI's user store; it
owns none of them (the caller starts and closes them). When no user exists yet, the app's start
prints a one-time setup token for creating the first admin (or use ``python -m hmi users add``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Receive, Scope, Send

from hmi import errors
from hmi.auth.users import UserStore
from hmi.context import HmiContext, LoginGuard
from hmi.imaging import ImageCache
from hmi.routers import alarms, auth, camera, exports, live, plc, recipes, results, statistics, system, teach
from hmi.routers import station as station_routes
from hmi.routers import users as users_routes
from hmi.routers.system import STATIC
from hmi.settings import HmiSettings
from inspection import __version__
from inspection.station.port import StationPort
from inspection.store import ResultStore

logger = logging.getLogger(__name__)

CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def print_setup_token(token: str) -> None:
    msg = (f"HMI set-up: no user exists yet. Open the HMI and create the first admin with the one-time "
           f"setup token {token} (or run: python -m hmi users add NAME --role admin --data DIR).")
    logger.warning(msg)  # shown without any logging set-up too (logging's last-resort handler)


class GuardMiddleware:
    """Security headers on every response; cross-site state-changing requests refused (a browser
    sends Origin on those; it must match the host the page came from)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        origin = headers.get("origin")
        if scope["method"] in UNSAFE and origin and urlsplit(origin).netloc != headers.get("host", ""):
            body = b'{"detail":"cross-site request refused","key":"cross_site"}'
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        docs = scope["path"].startswith(("/docs", "/redoc"))

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                         (b"x-frame-options", b"DENY")]
                if not docs:
                    extra.append((b"content-security-policy", CSP.encode()))
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)  # type: ignore[arg-type]


def create_app(station: StationPort, store: ResultStore, users: UserStore, *,
               settings: HmiSettings | None = None,
               announce: Callable[[str], None] = print_setup_token) -> FastAPI:
    settings = settings or HmiSettings()
    ctx = HmiContext(station=station, store=store, users=users, settings=settings, images=ImageCache(),
                     guard=LoginGuard(settings.login_max_failures, settings.login_lockout_s),
                     announce=announce)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if users.count() == 0:
            ctx.announce(ctx.new_setup_token())
        ctx.ready.set()
        yield
        ctx.close_streams()
        ctx.ready.clear()

    # Swagger UI and ReDoc from assets the app serves itself (fastapi-offline): a line network has no CDN
    app = FastAPIOffline(
        title=f"{settings.title} HMI", version=__version__, lifespan=lifespan,
        description="Operator HMI of the inspection station: live view, history, review of rejects, "
                    "recipes, thresholds, users. Sign in with POST /api/auth/login; the session "
                    "cookie (or 'Authorization: Bearer <token>') authorises the other calls. Roles: "
                    "operator (view, review) < engineer (teach, thresholds, recipes, arm) < admin (users).",
    )
    app.state.hmi = ctx
    errors.install(app)
    app.add_middleware(GuardMiddleware)
    for r in (auth.router, live.router, results.router, results.review_router, station_routes.router,
              recipes.router, teach.router, alarms.router, exports.router, statistics.router, plc.router,
              camera.router, users_routes.router, system.router):
        app.include_router(r)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
