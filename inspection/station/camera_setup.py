"""Camera commissioning on a running station: exposure and gain tried on the device, then saved.

``trial()`` writes the values to the camera (its driver's :meth:`~inspection.camera.contract.Camera.configure`),
triggers it and returns the next frame, so the engineer sees what the setting does before keeping
it; ``save()`` persists the values the camera runs now to ``<data_dir>/station/camera-settings.json``
(re-applied when the station starts); ``revert()`` gives the camera the saved values back. All three
are refused (``station_armed``) while the station is armed for the PLC: a new exposure in the middle
of production would change the images the parts are judged on. Every change is audited (old -> new).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from inspection.camera.contract import Camera
from inspection.camera.settings import CameraSettings, parse_camera_settings
from inspection.errors import ConfigError, InspectionError, StationError
from inspection.store import ResultStore

logger = logging.getLogger(__name__)

KEYS = ("exposure_us", "gain_db")
FILE_NAME = "camera-settings.json"


class _StationLike(Protocol):
    camera: Camera
    store: ResultStore

    def status(self) -> Any: ...


def _values(settings: CameraSettings) -> dict[str, float | None]:
    return {k: getattr(settings, k) for k in KEYS}


def load_saved(path: Path) -> dict[str, float]:
    """The saved exposure and gain ({} when none are saved or the file is unreadable: logged)."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        out = {k: float(data[k]) for k in KEYS if isinstance(data, dict) and data.get(k) is not None}
        parse_camera_settings(out)  # in range
        return out
    except (OSError, ValueError, TypeError, ConfigError) as exc:
        logger.error("ignoring unreadable camera settings %s: %s", path, exc)
        return {}


class CameraSetup:
    """Exposure and gain of the station's camera: tried, saved, reverted (see the module)."""

    def __init__(self, station: _StationLike, data_dir: Path, *, initial: CameraSettings,
                 cycle: threading.Lock, armed: Callable[[], bool]) -> None:
        self.station = station
        self.initial = initial  # the configuration's camera settings
        self.path = Path(data_dir) / FILE_NAME
        self._cycle = cycle  # held by a production cycle: a trial waits for it
        self._armed = armed
        self._lock = threading.Lock()
        self.last_image: np.ndarray | None = None
        self.last_frame: dict[str, object] = {}
        self._before: dict[str, float | None] | None = None  # the camera's values before the first trial

    # ---- start -----------------------------------------------------------------------------------
    def apply_saved(self) -> dict[str, float]:
        """Give the camera the saved values (the station calls this before opening it)."""
        saved = load_saved(self.path)
        if saved:
            cam = self.station.camera
            cam.configure(cam.settings.model_copy(update=saved))
            logger.info("camera: saved commissioning settings applied: %s", saved)
        return saved

    # ---- reads -----------------------------------------------------------------------------------
    def state(self) -> dict[str, object]:
        cam = self.station.camera
        saved = load_saved(self.path)
        current = _values(cam.settings)
        before = self._before or {}

        def kept(k: str) -> float | None:  # what the camera runs when nothing is tried
            v = saved.get(k, getattr(self.initial, k))
            return v if v is not None else before.get(k)  # neither: the device's own value, if known

        return {"camera_id": cam.camera_id, "driver": cam.settings.driver, "current": current,
                "saved": {k: saved.get(k) for k in KEYS}, "saved_file": self.path.is_file(),
                "unsaved": any(kept(k) != current[k] for k in KEYS),
                "armed": self._armed(), "frame": dict(self.last_frame)}

    # ---- commands --------------------------------------------------------------------------------
    def _refuse_if_armed(self, what: str) -> None:
        if self._armed():
            raise StationError(f"the station is armed for the PLC: disarm it before {what} (a new exposure "
                               "in the middle of production would change the images parts are judged on)",
                               key="station_armed")

    def _configure(self, values: Mapping[str, float | None]) -> tuple[dict[str, float | None], dict[str, float | None]]:
        cam = self.station.camera
        old = _values(cam.settings)
        new_settings = parse_camera_settings({**cam.settings.model_dump(), **values})
        cam.configure(new_settings)  # ConfigError (camera_setting_rejected) when the device refuses
        return old, _values(cam.settings)

    def trial(self, values: Mapping[str, float], *, user: str) -> dict[str, object]:
        """Apply ``values`` (exposure_us, gain_db) to the camera and grab the next frame."""
        unknown = set(values) - set(KEYS)
        if unknown or not values:
            raise ConfigError(f"give exposure_us and/or gain_db (got {', '.join(sorted(values)) or 'nothing'})",
                              key="bad_camera_setting")
        self._refuse_if_armed("trying camera settings")
        with self._lock, self._cycle:
            self._refuse_if_armed("trying camera settings")
            if self._before is None:
                self._before = _values(self.station.camera.settings)
                if self._before["exposure_us"] is None:  # the device's own value, where the driver reports it
                    self._before["exposure_us"] = self._grab()[1].get("exposure_us")  # type: ignore[assignment]
            return self._apply(values, user=user, action="camera_trial", detail="tried on the device (not saved)")

    def _apply(self, values: Mapping[str, float | None], *, user: str, action: str, detail: str) -> dict[str, object]:
        """Configure the camera, grab a frame with the new values, audit a change (the caller holds
        the locks)."""
        old, new = self._configure(values)
        image, frame = self._grab()
        if old != new:
            self.station.store.audit(user=user, action=action, target="camera", old=old, new=new, detail=detail)
        return {**self.state(), "image": image is not None, "frame": frame}

    def _grab(self) -> tuple[np.ndarray | None, dict[str, object]]:
        cam = self.station.camera
        try:
            if cam.settings.trigger.source == "software":
                cam.trigger()
            frame = cam.grab()
        except InspectionError as exc:
            self.last_image, self.last_frame = None, {"error": str(exc)}
            raise StationError(f"the camera took the settings but gave no image: {exc}",
                               key="camera_no_image") from exc
        info: dict[str, object] = {"frame_id": frame.frame_id, "shape": list(frame.pixels.shape[:2]),
                                   "exposure_us": getattr(frame, "exposure_us", None)}
        self.last_image, self.last_frame = frame.pixels, info
        return frame.pixels, info

    def save(self, *, user: str) -> dict[str, object]:
        """Persist the values the camera runs now (re-applied at station start). Audited."""
        self._refuse_if_armed("saving camera settings")
        with self._lock:
            old = load_saved(self.path)
            current = {k: v for k, v in _values(self.station.camera.settings).items() if v is not None}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(current, indent=1))
            os.replace(tmp, self.path)
        self.station.store.audit(user=user, action="camera_save", target="camera",
                                 old={k: old.get(k) for k in KEYS}, new={k: current.get(k) for k in KEYS})
        return self.state()

    def revert(self, *, user: str) -> dict[str, object]:
        """Give the camera the saved values back (where none are saved: the configuration's, else the
        values it had before the first trial; a gain neither gives stays as tried). Audited."""
        self._refuse_if_armed("reverting camera settings")
        saved = load_saved(self.path)
        before = self._before or {}
        target: dict[str, float | None] = {}
        for k in KEYS:
            v = saved.get(k, getattr(self.initial, k))
            target[k] = v if v is not None else before.get(k, getattr(self.station.camera.settings, k))
        with self._lock, self._cycle:
            return self._apply(target, user=user, action="camera_revert", detail="back to the saved settings")
