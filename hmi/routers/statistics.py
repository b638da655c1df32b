"""Statistics: yield per hour and per shift, the defect Pareto, the defect-location map over the part."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

import cv2
import numpy as np
from fastapi import APIRouter, Query, Response

from hmi.deps import Ctx, OperatorUser
from hmi.imaging import encode_jpeg
from hmi.routers.live import JPEG
from inspection.store import stats

router = APIRouter(prefix="/api/stats", tags=["statistics"])

Hours = Annotated[float, Query(gt=0, le=24 * 92, description="the last this many hours")]
RecipeQ = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def _range(hours: float) -> tuple[int, int]:
    now = time.time_ns()
    return now - int(hours * stats.HOUR_NS), now + 1


@router.get("/yield", response_model=dict[str, Any])
def yield_trend(ctx: Ctx, user: OperatorUser, hours: Hours = 24.0,
                bucket: Literal["hour", "shift"] = "hour", recipe_id: RecipeQ = None) -> dict[str, Any]:
    """Parts, OK, NG and yield per local hour (hours with parts only) or per shift (06:00 early,
    14:00 late, 22:00 night), oldest first, with the range's totals."""
    since, until = _range(hours)
    per_hour = stats.yield_per_hour(ctx.store, since, until, recipe_id=recipe_id)
    buckets = per_hour if bucket == "hour" else stats.yield_per_shift(per_hour)
    total, ok = sum(b.total for b in per_hour), sum(b.ok for b in per_hour)
    return {"bucket": bucket, "since_ns": since, "until_ns": until, "buckets": [b.to_dict() for b in buckets],
            "total": total, "ok": ok, "ng": total - ok,
            "yield_pct": None if not total else round(100.0 * ok / total, 2)}


@router.get("/pareto", response_model=list[dict[str, Any]])
def pareto(ctx: Ctx, user: OperatorUser, hours: Hours = 24.0, recipe_id: RecipeQ = None) -> list[dict[str, Any]]:
    """Rejected parts by cause (worst defect class, or the result code), most frequent first."""
    since, until = _range(hours)
    return stats.pareto(ctx.store, since, until, recipe_id=recipe_id)


@router.get("/defect-map", response_model=dict[str, Any])
def defect_map(ctx: Ctx, user: OperatorUser, hours: Hours = 24.0, recipe_id: RecipeQ = None) -> dict[str, Any]:
    """Counts of reported defects per cell of a 32 x 24 grid over the part (rows of columns)."""
    since, until = _range(hours)
    return stats.defect_map(ctx.store, since, until, recipe_id=recipe_id).to_dict()


@router.get("/defect-map.jpg", response_class=Response, responses={**JPEG})
def defect_map_image(ctx: Ctx, user: OperatorUser, hours: Hours = 24.0, recipe_id: RecipeQ = None,
                     width: Annotated[int, Query(ge=64, le=2048)] = 800) -> Response:
    """The defect-location map as a heat map over the recipe's golden reference (default: the
    active recipe; a grey board when it has none)."""
    since, until = _range(hours)
    rid = recipe_id or ctx.station.status().active_recipe
    m = stats.defect_map(ctx.store, since, until, recipe_id=recipe_id)
    golden = ctx.station.golden_image(rid)
    if golden is None:
        base: np.ndarray = np.full((480, 640, 3), 40, np.uint8)
    else:
        g = golden if golden.dtype == np.uint8 else (golden // 257).astype(np.uint8)
        base = cv2.cvtColor(g, cv2.COLOR_GRAY2BGR) if g.ndim == 2 else g[:, :, :3].copy()
    h, w = base.shape[:2]
    grid = m.grid.astype(np.float32)
    peak = float(grid.max()) or 1.0
    heat = cv2.resize(grid / peak, (w, h), interpolation=cv2.INTER_NEAREST)
    colour = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)
    alpha = (0.15 + 0.6 * heat)[:, :, None] * (heat > 0)[:, :, None]
    out = (base * (1 - alpha) + colour * alpha).astype(np.uint8)
    data = encode_jpeg(out, max_width=width, quality=ctx.settings.jpeg_quality)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-cache"})
