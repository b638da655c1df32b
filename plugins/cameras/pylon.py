"""Basler cameras (GigE, USB3, the pylon camera emulator) through pypylon.

The only module that imports pypylon, lazily (:func:`sdk`); its helpers get the SDK modules from
here: ``pylon_device`` (opened device, handlers, enumeration), ``pylon_acquisition`` (arm, trigger,
grab), ``pylon_features`` (settings -> node map, buffers -> pixels), ``pylon_bench`` (the raw
baseline loop). Every pypylon/GenICam exception is re-raised as a typed error from
:mod:`inspection.errors` ``from exc``.

Acquisition model: ``arm()`` starts grabbing (one-by-one, user grab loop, frame-start trigger on);
``trigger()`` discards frames already waiting, waits until the camera is ready for a frame trigger
and fires a software trigger; ``grab()`` retrieves the next result and copies the pixels out of the
pylon buffer, which is released in a ``finally`` block. StopGrabbing is always in ``finally`` too,
so an exception never leaves the device locked for the next ``open()``.

Device removal (cable pulled, power lost) is reported by pylon's configuration callback, and
``IsCameraDeviceRemoved`` is asked after a timeout or an SDK error (not per frame: it costs about
1 ms). The camera then raises :class:`DeviceRemoved` at once and reopens in the background with
back-off, re-applying the settings and re-arming when it was armed.
"""

from __future__ import annotations

import logging
import os
import warnings
from types import ModuleType
from typing import Any

from inspection.camera.contract import CameraDevice, select_device
from inspection.camera.recovery import Reconnector
from inspection.camera.settings import CameraSettings, parse_camera_settings
from inspection.errors import CameraError, CameraNotFound, ConfigError, MissingDependency
from plugins.cameras.pylon_acquisition import PylonAcquisition
from plugins.cameras.pylon_device import PylonDevice, enumerate_devices, short
from plugins.cameras.pylon_features import apply_settings, read

logger = logging.getLogger(__name__)


def sdk() -> tuple[ModuleType, ModuleType]:
    """(pylon, genicam) from pypylon, imported on first use."""
    try:
        # SWIG's module init warns (DeprecationWarning, Python >= 3.11); with warnings turned into
        # errors (pytest -W error, python -W error) the failing init crashes the interpreter.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"builtin type \w+ has no __module__ attribute",
                                    category=DeprecationWarning)
            from pypylon import genicam, pylon
    except ImportError as exc:
        raise MissingDependency("pypylon", purpose="Basler cameras and the pylon camera emulator") from exc
    return pylon, genicam


def ensure_emulator(count: int = 1) -> None:
    """Make sure at least ``count`` emulated cameras are enumerated (sets PYLON_CAMEMU). Older
    pylon releases read it once, at the first enumeration in the process: call this early."""
    current = os.environ.get("PYLON_CAMEMU", "")
    if not current.isdigit() or int(current) < count:
        os.environ["PYLON_CAMEMU"] = str(count)


class PylonCamera(PylonAcquisition):
    """A Basler camera (or an emulated one) configured from :class:`CameraSettings`."""

    driver = "pylon"

    def __init__(self, settings: CameraSettings | dict[str, Any]) -> None:
        super().__init__(settings)
        self._emulated = False
        self._reconnector = Reconnector(self._reopen, what=f"camera {self.camera_id}",
                                        min_s=self._settings.reconnect_min_s,
                                        max_s=self._settings.reconnect_max_s, log=logger)

    def _sdk(self) -> tuple[ModuleType, ModuleType]:
        return sdk()

    # -- discovery -----------------------------------------------------------------------------
    @staticmethod
    def list_devices() -> list[CameraDevice]:
        return [d for d, _ in enumerate_devices(*sdk())]

    @staticmethod
    def raw_loop(settings: CameraSettings) -> Any:
        """The bare pypylon software-trigger loop on the same settings (benchmark baseline)."""
        from plugins.cameras.pylon_bench import RawPylonLoop

        if settings.emulated:
            ensure_emulator()
        return RawPylonLoop(settings, sdk()[0])

    # -- open / close / configure --------------------------------------------------------------
    def open(self) -> None:
        with self._lock:
            if self._is_open:
                return
            self._dev = self._open_device()
            self._is_open = True

    def _open_device(self) -> PylonDevice:
        pylon, genicam = sdk()
        s = self._settings
        if s.emulated:
            ensure_emulator()
        devices = enumerate_devices(pylon, genicam)
        try:
            chosen = select_device([d for d, _ in devices], serial=s.serial, user_id=s.user_id, index=s.index,
                                   emulated=s.emulated, camera=s.name or None)
        except CameraNotFound as exc:
            if not devices and "PYLON_CAMEMU" not in os.environ:
                raise CameraNotFound(f"{exc} (no Basler camera found; for the pylon camera emulator select "
                                     "emulated or set PYLON_CAMEMU=1)", camera=exc.camera) from None
            raise
        info = next(i for d, i in devices if d is chosen)
        self._device_id = chosen.serial
        self._emulated = chosen.emulated
        self._reconnector.outage.what = f"camera {self.camera_id}"
        dev: PylonDevice | None = None
        try:
            dev = PylonDevice.open(pylon, info, lambda: self._on_removed("device removed (pylon callback)"))
            self._apply(dev)
        except genicam.GenericException as exc:
            if dev is not None:
                dev.destroy(genicam)
            raise CameraError(f"cannot open {chosen.model} {chosen.serial} ({s.selection}): {short(exc)}",
                              camera=self.camera_id, key="camera_open_failed") from exc
        except BaseException:
            if dev is not None:
                dev.destroy(genicam)
            raise
        return dev

    def _apply(self, dev: PylonDevice) -> None:
        """Write the settings; read back what frames need. GenICam errors become ConfigError."""
        pylon, genicam = sdk()
        cam = dev.cam
        nodemap = cam.GetNodeMap()
        try:
            apply_settings(nodemap, self._settings, emulated=self._emulated,
                           generic_error=genicam.GenericException)
            cam.MaxNumBuffer.Value = self._settings.buffer_count
            self._expected = (int(cam.Height.Value), int(cam.Width.Value))
            self._device_format = str(cam.PixelFormat.Value)
            self._exposure_us = read(nodemap, ("ExposureTime", "ExposureTimeAbs"))
            freq = read(nodemap, ("GevTimestampTickFrequency",))
            self._tick_ns = 1e9 / freq if freq else 1.0
            dev.watch_exposure_end(pylon, self._on_exposure_event)
        except genicam.GenericException as exc:
            raise ConfigError(f"camera refused the settings: {short(exc)}",
                              key="camera_setting_rejected") from exc

    def close(self) -> None:
        self._reconnector.stop()
        with self._lock:
            dev, self._dev = self._dev, None
            self._armed = self._want_armed = False
            self._is_open = False
            self._online.set()
            if dev is not None:
                dev.destroy(sdk()[1])

    def configure(self, settings: CameraSettings | dict[str, Any]) -> None:
        new = parse_camera_settings(settings)
        with self._lock:
            old = self._settings
            if not self._is_open or self._dev is None:
                self._settings = new
                return
            was_armed = self._armed
            if (new.serial, new.user_id, new.index, new.emulated) != (old.serial, old.user_id, old.index,
                                                                        old.emulated):
                self.close()
                self._settings = new
                self.open()
            else:
                self.disarm()
                self._settings = new
                try:
                    self._apply(self._dev)
                except BaseException:
                    self._settings = old
                    self._restore(self._dev)
                    raise
            if was_armed:
                self.arm()

    def _restore(self, dev: PylonDevice) -> None:
        try:
            self._apply(dev)
        except Exception as exc:  # the camera keeps whatever it accepted; say so
            logger.error("camera %s: restoring the previous settings failed: %s", self.camera_id, exc)

    def _on_removed(self, reason: str) -> None:
        """Mark the camera offline and start reopening it (from any thread, pylon's included)."""
        if not self._is_open:
            return
        self._online.clear()
        if self._settings.reconnect:
            self._reconnector.start(reason)
        else:
            self._reconnector.outage.failure(f"{reason}; reconnect is off")

    def _reopen(self) -> None:
        """One reconnection attempt (in the reconnector's thread): drop the removed device, open
        the camera again by the same selection, apply the settings, re-arm if it was armed."""
        with self._lock:
            if not self._is_open:
                return
            rearm = self._want_armed
            dev, self._dev = self._dev, None
            self._armed = False
            if dev is not None:
                dev.destroy(sdk()[1])
            self._dev = self._open_device()
            if rearm:
                pylon, genicam = sdk()
                self._start_grabbing(self._dev.cam, pylon, genicam)
            self._count("reconnects")
            self._online.set()
