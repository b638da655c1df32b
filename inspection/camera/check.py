"""Try camera settings on the device before they are saved (like a Home Assistant config flow).

An operator types a serial number or an exposure time in the HMI; before the station configuration
is written, :func:`check_camera_settings` opens the camera with those settings, arms it, fires one
software trigger and grabs one frame. The answer is a :class:`SettingsCheck` whose ``error`` is a
stable key the HMI can translate ("camera_not_found", "camera_setting_rejected", "grab_timeout", ...;
the list is in docs/cameras.md), never an exception.

When the station already holds the camera open (the device is exclusive), pass it as ``camera``:
the new settings are applied to it and, if the check fails, the previous ones are put back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from inspection.camera.contract import Camera, cameras, create_camera
from inspection.camera.settings import CameraSettings, parse_camera_settings
from inspection.errors import ConfigError, InspectionError
from inspection.frame import Frame
from inspection.registry import Registry

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SettingsCheck:
    """Outcome of trying settings: ``ok`` with the test frame, or a stable ``error`` key."""

    ok: bool
    error: str | None = None
    message: str = ""
    field: str | None = None
    frame: Frame | None = None
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"ok": self.ok, "error": self.error, "message": self.message,
                                  "field": self.field, "elapsed_s": round(self.elapsed_s, 3)}
        if self.frame is not None:
            out["frame"] = {"shape": list(self.frame.pixels.shape), "pixel_format": self.frame.pixel_format,
                            "frame_id": self.frame.frame_id, "camera_id": self.frame.camera_id}
        return out


def _failure(exc: InspectionError, start: float) -> SettingsCheck:
    field = exc.field if isinstance(exc, ConfigError) else None
    return SettingsCheck(ok=False, error=exc.key, message=str(exc), field=field,
                         elapsed_s=time.monotonic() - start)


def _one_frame(camera: Camera, timeout_s: float | None) -> Frame:
    camera.arm()
    try:
        if camera.settings.trigger.source == "software":
            camera.trigger()
        return camera.grab(timeout_s)
    finally:
        camera.disarm()


def check_camera_settings(settings: CameraSettings | Mapping[str, Any], *, camera: Camera | None = None,
                          timeout_s: float | None = None,
                          registry: Registry[Camera] = cameras) -> SettingsCheck:
    """Open (or reconfigure) the camera with ``settings`` and grab one frame; never raises for a
    camera, settings or image problem. With hardware triggers the grab waits for a real pulse."""
    start = time.monotonic()
    try:
        parsed = parse_camera_settings(settings)
    except ConfigError as exc:
        return _failure(exc, start)
    if camera is None:
        try:
            fresh = create_camera(parsed, registry=registry)
        except InspectionError as exc:
            return _failure(exc, start)
        try:
            with fresh:
                frame = _one_frame(fresh, timeout_s)
        except InspectionError as exc:
            return _failure(exc, start)
        return SettingsCheck(ok=True, frame=frame, elapsed_s=time.monotonic() - start)
    previous = camera.settings
    was_armed = camera.armed
    try:
        camera.configure(parsed)
        frame = _one_frame(camera, timeout_s)
    except InspectionError as exc:
        result = _failure(exc, start)
        try:
            camera.configure(previous)
        except InspectionError as again:
            logger.error("camera %s: could not restore the previous settings: %s", camera.camera_id, again)
        else:
            if was_armed:
                camera.arm()
        return result
    if was_armed:
        camera.arm()
    return SettingsCheck(ok=True, frame=frame, elapsed_s=time.monotonic() - start)
