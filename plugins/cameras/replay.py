"""A camera that replays image files: a folder (alphabetical order) or an explicit list.

It behaves like a software-triggered camera: ``trigger()`` starts an "exposure", ``grab()`` waits
for it (plus the optional ``replay_delay_s``, a simulated exposure and transfer time) and returns the
next file as a frame. No trigger, no frame: ``grab()`` then raises :class:`GrabTimeout` like a real
camera would. At the end of the list it starts again (``replay_loop``) or raises ``replay_finished``.
A file that cannot be decoded raises :class:`ImageError` naming it; the next grab takes the next file.
Re-arming continues where the replay stopped; re-opening starts from the first file.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspection.camera.base import CameraBase
from inspection.camera.contract import CameraDevice
from inspection.camera.settings import CameraSettings, parse_camera_settings
from inspection.errors import CameraError, ConfigError, GrabTimeout, ImageError
from inspection.frame import Frame

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg", ".pgm", ".ppm")


def image_files(path: Path) -> list[Path]:
    """The images of a folder in alphabetical order, or ``[path]`` for a file."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    return [path]


def convert(image: np.ndarray, pixel_format: str, *, path: str) -> np.ndarray:
    """Bring a decoded file to the frame layout of ``pixel_format`` (grey or BGR; 8 or 16 bit)."""
    mono = pixel_format.startswith("Mono")
    wide = pixel_format in ("Mono10", "Mono12", "Mono16")
    if image.dtype != (np.uint16 if wide else np.uint8):
        raise ImageError(f"is {image.dtype}; pixel_format {pixel_format} needs "
                         f"{'16' if wide else '8'}-bit images", path=path)
    channels = 1 if image.ndim == 2 else image.shape[2]
    if mono and channels == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if mono and channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    if not mono and channels == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if not mono and channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


class ReplayCamera(CameraBase):
    """Replays ``settings.image_file`` (a file or a folder) or the ``images`` given here."""

    driver = "replay"

    def __init__(self, settings: CameraSettings | dict[str, Any], *,
                 images: Sequence[str | Path] | None = None) -> None:
        super().__init__(settings)
        self._explicit = None if images is None else [Path(p) for p in images]
        self._files: list[Path] = []
        self._pos = 0
        self._next_id = 1
        self._pending: deque[float] = deque()
        self._cond = threading.Condition()

    @staticmethod
    def list_devices() -> list[CameraDevice]:
        return []  # nothing to discover: the files are named in the settings

    def open(self) -> None:
        if self._is_open:
            return
        s = self._settings
        if s.trigger.source != "software":
            raise ConfigError("the replay camera has no trigger input; use software triggers",
                              field="trigger.source", key="camera_setting_not_supported")
        if self._explicit is not None:
            files = list(self._explicit)
            origin = f"{len(files)} listed files"
        elif s.image_file is not None:
            root = s.image_file.expanduser()
            if not root.exists():
                raise ConfigError(f"{root} does not exist", field="image_file", key="image_file_missing")
            files = image_files(root)
            origin = str(root)
        else:
            raise ConfigError("the replay camera needs image_file (a file or a folder)", field="image_file",
                              key="image_file_missing")
        if not files:
            raise ConfigError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {origin}", field="image_file",
                              key="image_file_missing")
        self._files = files
        self._pos = 0
        self._device_id = f"replay:{s.image_file.name if s.image_file is not None else 'list'}"
        self._is_open = True
        logger.info("camera %s: replaying %d image(s) from %s", self.camera_id, len(files), origin)

    def close(self) -> None:
        self.disarm()
        self._is_open = False

    def configure(self, settings: CameraSettings | dict[str, Any]) -> None:
        new = parse_camera_settings(settings)
        was_open, was_armed = self._is_open, self._armed
        self.close()
        self._settings = new
        if was_open:
            self.open()
        if was_armed:
            self.arm()

    def arm(self) -> None:
        self._require(open_=True)
        with self._cond:
            self._pending.clear()
            self._start_sequence()
            self._armed = True

    def disarm(self) -> None:
        with self._cond:
            self._armed = False
            self._pending.clear()
            self._cond.notify_all()

    def trigger(self) -> None:
        self._require(open_=True, armed=True)
        with self._cond:
            stale = len(self._pending)
            self._pending.clear()
        for _ in range(stale):  # frames of earlier triggers nobody grabbed: they used their files
            self._count("stale")
            self._next_file()
        if stale:
            logger.warning("camera %s: discarded %d frame(s) waiting before the trigger", self.camera_id,
                           stale)
        with self._cond:
            self._pending.append(time.monotonic())
            self._cond.notify_all()

    def grab(self, timeout_s: float | None = None) -> Frame:
        self._require(open_=True, armed=True)
        timeout = self._settings.grab_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._pending) or not self._armed, timeout):
                self._count("timeouts")
                raise GrabTimeout(f"no frame within {timeout:.3f} s: no software trigger",
                                  camera=self.camera_id)
            if not self._armed:
                raise CameraError("disarmed while waiting for a frame", camera=self.camera_id,
                                  key="camera_not_armed")
            ready_at = self._pending[0] + self._settings.replay_delay_s
            if ready_at > deadline:  # the simulated camera is slower than the timeout
                self._cond.wait(max(0.0, deadline - time.monotonic()))
                self._count("timeouts")
                raise GrabTimeout(f"no frame within {timeout:.3f} s (replay_delay_s "
                                  f"{self._settings.replay_delay_s} s)", camera=self.camera_id)
            self._pending.popleft()
        time.sleep(max(0.0, ready_at - time.monotonic()))
        index = self._frame_arrived()
        self._announce_exposure_end(index, "frame")
        return self._next_file()

    def _next_file(self) -> Frame:
        if self._pos >= len(self._files):
            if not self._settings.replay_loop:
                raise CameraError(f"all {len(self._files)} image(s) replayed (replay_loop is off)",
                                  camera=self.camera_id, key="replay_finished")
            self._pos = 0
        path = self._files[self._pos]
        self._pos += 1
        frame_id, self._next_id = self._next_id, self._next_id + 1
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        try:
            if image is None:
                raise ImageError("cannot be read (missing, corrupt, truncated or not an image)",
                                 path=str(path))
            pixels = convert(image, self._settings.pixel_format, path=str(path))
        except ImageError:
            self._check_frame_id(frame_id)
            self._count("incomplete")
            raise
        roi = self._settings.roi
        if roi is not None:
            pixels = pixels[roi.y:roi.y + roi.height, roi.x:roi.x + roi.width]
        fmt = self._settings.pixel_format if self._settings.is_mono else "BGR8"
        return self._deliver(np.ascontiguousarray(pixels), frame_id=frame_id, expected=self._expected_shape(),
                             source=str(path), exposure_us=self._settings.exposure_us, pixel_format=fmt)

    def _require(self, *, open_: bool = False, armed: bool = False) -> None:
        if open_ and not self._is_open:
            raise CameraError("camera is not open; call open() first", camera=self.camera_id,
                              key="camera_not_open")
        if armed and not self._armed:
            raise CameraError("camera is not armed; call arm() first", camera=self.camera_id,
                              key="camera_not_armed")
