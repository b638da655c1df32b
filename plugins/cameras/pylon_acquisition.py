"""Acquisition on an opened pylon device: arm, software trigger, grab, stale-frame draining,
exposure-end events, feature access. :class:`plugins.cameras.pylon.PylonCamera` adds opening,
configuration and reconnection. No pypylon import here: ``_sdk()`` hands over the modules that
:func:`plugins.cameras.pylon.sdk` imported.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from inspection.camera.base import CameraBase
from inspection.camera.settings import CameraSettings
from inspection.errors import CameraError, ConfigError, DeviceRemoved, GrabTimeout
from inspection.frame import Frame, IncompleteFrame
from plugins.cameras.pylon_device import PylonDevice, short
from plugins.cameras.pylon_features import to_pixels

logger = logging.getLogger(__name__)


class PylonAcquisition(CameraBase):
    """The grab side of the Basler driver; see :mod:`plugins.cameras.pylon`."""

    def __init__(self, settings: CameraSettings | dict[str, Any]) -> None:
        super().__init__(settings)
        self._dev: PylonDevice | None = None
        self._lock = threading.RLock()
        self._want_armed = False
        self._expected: tuple[int, int] | None = None
        self._device_format = "Mono8"
        self._tick_ns = 1.0
        self._exposure_us: float | None = None
        self._events_since_arm = 0
        self._triggers = 0  # software triggers fired since arm()

    def _sdk(self) -> tuple[ModuleType, ModuleType]:  # pragma: no cover - the subclass provides it
        raise NotImplementedError

    def _on_removed(self, reason: str) -> None:  # pragma: no cover - the subclass provides it
        raise NotImplementedError

    # -- acquisition ---------------------------------------------------------------------------
    def arm(self) -> None:
        pylon, genicam = self._sdk()
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
                raise CameraError(f"cannot start acquisition: {short(exc)}", camera=self.camera_id,
                                  key="camera_arm_failed") from exc
        self._armed = self._want_armed = True

    def disarm(self) -> None:
        _, genicam = self._sdk()
        with self._lock:
            self._want_armed = False
            if self._dev is None or not self._armed:
                self._armed = False
                return
            try:
                self._dev.cam.StopGrabbing()
            except genicam.GenericException as exc:
                raise CameraError(f"StopGrabbing failed: {short(exc)}", camera=self.camera_id) from exc
            finally:
                self._armed = False

    def trigger(self) -> None:
        pylon, _ = self._sdk()
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
                    if owed > 0:  # never arrived (its grab timed out already): stop waiting for it
                        self._skip_frames(owed)
                        logger.warning("camera %s: %d frame(s) of earlier triggers never arrived",
                                       self.camera_id, owed)
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
        pylon, _ = self._sdk()
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
        _, genicam = self._sdk()
        try:
            yield
        except genicam.GenericException as exc:
            if self._dev is not None and self._dev.cam.IsCameraDeviceRemoved():
                self._on_removed(f"device removed ({what})")
                raise DeviceRemoved(f"{what}: device removed", camera=self.camera_id) from exc
            raise CameraError(f"{what} failed: {short(exc)}", camera=self.camera_id) from exc
