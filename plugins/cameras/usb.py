"""USB (UVC) cameras through OpenCV's VideoCapture (V4L2 on Linux).

UVC cameras stream continuously and have no trigger input. A reader thread keeps the latest frame;
``trigger()`` marks the stream position and ``grab()`` returns the first frame whose exposure began
after the trigger (the second frame delivered after it), so a frame of the previous part is never
returned. Frame ids are the stream's frame counter (gaps are frames nobody triggered, not losses).
ROI is cropped in software; exposure is in V4L2 units of 100 µs; gain is in device units (not dB).
A read failure (camera unplugged) is logged once, and the reader reopens the device with back-off.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspection.camera.base import CameraBase
from inspection.camera.contract import CameraDevice
from inspection.camera.recovery import OutageLog
from inspection.camera.settings import CameraSettings, parse_camera_settings
from inspection.errors import CameraError, CameraNotFound, ConfigError, DeviceRemoved, GrabTimeout
from inspection.frame import Frame

logger = logging.getLogger(__name__)

_LINUX = sys.platform.startswith("linux")
_SYS = Path("/sys/class/video4linux")
_BY_ID = Path("/dev/v4l/by-id")


def _by_id() -> dict[str, str]:
    """/dev/videoN -> stable by-id name (it holds the vendor, model and serial)."""
    if not _BY_ID.is_dir():
        return {}
    return {str(link.resolve()): link.name for link in sorted(_BY_ID.iterdir())}


def video_devices() -> list[CameraDevice]:
    """The V4L2 video nodes of this machine (Linux); empty elsewhere (OpenCV cannot enumerate)."""
    if not _LINUX or not _SYS.is_dir():
        return []
    ids = _by_id()
    out = []
    for node in sorted(_SYS.glob("video*"), key=lambda p: int(p.name[5:] or 0)):
        name_file = node / "name"
        model = name_file.read_text().strip() if name_file.exists() else ""
        dev = f"/dev/{node.name}"
        out.append(CameraDevice(driver="usb", serial=ids.get(dev, dev), model=model, interface="UVC",
                                address=dev))
    return out


class UsbCamera(CameraBase):
    """A UVC camera selected by ``index`` (/dev/videoN) or by ``serial`` (part of its by-id name)."""

    driver = "usb"

    def __init__(self, settings: CameraSettings | dict[str, Any]) -> None:
        super().__init__(settings)
        self._cap: Any = None
        self._index = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._latest: tuple[int, np.ndarray, int] | None = None  # (seq, pixels, host time)
        self._seq = 0
        self._wanted_seq: int | None = None
        self._outage = OutageLog(logger, "usb camera")

    @staticmethod
    def list_devices() -> list[CameraDevice]:
        return video_devices()

    def _select(self) -> int:
        s = self._settings
        devices = video_devices()
        if s.serial is not None:
            match = [d for d in devices if s.serial in d.serial]
            if len(match) != 1:
                listing = ", ".join(d.serial for d in devices) or "none"
                raise CameraNotFound(f"{len(match)} video devices match serial {s.serial!r}; "
                                     f"found: {listing}")
            return int(match[0].address.removeprefix("/dev/video"))
        if s.user_id is not None:
            raise ConfigError("USB cameras have no user id; select by index or serial", field="user_id",
                              key="camera_setting_not_supported")
        index = s.index or 0
        if _LINUX and not Path(f"/dev/video{index}").exists():
            listing = ", ".join(f"{d.address} ({d.model})" for d in devices) or "none"
            raise CameraNotFound(f"no video device at index {index} (/dev/video{index} does not exist); "
                                 f"found: {listing}")
        return index

    def _check_settings(self) -> None:
        s = self._settings
        if s.trigger.source != "software":
            raise ConfigError("UVC cameras have no trigger input; use software triggers",
                              field="trigger.source", key="camera_setting_not_supported")
        if s.pixel_format not in ("Mono8", "BGR8", "RGB8"):
            raise ConfigError(f"USB cameras deliver 8-bit colour; {s.pixel_format} is not available "
                              "(use Mono8, BGR8 or RGB8)", field="pixel_format",
                              key="camera_setting_not_supported")
        if s.image_file is not None:
            raise ConfigError("image_file is for the pylon emulator and the replay driver",
                              field="image_file", key="bad_camera_setting")

    def _open_capture(self) -> Any:
        cap = cv2.VideoCapture(self._index, cv2.CAP_V4L2 if _LINUX else cv2.CAP_ANY)
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"cannot open video device {self._index} (busy, no permission or not a "
                              "capture device)", camera=self.camera_id, key="camera_open_failed")
        s = self._settings
        props: list[tuple[str, int, float]] = [("buffer_count", cv2.CAP_PROP_BUFFERSIZE, 1)]
        if s.roi is not None:
            props += [("roi.width", cv2.CAP_PROP_FRAME_WIDTH, s.roi.x + s.roi.width),
                      ("roi.height", cv2.CAP_PROP_FRAME_HEIGHT, s.roi.y + s.roi.height)]
        if s.exposure_us is not None:
            props += [("exposure_us", cv2.CAP_PROP_AUTO_EXPOSURE, 1),  # V4L2: 1 = manual
                      ("exposure_us", cv2.CAP_PROP_EXPOSURE, s.exposure_us / 100.0)]
        if s.gain_db is not None:
            props.append(("gain_db", cv2.CAP_PROP_GAIN, s.gain_db))
        if s.frame_rate_hz is not None:
            props.append(("frame_rate_hz", cv2.CAP_PROP_FPS, s.frame_rate_hz))
        for field, prop, value in props:
            if not cap.set(prop, value) and field != "buffer_count":
                cap.release()
                raise ConfigError(f"the camera refused {field}={value}", field=field,
                                  key="camera_setting_rejected")
        return cap

    def open(self) -> None:
        if self._is_open:
            return
        self._check_settings()
        self._index = self._select()
        self._device_id = f"/dev/video{self._index}" if _LINUX else f"video{self._index}"
        self._cap = self._open_capture()
        self._outage.what = f"camera {self.camera_id}"
        self._stop.clear()
        self._thread = threading.Thread(target=self._reader, name=f"usb camera {self._index}", daemon=True)
        self._is_open = True
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        t = self._thread
        if t is not None:
            t.join(5.0)
        self._thread = None
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()
        self._is_open = self._armed = False

    def configure(self, settings: CameraSettings | dict[str, Any]) -> None:
        was_open, was_armed = self._is_open, self._armed
        self.close()
        self._settings = parse_camera_settings(settings)
        if was_open:
            self.open()
        if was_armed:
            self.arm()

    def _reader(self) -> None:
        delay = self._settings.reconnect_min_s
        while not self._stop.is_set():
            ok, image = (False, None) if self._cap is None else self._cap.read()
            if ok and image is not None:
                if self._outage.down:
                    self._outage.recovered()
                    self._count("reconnects")
                    self._online.set()
                    delay = self._settings.reconnect_min_s
                with self._cond:
                    self._seq += 1
                    self._latest = (self._seq, image, time.time_ns())
                    self._cond.notify_all()
                continue
            self._online.clear()
            self._outage.failure("no frame from the device (unplugged?)")
            if self._cap is not None:
                self._cap.release()
            if self._stop.wait(delay):
                return
            delay = min(delay * 2.0, self._settings.reconnect_max_s)
            try:
                self._cap = self._open_capture()
            except CameraError as exc:
                self._cap = None
                self._outage.failure(exc)

    def arm(self) -> None:
        if not self._is_open:
            raise CameraError("camera is not open; call open() first", camera=self.camera_id,
                              key="camera_not_open")
        self._start_sequence()
        self._armed = True

    def disarm(self) -> None:
        self._armed = False
        with self._cond:
            self._wanted_seq = None

    def trigger(self) -> None:
        self._ready()
        with self._cond:
            self._wanted_seq = self._seq + 2  # the next delivered frame may have started before now

    def grab(self, timeout_s: float | None = None) -> Frame:
        self._ready()
        timeout = self._settings.grab_timeout_s if timeout_s is None else timeout_s
        with self._cond:
            wanted = self._wanted_seq
            if wanted is None:
                raise GrabTimeout("no software trigger before grab()", camera=self.camera_id)
            arrived = self._cond.wait_for(
                lambda: self._latest is not None and self._latest[0] >= wanted, timeout)
            if not arrived:
                self._count("timeouts")
                raise GrabTimeout(f"no frame within {timeout:.3f} s", camera=self.camera_id)
            assert self._latest is not None
            seq, image, host_ns = self._latest
            self._wanted_seq = None
        self._announce_exposure_end(self._frame_arrived(), "frame")
        if self._settings.pixel_format == "Mono8":
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        roi = self._settings.roi
        if roi is not None:
            image = np.ascontiguousarray(image[roi.y:roi.y + roi.height, roi.x:roi.x + roi.width])
        return self._deliver(image, frame_id=seq, expected=self._expected_shape(), source=self._device_id,
                             exposure_us=self._settings.exposure_us, check_id=False,
                             host_timestamp_ns=host_ns)

    def _ready(self) -> None:
        if not self._online.is_set():
            raise DeviceRemoved("no frames from the device; reopening in the background",
                                camera=self.camera_id)
        if not self._armed:
            raise CameraError("camera is not armed; call arm() first", camera=self.camera_id,
                              key="camera_not_armed")
