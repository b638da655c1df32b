"""Every refused request gets a 4xx with a clear message and a stable key; never a 500.

Typed station errors carry a ``key``; this module maps keys to HTTP status codes. Bodies look like
``{"detail": "<message for people>", "key": "<stable key for the UI>"}``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from inspection.errors import ConfigError, ImageError, InspectionError

logger = logging.getLogger(__name__)

STATUS_BY_KEY = {
    "unknown_result": 404, "unknown_recipe": 404, "unknown_variant": 404, "unknown_user": 404, "no_image": 404,
    "no_heat_map": 404,
    "not_reviewable": 409, "already_reviewed": 409, "last_admin": 409, "user_exists": 409,
    "nothing_to_teach": 409, "setup_done": 409, "no_shadow": 409, "shadow_stale": 409, "whatif_busy": 409,
    "teach_refused": 409, "unknown_golden_version": 404, "unknown_alarm": 404,
    "too_few_good_parts": 409, "teach_busy": 409, "teach_unsupported": 409, "no_teach_job": 409,
    "no_parts_selected": 422, "station_armed": 409, "camera_no_image": 409, "camera_setting_rejected": 422,
    "bad_camera_setting": 422,
    "reason_required": 422, "bad_review": 422, "bad_image": 422, "unknown_threshold": 422,
    "threshold_out_of_range": 422, "no_thresholds": 422, "bad_username": 422, "weak_password": 422,
    "store_closed": 503, "store_io": 503, "store_schema": 503,
}


def status_for(exc: InspectionError) -> int:
    if exc.key in STATUS_BY_KEY:
        return STATUS_BY_KEY[exc.key]
    if isinstance(exc, ConfigError | ImageError):
        return 422
    return 400


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{loc or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install(app: FastAPI) -> None:
    @app.exception_handler(InspectionError)
    async def inspection_error(request: Request, exc: InspectionError) -> JSONResponse:
        code = status_for(exc)
        (logger.error if code >= 500 else logger.info)("%s %s -> %d %s: %s", request.method,
                                                        request.url.path, code, exc.key, exc)
        return JSONResponse({"detail": str(exc), "key": exc.key}, status_code=code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")),
                   "type": str(e.get("type", ""))} for e in exc.errors()]
        return JSONResponse({"detail": errors, "message": _validation_message(exc),
                             "key": "validation_error"}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        key = {401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
               409: "conflict", 413: "too_large", 429: "too_many_attempts"}.get(exc.status_code, "http_error")
        return JSONResponse({"detail": exc.detail, "key": key}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:  # a bug: logged in full
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error (logged on the station)", "key": "internal"},
                            status_code=500)
