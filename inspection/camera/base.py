"""What every camera driver shares: settings, context manager, exposure-end hook, frame-id checks,
counters. Drivers (``plugins/cameras/*``, third-party ones too) subclass :class:`CameraBase` and
implement open/close/configure/arm/disarm/trigger/grab.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import numpy as np

from inspection.camera.contract import ExposureEnd, ExposureEndHook
from inspection.camera.settings import CameraSettings, parse_camera_settings
from inspection.frame import Frame, FrameSizeMismatch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraStats:
    """Counters since the camera object was created."""

    frames: int = 0
    timeouts: int = 0
    incomplete: int = 0
    lost: int = 0  # frame ids skipped: frames the device made that never arrived
    out_of_order: int = 0  # a frame id not above the previous one (duplicate or counter reset)
    stale: int = 0  # frames found waiting before a trigger and discarded
    reconnects: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class CameraBase:
    """Shared state and helpers; see :class:`inspection.camera.contract.Camera` for the contract."""

    driver = "base"

    def __init__(self, settings: CameraSettings | dict[str, Any]) -> None:
        self._settings = parse_camera_settings(settings)
        self._device_id = ""
        self._is_open = False
        self._armed = False
        self._hook: ExposureEndHook | None = None
        self._hook_lock = threading.Lock()
        self._counts: dict[str, int] = dict.fromkeys(CameraStats().to_dict(), 0)
        self._last_frame_id: int | None = None
        self._frames_since_arm = 0
        self._announced = 0
        self._online = threading.Event()
        self._online.set()

    # -- contract properties -------------------------------------------------------------------
    @property
    def camera_id(self) -> str:
        return self._settings.name or self._device_id or self._settings.driver

    @property
    def settings(self) -> CameraSettings:
        return self._settings

    @property
    def is_open(self) -> bool:
        return self._is_open

    @property
    def armed(self) -> bool:
        return self._armed

    def stats(self) -> CameraStats:
        return CameraStats(**self._counts)

    def wait_online(self, timeout_s: float) -> bool:
        """True once the device is usable (immediately unless a reconnection is running)."""
        return self._online.wait(timeout_s)

    def set_exposure_end_hook(self, hook: ExposureEndHook | None) -> None:
        with self._hook_lock:
            self._hook = hook

    # -- context manager -----------------------------------------------------------------------
    def open(self) -> None:  # pragma: no cover - drivers implement it
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - drivers implement it
        raise NotImplementedError

    def __enter__(self) -> CameraBase:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "armed" if self._armed else "open" if self._is_open else "closed"
        return f"<{type(self).__name__} {self.camera_id} {state}>"

    # -- helpers for drivers -------------------------------------------------------------------
    def _count(self, what: str, n: int = 1) -> None:
        self._counts[what] += n

    def _start_sequence(self) -> None:
        """Call at arm(): frame indices (for exposure-end) and frame-id checks start again."""
        with self._hook_lock:
            self._frames_since_arm = 0
            self._announced = 0
        self._last_frame_id = None

    def _frame_arrived(self) -> int:
        """Count a frame (good, incomplete or stale); returns its index since arm()."""
        with self._hook_lock:
            self._frames_since_arm += 1
            return self._frames_since_arm

    def _frames_seen(self) -> int:
        """Frames (good, incomplete or stale) counted since arm()."""
        return self._frames_since_arm

    def _skip_frames(self, n: int) -> None:
        """Count ``n`` frames that will never arrive, keeping frame indices aligned with triggers."""
        with self._hook_lock:
            self._frames_since_arm += n

    def _announce_exposure_end(self, index: int, source: Literal["event", "frame"]) -> None:
        """Call the hook once for frame ``index``; a later or repeated announcement is ignored.

        Never early: an event is only counted against a frame not yet delivered, and events can be
        lost but not invented, so event k always means "frame k or a later one ended exposure".
        """
        with self._hook_lock:
            if index <= self._announced:
                return
            if source == "event" and index <= self._frames_since_arm:
                return  # the frame is already in and was (or will be) announced by grab()
            self._announced = index
            hook = self._hook
        if hook is None:
            return
        try:
            hook(ExposureEnd(self.camera_id, index, time.time_ns(), source))
        except Exception:
            logger.exception("camera %s: exposure-end hook failed (frame %d)", self.camera_id, index)

    def _check_frame_id(self, frame_id: int) -> None:
        """Count lost and out-of-order frame ids (GigE 16-bit block ids wrap from 65535 to 1)."""
        last = self._last_frame_id
        self._last_frame_id = frame_id
        if last is None or frame_id == last + 1 or (last == 65535 and frame_id == 1):
            return
        if frame_id > last + 1:
            lost = frame_id - last - 1
            self._count("lost", lost)
            logger.warning("camera %s: %d frame(s) lost between frame ids %d and %d", self.camera_id,
                           lost, last, frame_id)
        else:
            self._count("out_of_order")
            logger.warning("camera %s: frame id %d after %d (duplicate or counter reset)", self.camera_id,
                           frame_id, last)

    def _expected_shape(self) -> tuple[int, int] | None:
        roi = self._settings.roi
        return roi.shape if roi is not None else None

    def _deliver(self, pixels: np.ndarray, *, frame_id: int, expected: tuple[int, int] | None,
                 source: str, device_timestamp_ns: int | None = None, exposure_us: float | None = None,
                 pixel_format: str | None = None, host_timestamp_ns: int | None = None,
                 check_id: bool = True) -> Frame:
        """Build the frame, check its size against ``expected`` and count it. A size mismatch
        raises :class:`FrameSizeMismatch` carrying the frame marked incomplete. ``check_id``
        counts gaps in the frame ids as lost frames (off for free-running streams)."""
        shape = (int(pixels.shape[0]), int(pixels.shape[1]))
        whole = expected is None or shape == expected
        frame = Frame(pixels, camera_id=self.camera_id, frame_id=frame_id,
                      device_timestamp_ns=device_timestamp_ns, exposure_us=exposure_us,
                      pixel_format=pixel_format or self._settings.pixel_format, complete=whole,
                      source=source, host_timestamp_ns=host_timestamp_ns or time.time_ns())
        if check_id:
            self._check_frame_id(frame_id)
        if not whole:
            assert expected is not None
            self._count("incomplete")
            raise FrameSizeMismatch("frame is not the configured size", expected=expected, actual=shape,
                                    camera=self.camera_id, frame=frame)
        self._count("frames")
        return frame
