"""The HMI application factory.

``create_app(station, store, users)`` builds the FastAPI app around a running station (any
:class:`~inspection.station.port.StationPort`), its result store and the HMI's user store; it
owns none of them (the caller starts and closes them). When no user exists yet, the app's start
prints a one-time setup token for creating the first admin (or use ``python -m hmi users add``).
"""

from __future__ import annotations

import json
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
from hmi.routers import alarms, auth, camera, exports, live, plc, recipes, results, statistics, system, teach, whatif
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


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """An IP address (a DNS rebinding attack always arrives with a host *name*), localhost, or one of
    ``allowed``."""
    import ipaddress

    name = host.strip().lower()
    if name.startswith("["):
        name = name[1:].split("]", 1)[0]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return name == "localhost" or name in {a.lower() for a in allowed}


class GuardMiddleware:
    """Security headers on every response; cross-site state-changing requests refused (a browser
    sends Origin on those; it must match the host the page came from)."""

    def __init__(self, app: ASGIApp, allowed_hosts: tuple[str, ...] | None = None) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.allowed_hosts is not None and not host_allowed(headers.get("host", ""), self.allowed_hosts):
            body = b'{"detail":"unknown host name (allowed_hosts)","key":"bad_host"}'
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
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


# Requests with a body that do not need a session (everything else is refused before its body is read).
PUBLIC_WRITES = {"/api/auth/login", "/api/auth/setup"}


async def _refuse(send: Send, status: int, detail: str, key: str,
                  extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    body = json.dumps({"detail": detail, "key": key}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), (b"connection", b"close"), *extra]})
    await send({"type": "http.response.body", "body": body})


class BodyGuardMiddleware:
    """The HMI must not be able to stall the station it runs in (issue #13, item 3): a request
    body is refused before it is read when it has no valid session (except sign-in and set-up) or
    when it is larger than the limit (``max_body_bytes``; image uploads ``max_upload_bytes``);
    a body without Content-Length is counted while it streams and cut at the limit."""

    def __init__(self, app: ASGIApp, ctx: HmiContext) -> None:
        self.app = app
        self.ctx = ctx

    def _limit(self, path: str) -> int:
        s = self.ctx.settings
        return s.max_upload_bytes if path.endswith("/teach/upload") else s.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE:
            await self.app(scope, receive, send)
            return
        from starlette.concurrency import run_in_threadpool

        from hmi.deps import SESSION_COOKIE

        path: str = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if path not in PUBLIC_WRITES and path.startswith("/api/"):
            token = None
            auth = headers.get("authorization", "")
            if auth[:7].lower() == "bearer ":
                token = auth[7:].strip()
            else:
                for part in headers.get("cookie", "").split(";"):
                    name, _, value = part.strip().partition("=")
                    if name == SESSION_COOKIE:
                        token = value
            user = None if not token else await run_in_threadpool(self.ctx.users.session_user, token)
            if user is None:
                await _refuse(send, 401, "sign in first (session missing or expired)", "unauthenticated",
                              ((b"www-authenticate", b"Bearer"),))
                return
        limit = self._limit(path)
        try:
            length = int(headers.get("content-length", "0") or 0)
        except ValueError:
            await _refuse(send, 400, "bad Content-Length", "bad_request")
            return
        if length > limit:
            await _refuse(send, 413, f"request body larger than {limit} bytes", "too_large")
            return
        seen = 0
        started = refused = False

        async def counted() -> Any:
            nonlocal seen, started, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # answered here; the app sees a client that went away
                    refused = True
                    if not started:
                        started = True
                        await _refuse(send, 413, f"request body larger than {limit} bytes", "too_large")
                    return {"type": "http.disconnect"}
            return message

        async def tracking(message: Any) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counted, tracking)


def create_app(station: StationPort, store: ResultStore, users: UserStore, *,
               settings: HmiSettings | None = None,
               announce: Callable[[str], None] = print_setup_token) -> FastAPI:
    settings = settings or HmiSettings()
    ctx = HmiContext(station=station, store=store, users=users, settings=settings, images=ImageCache(),
                     guard=LoginGuard(settings.login_max_failures, settings.login_lockout_s),
                     announce=announce)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import anyio.to_thread

        # the HMI's blocking handlers share this process with the station's hot path: bounded
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
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
    app.add_middleware(BodyGuardMiddleware, ctx=ctx)
    app.add_middleware(GuardMiddleware, allowed_hosts=settings.allowed_hosts)
    for r in (auth.router, live.router, results.router, results.review_router, station_routes.router,
              recipes.router, teach.router, teach.job_router, alarms.router, exports.router, statistics.router,
              plc.router, camera.router, users_routes.router, system.router, whatif.router):
        app.include_router(r)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
