"""Settings of the HMI app (validated at the edge; the station config file maps onto them)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class HmiSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = Field(default="Inspection station", min_length=1, max_length=80)
    session_idle_minutes: int = Field(default=12 * 60, ge=5, le=7 * 24 * 60,
                                      description="a session ends after this long without a request")
    cookie_secure: bool = Field(default=False, description="send the session cookie over HTTPS only")
    filmstrip_len: int = Field(default=12, ge=1, le=64)
    sse_queue: int = Field(default=32, ge=1, le=1024,
                           description="events kept per live client (oldest dropped)")
    sse_keepalive_s: float = Field(default=15.0, gt=0, le=300)
    live_image_width: int = Field(default=1600, ge=160, le=8192,
                                  description="live images are scaled down to this")
    jpeg_quality: int = Field(default=85, ge=30, le=100)
    allowed_hosts: tuple[str, ...] | None = Field(
        default=None, description="host names the HMI answers to besides IP addresses (DNS rebinding: a "
        "foreign name resolving to this machine is refused); None: any host (tests, embedding)")
    worker_threads: int = Field(default=4, ge=1, le=64, description="threads for the HMI's blocking work "
                                "(queries, image encodes): bounded, so the HMI cannot starve the station")
    max_upload_bytes: int = Field(default=64 * 1024**2, ge=1024)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024,
                                description="largest JSON request body (uploads: max_upload_bytes)")
    max_upload_pixels: int = Field(default=50_000_000, ge=1024,
                                   description="largest image (width x height) an upload may decode to")
    login_max_failures: int = Field(default=5, ge=1, le=100)
    login_lockout_s: float = Field(default=60.0, ge=0, le=3600)
