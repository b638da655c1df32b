"""The camera contract, the camera registry and device selection.

A station uses a camera like this (the same for a Basler camera, the pylon emulator, a folder of
images or a USB camera)::

    camera = create_camera(CameraSettings(driver="pylon", emulated=True, image_file=folder))
    with camera:                      # open() + apply the settings; close() on exit, always
        camera.arm()                  # start acquisition, waiting for triggers
        for part in parts:
            camera.trigger()          # software trigger (hardware triggers need no call)
            frame = camera.grab(2.0)  # -> Frame, or GrabTimeout / IncompleteFrame / DeviceRemoved

Drivers are found by name through :data:`cameras`, a lazy registry plus the entry-point group
``inspection.cameras``: a third-party package adds a driver with
``[project.entry-points."inspection.cameras"] mycam = "mypkg.camera:MyCamera"``. A driver is a
class (or factory) called with :class:`CameraSettings` that returns a :class:`Camera`; it may offer
a ``list_devices()`` static method used by ``inspection camera list``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Protocol, runtime_checkable

from inspection.camera.settings import CameraSettings, parse_camera_settings
from inspection.errors import CameraNotFound, InspectionError
from inspection.frame import Frame
from inspection.registry import Registry

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraDevice:
    """One device a driver can open, as listed by ``inspection camera list``."""

    driver: str
    serial: str
    model: str = ""
    user_id: str = ""
    interface: str = ""
    address: str = ""
    emulated: bool = False

    def to_dict(self) -> dict[str, object]:
        return {"driver": self.driver, "serial": self.serial, "model": self.model, "user_id": self.user_id,
                "interface": self.interface, "address": self.address, "emulated": self.emulated}


@dataclass(frozen=True)
class ExposureEnd:
    """The sensor finished exposing a frame: the part may move (PLC ACQ_ACTIVE falls).

    ``source`` is "event" when the camera reported it (before the image was transferred) and
    "frame" when it is inferred from the frame's arrival (cameras or drivers without the event).
    ``frame_index`` counts the frames since ``arm()``, from 1.
    """

    camera_id: str
    frame_index: int
    host_timestamp_ns: int
    source: Literal["event", "frame"]


ExposureEndHook = Callable[[ExposureEnd], None]


@runtime_checkable
class Camera(Protocol):
    """What the station needs from a camera. Every failure is a typed error from
    :mod:`inspection.errors` (CameraError and subclasses, ImageError, ConfigError)."""

    @property
    def camera_id(self) -> str:
        """Serial number, device path or station name; set on frames and errors."""
        ...

    @property
    def settings(self) -> CameraSettings: ...

    @property
    def is_open(self) -> bool: ...

    @property
    def armed(self) -> bool: ...

    def open(self) -> None:
        """Connect to the device and apply the settings. Idempotent."""
        ...

    def close(self) -> None:
        """Stop acquisition and release the device, whatever state it is in. Idempotent."""
        ...

    def configure(self, settings: CameraSettings) -> None:
        """Apply new settings (to the device at once when open; re-arms if it was armed)."""
        ...

    def arm(self) -> None:
        """Start acquisition; from now on each trigger produces exactly one frame."""
        ...

    def disarm(self) -> None:
        """Stop acquisition and drop frames not yet grabbed. Idempotent."""
        ...

    def trigger(self) -> None:
        """Fire a software trigger (frames older than the trigger are discarded first)."""
        ...

    def grab(self, timeout_s: float | None = None) -> Frame:
        """The next frame, waiting at most ``timeout_s`` (default: ``settings.grab_timeout_s``)."""
        ...

    def set_exposure_end_hook(self, hook: ExposureEndHook | None) -> None:
        """Call ``hook`` once per frame when its exposure has ended (see :class:`ExposureEnd`)."""
        ...

    def __enter__(self) -> Camera: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...


cameras: Registry[Camera] = Registry("camera driver", "inspection.cameras")
cameras.register("pylon", "plugins.cameras.pylon:PylonCamera")
cameras.register("replay", "plugins.cameras.replay:ReplayCamera")
cameras.register("usb", "plugins.cameras.usb:UsbCamera")


def create_camera(settings: CameraSettings | dict[str, object], *,
                  registry: Registry[Camera] = cameras) -> Camera:
    """A camera (not yet opened) for ``settings``, built by the driver named in ``settings.driver``."""
    parsed = parse_camera_settings(settings)
    return registry.create(parsed.driver, parsed)


def list_devices(drivers: Sequence[str] | None = None, *, registry: Registry[Camera] = cameras,
                 ) -> dict[str, list[CameraDevice] | InspectionError]:
    """Devices per driver. A driver that cannot list (SDK missing, enumeration failed) maps to the
    typed error instead, so one broken driver does not hide the others."""
    out: dict[str, list[CameraDevice] | InspectionError] = {}
    for name in drivers if drivers is not None else registry.names():
        try:
            factory = registry.get(name)
            lister = getattr(factory, "list_devices", None)
            out[name] = list(lister()) if callable(lister) else []
        except InspectionError as exc:
            out[name] = exc
    return out


def select_device(devices: Sequence[CameraDevice], *, serial: str | None = None,
                  user_id: str | None = None, index: int | None = None, emulated: bool = False,
                  camera: str | None = None) -> CameraDevice:
    """The device matching the selection, or :class:`CameraNotFound` listing what was found.

    ``emulated`` restricts the candidates to emulated devices; ``index`` counts among the
    candidates in enumeration order; no selection picks the first candidate."""
    candidates = [d for d in devices if d.emulated] if emulated else list(devices)
    found: CameraDevice | None = None
    if serial is not None:
        found = next((d for d in candidates if d.serial == serial), None)
        wanted = f"serial {serial}"
    elif user_id is not None:
        matches = [d for d in candidates if d.user_id == user_id]
        if len(matches) > 1:
            raise CameraNotFound(f"user id {user_id!r} is not unique: serials "
                                 f"{', '.join(d.serial for d in matches)}", camera=camera)
        found = matches[0] if matches else None
        wanted = f"user id {user_id!r}"
    elif index is not None:
        found = candidates[index] if index < len(candidates) else None
        wanted = f"index {index}"
    else:
        found = candidates[0] if candidates else None
        wanted = "any device"
    if found is None:
        kind = "emulated " if emulated else ""
        listing = "; ".join(f"{d.serial} ({d.model}{', user id ' + repr(d.user_id) if d.user_id else ''})"
                            for d in candidates) or "none"
        raise CameraNotFound(f"no {kind}camera with {wanted}; found: {listing}", camera=camera)
    return found
