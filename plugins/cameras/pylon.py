"""Basler cameras (GigE, USB3, the pylon camera emulator) through pypylon.

The only module that imports pypylon, lazily (:func:`sdk`). Every pypylon/GenICam exception is
re-raised as a typed error from :mod:`inspection.errors` ``from exc``.

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
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from inspection.camera import CameraDevice, select_device
from inspection.camera_base import CameraBase
from inspection.camera_recovery import Reconnector
from inspection.camera_settings import CameraSettings, parse_camera_settings
from inspection.errors import (
    CameraError,
    CameraNotFound,
    ConfigError,
    DeviceRemoved,
    GrabTimeout,
    IncompleteFrame,
    MissingDependency,
)
from inspection.frame import Frame
from plugins.cameras.pylon_features import apply_settings, read, to_pixels

logger = logging.getLogger(__name__)

EMULATED_CLASS = "BaslerCamEmu"
_EXPOSURE_END_NODES = ("EventExposureEndData", "EventExposureEnd", "ExposureEndEventData")


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


def _enumerate() -> list[tuple[CameraDevice, Any]]:
    pylon, genicam = sdk()
    try:
        infos = pylon.TlFactory.GetInstance().EnumerateDevices()
    except genicam.GenericException as exc:
        raise CameraError(f"device enumeration failed: {exc}", key="enumeration_failed") from exc
    out = []
    for info in infos:
        cls = info.GetDeviceClass()
        address = info.GetIpAddress() if info.IsIpAddressAvailable() else ""
        out.append((CameraDevice(driver="pylon", serial=info.GetSerialNumber(), model=info.GetModelName(),
                                 user_id=info.GetUserDefinedName(), interface=cls, address=address,
                                 emulated=cls == EMULATED_CLASS), info))
    return out


def _short(exc: BaseException) -> str:
    return str(exc).split(" : ")[0].strip()


@dataclass
class _Device:
    """An opened InstantCamera with the event handlers registered on it. pylon does not own the
    handlers (Cleanup_None), so they are deregistered before the device is destroyed."""

    cam: Any
    removal: Any
    exposure_end: tuple[Any, str] | None = None

    def destroy(self) -> None:
        """StopGrabbing, Close, deregister and DestroyDevice, each attempted whatever the others did."""
        _, genicam = sdk()
        cam = self.cam
        steps = [("StopGrabbing", cam.StopGrabbing), ("Close", cam.Close),
                 ("DeregisterConfiguration", lambda: cam.DeregisterConfiguration(self.removal))]
        if self.exposure_end is not None:
            handler, node = self.exposure_end
            steps.append(("DeregisterCameraEventHandler",
                          lambda: cam.DeregisterCameraEventHandler(handler, node)))
        steps.append(("DestroyDevice", cam.DestroyDevice))
        for name, step in steps:
            try:
                step()
            except genicam.GenericException as exc:
                logger.debug("%s during teardown: %s", name, _short(exc))


class PylonCamera(CameraBase):
    """A Basler camera (or an emulated one) configured from :class:`CameraSettings`."""

    driver = "pylon"

    def __init__(self, settings: CameraSettings | dict[str, Any]) -> None:
        super().__init__(settings)
        self._dev: _Device | None = None
        self._lock = threading.RLock()
        self._want_armed = False
        self._emulated = False
        self._expected: tuple[int, int] | None = None
        self._device_format = "Mono8"
        self._tick_ns = 1.0
        self._exposure_us: float | None = None
        self._events_since_arm = 0
        self._triggers = 0  # software triggers fired since arm()
        self._reconnector = Reconnector(self._reopen, what=f"camera {self.camera_id}",
                                        min_s=self._settings.reconnect_min_s,
                                        max_s=self._settings.reconnect_max_s, log=logger)

    # -- discovery -----------------------------------------------------------------------------
    @staticmethod
    def list_devices() -> list[CameraDevice]:
        return [d for d, _ in _enumerate()]

    @staticmethod
    def raw_loop(settings: CameraSettings) -> Any:
        """The bare pypylon software-trigger loop on the same settings (benchmark baseline)."""
        from plugins.cameras.pylon_bench import RawPylonLoop

        return RawPylonLoop(settings)

    # -- open / close / configure --------------------------------------------------------------
    def open(self) -> None:
        with self._lock:
            if self._is_open:
                return
            self._dev = self._open_device()
            self._is_open = True

    def _open_device(self) -> _Device:
        pylon, genicam = sdk()
        s = self._settings
        if s.emulated:
            ensure_emulator()
        devices = _enumerate()
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
        owner = self

        class RemovalHandler(pylon.ConfigurationEventHandler):  # type: ignore[name-defined]
            def OnCameraDeviceRemoved(self, camera: Any) -> None:
                owner._on_removed("device removed (pylon callback)")

        dev: _Device | None = None
        try:
            dev = _Device(pylon.InstantCamera(pylon.TlFactory.GetInstance().CreateDevice(info)),
                          RemovalHandler())
            dev.cam.GrabCameraEvents.Value = True
            dev.cam.RegisterConfiguration(dev.removal, pylon.RegistrationMode_Append, pylon.Cleanup_None)
            dev.cam.Open()
            self._apply(dev)
        except genicam.GenericException as exc:
            if dev is not None:
                dev.destroy()
            raise CameraError(f"cannot open {chosen.model} {chosen.serial} ({s.selection}): {_short(exc)}",
                              camera=self.camera_id, key="camera_open_failed") from exc
        except BaseException:
            if dev is not None:
                dev.destroy()
            raise
        return dev

    def _apply(self, dev: _Device) -> None:
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
            if dev.exposure_end is None:
                dev.exposure_end = self._register_exposure_event(cam, pylon)
        except genicam.GenericException as exc:
            raise ConfigError(f"camera refused the settings: {_short(exc)}",
                              key="camera_setting_rejected") from exc

    def _register_exposure_event(self, cam: Any, pylon: ModuleType) -> tuple[Any, str] | None:
        nodemap = cam.GetNodeMap()
        node = next((n for n in _EXPOSURE_END_NODES if nodemap.GetNode(n).IsValid()), None)
        if node is None:
            return None
        owner = self

        class ExposureEndHandler(pylon.CameraEventHandler):  # type: ignore[name-defined]
            def OnCameraEvent(self, camera: Any, user_id: int, node: Any) -> None:
                owner._on_exposure_event()

        handler = ExposureEndHandler()
        cam.RegisterCameraEventHandler(handler, node, 1, pylon.RegistrationMode_Append, pylon.Cleanup_None)
        return handler, node

    def close(self) -> None:
        self._reconnector.stop()
        with self._lock:
            dev, self._dev = self._dev, None
            self._armed = self._want_armed = False
            self._is_open = False
            self._online.set()
            if dev is not None:
                dev.destroy()

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

    def _restore(self, dev: _Device) -> None:
        try:
            self._apply(dev)
        except Exception as exc:  # the camera keeps whatever it accepted; say so
            logger.error("camera %s: restoring the previous settings failed: %s", self.camera_id, exc)

    # -- acquisition ---------------------------------------------------------------------------
    def arm(self) -> None:
        pylon, genicam = sdk()
        with self._lock:
            cam = self._ready(need_armed=False)
            if not self._armed:
                self._start_grabbing(cam, pylon, genicam)

    def _start_grabbing(self, cam: Any, pylon: ModuleType, genicam: ModuleType) -> None:
        self._start_sequence()
        self._events_since_arm = 0
        self._triggers = 0
        try:
            cam.StartGrabbing(pylon.GrabStrategy_OneByOne, pylon.GrabLoop_ProvidedByUser)
        except genicam.GenericException as exc:
            try:
                cam.StopGrabbing()
            finally:
                raise CameraError(f"cannot start acquisition: {_short(exc)}", camera=self.camera_id,
                                  key="camera_arm_failed") from exc
        self._armed = self._want_armed = True

    def disarm(self) -> None:
        _, genicam = sdk()
        with self._lock:
            self._want_armed = False
            if self._dev is None or not self._armed:
                self._armed = False
                return
            try:
                self._dev.cam.StopGrabbing()
            except genicam.GenericException as exc:
                raise CameraError(f"StopGrabbing failed: {_short(exc)}", camera=self.camera_id) from exc
            finally:
                self._armed = False

    def trigger(self) -> None:
        pylon, _ = sdk()
        with self._lock:
            cam = self._ready(need_armed=True)
            trig = self._settings.trigger
            if trig.source != "software":
                raise ConfigError(f"the camera waits for hardware triggers on {trig.line}",
                                  field="trigger.source", key="not_software_triggered")
            with self._sdk_errors("software trigger"):
                self._drain(cam, pylon)
                ms = max(1, int(self._settings.grab_timeout_s * 1000))
                if not cam.WaitForFrameTriggerReady(ms, pylon.TimeoutHandling_Return):
                    self._count("timeouts")
                    raise GrabTimeout(f"not ready for a frame trigger within {ms} ms "
                                      "(previous exposure or transfer still running)",
                                      camera=self.camera_id, key="trigger_not_ready")
                cam.ExecuteSoftwareTrigger()
                self._triggers += 1

    def _drain(self, cam: Any, pylon: ModuleType) -> None:
        """Discard every frame of earlier triggers before this one fires: frames already waiting
        (a stray pulse, a grab the station gave up on) and frames still in flight (triggered but
        not yet arrived), so the next grab returns the frame of this trigger, never an older one."""
        stale = 0
        timeout_ms = max(1, int(self._settings.grab_timeout_s * 1000))
        while True:
            owed = self._triggers - self._frames_seen()
            if owed <= 0 and not cam.GetGrabResultWaitObject().Wait(0):
                break
            result = cam.RetrieveResult(timeout_ms if owed > 0 else 0, pylon.TimeoutHandling_Return)
            try:
                if not result.IsValid():
                    if owed > 0:  # never arrived: count it lost and stop waiting for it
                        self._skip_frames(owed)
                        self._count("lost", owed)
                        logger.warning("camera %s: %d triggered frame(s) never arrived", self.camera_id, owed)
                    break
                stale += 1
                self._announce_exposure_end(self._frame_arrived(), "frame")
                self._check_frame_id(int(result.ID))
            finally:
                result.Release()
        if stale:
            self._count("stale", stale)
            logger.warning("camera %s: discarded %d frame(s) of earlier triggers", self.camera_id, stale)

    def grab(self, timeout_s: float | None = None) -> Frame:
        pylon, _ = sdk()
        timeout = self._settings.grab_timeout_s if timeout_s is None else timeout_s
        with self._lock:
            cam = self._ready(need_armed=True)
            with self._sdk_errors("grab"):
                result = cam.RetrieveResult(max(0, int(timeout * 1000)), pylon.TimeoutHandling_Return)
            try:
                if not result.IsValid():
                    if cam.IsCameraDeviceRemoved():
                        self._on_removed("device removed (grab)")
                        raise DeviceRemoved("device removed; reopening in the background",
                                            camera=self.camera_id)
                    self._count("timeouts")
                    trig = self._settings.trigger
                    what = "software trigger" if trig.source == "software" else f"trigger on {trig.line}"
                    raise GrabTimeout(f"no frame within {timeout:.3f} s after the {what}",
                                      camera=self.camera_id)
                return self._frame_from(result)
            finally:
                result.Release()

    def _frame_from(self, result: Any) -> Frame:
        index = self._frame_arrived()
        frame_id = int(result.ID)
        self._announce_exposure_end(index, "frame")
        if not result.GrabSucceeded():
            self._check_frame_id(frame_id)
            self._count("incomplete")
            raise IncompleteFrame(f"frame {frame_id} failed: {result.ErrorDescription}",
                                  camera=self.camera_id, code=int(result.ErrorCode) or None)
        with result.GetArrayZeroCopy() as view:
            pixels, fmt = to_pixels(view, self._device_format)
        ticks = int(result.TimeStamp)
        return self._deliver(pixels, frame_id=frame_id, expected=self._expected, pixel_format=fmt,
                             source=f"pylon:{self._device_id}", exposure_us=self._exposure_us,
                             device_timestamp_ns=int(ticks * self._tick_ns) if ticks else None)

    def _on_exposure_event(self) -> None:
        self._events_since_arm += 1
        self._announce_exposure_end(self._events_since_arm, "event")

    # -- direct feature access (user sets, fault injection on the emulator) ----------------------
    def execute(self, command: str) -> None:
        """Execute a GenICam command feature of the open device, e.g. ``"UserSetSave"`` (or the
        emulator's ``"ForceFailedBuffer"`` and ``"FirePnPCallback"`` used by the tests)."""
        with self._lock:
            cam = self._ready(need_armed=False)
            node = cam.GetNodeMap().GetNode(command)
            if not node.IsValid() or not node.IsWritable():
                raise ConfigError(f"the camera has no executable {command}", field=command,
                                  key="camera_setting_not_supported")
            with self._sdk_errors(command):
                node.Execute()

    def feature(self, name: str) -> Any:
        """The current value of a device feature (GenICam name), for diagnostics."""
        with self._lock:
            cam = self._ready(need_armed=False)
            node = cam.GetNodeMap().GetNode(name)
            if not node.IsValid() or not node.IsReadable():
                raise ConfigError(f"the camera has no readable {name}", field=name,
                                  key="camera_setting_not_supported")
            with self._sdk_errors(name):
                return node.Value

    # -- state checks, removal and reconnection ------------------------------------------------
    def _ready(self, *, need_armed: bool) -> Any:
        if not self._online.is_set():
            raise DeviceRemoved("camera offline; reopening in the background", camera=self.camera_id)
        if self._dev is None or not self._is_open:
            raise CameraError("camera is not open; call open() first", camera=self.camera_id,
                              key="camera_not_open")
        cam = self._dev.cam
        # No IsCameraDeviceRemoved() here: it costs about 1 ms per call. pylon's removal callback
        # clears _online; after a timeout or an SDK error, grab() and _sdk_errors() ask the device.
        if need_armed and not self._armed:
            raise CameraError("camera is not armed; call arm() first", camera=self.camera_id,
                              key="camera_not_armed")
        return cam

    @contextmanager
    def _sdk_errors(self, what: str) -> Iterator[None]:
        _, genicam = sdk()
        try:
            yield
        except genicam.GenericException as exc:
            if self._dev is not None and self._dev.cam.IsCameraDeviceRemoved():
                self._on_removed(f"device removed ({what})")
                raise DeviceRemoved(f"{what}: device removed", camera=self.camera_id) from exc
            raise CameraError(f"{what} failed: {_short(exc)}", camera=self.camera_id) from exc

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
                dev.destroy()
            self._dev = self._open_device()
            if rearm:
                pylon, genicam = sdk()
                self._start_grabbing(self._dev.cam, pylon, genicam)
            self._count("reconnects")
            self._online.set()
