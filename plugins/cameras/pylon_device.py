"""An opened pylon InstantCamera with its event handlers, and device enumeration.

No pypylon import here: the ``pylon`` and ``genicam`` modules come from
:func:`plugins.cameras.pylon.sdk`, the one module that imports the SDK.

pylon does not own the event handlers (``Cleanup_None``): a handler freed while the camera still
holds it crashes the process when the camera is destroyed (seen on reconnection). So each
:class:`PylonDevice` keeps its handlers and deregisters them before ``DestroyDevice``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from inspection.camera.contract import CameraDevice
from inspection.errors import CameraError

logger = logging.getLogger(__name__)

EMULATED_CLASS = "BaslerCamEmu"
# GigE / emulator name first, then the SFNC 2 (USB3, ace 2) and the old GigE names.
EXPOSURE_END_NODES = ("EventExposureEndData", "EventExposureEnd", "ExposureEndEventData")


def short(exc: BaseException) -> str:
    """The human part of a GenICam exception text (without file and line)."""
    return str(exc).split(" : ")[0].strip()


def enumerate_devices(pylon: ModuleType, genicam: ModuleType) -> list[tuple[CameraDevice, Any]]:
    """All devices pylon sees (emulated ones when PYLON_CAMEMU is set), with their DeviceInfo."""
    try:
        infos = pylon.TlFactory.GetInstance().EnumerateDevices()
    except genicam.GenericException as exc:
        raise CameraError(f"device enumeration failed: {short(exc)}", key="enumeration_failed") from exc
    out = []
    for info in infos:
        cls = info.GetDeviceClass()
        address = info.GetIpAddress() if info.IsIpAddressAvailable() else ""
        out.append((CameraDevice(driver="pylon", serial=info.GetSerialNumber(), model=info.GetModelName(),
                                 user_id=info.GetUserDefinedName(), interface=cls, address=address,
                                 emulated=cls == EMULATED_CLASS), info))
    return out


@dataclass
class PylonDevice:
    """An InstantCamera plus the handlers registered on it."""

    cam: Any
    removal: Any
    exposure_end: tuple[Any, str] | None = None

    @classmethod
    def open(cls, pylon: ModuleType, info: Any, on_removed: Callable[[], None]) -> PylonDevice:
        """Create the camera for ``info`` (an enumerated DeviceInfo, never one built by chained
        setters: that crashes pylon), register the removal callback, enable camera events, open.
        GenICam errors propagate; the caller destroys the device on failure."""

        class RemovalHandler(pylon.ConfigurationEventHandler):  # type: ignore[name-defined]
            def OnCameraDeviceRemoved(self, camera: Any) -> None:
                on_removed()

        dev = cls(pylon.InstantCamera(pylon.TlFactory.GetInstance().CreateDevice(info)), RemovalHandler())
        dev.cam.GrabCameraEvents.Value = True
        dev.cam.RegisterConfiguration(dev.removal, pylon.RegistrationMode_Append, pylon.Cleanup_None)
        dev.cam.Open()
        return dev

    def watch_exposure_end(self, pylon: ModuleType, on_event: Callable[[], None]) -> bool:
        """Call ``on_event`` for each ExposureEnd event the camera sends (once per device);
        False when the camera has no such event."""
        if self.exposure_end is not None:
            return True
        nodemap = self.cam.GetNodeMap()
        node = next((n for n in EXPOSURE_END_NODES if nodemap.GetNode(n).IsValid()), None)
        if node is None:
            return False

        class ExposureEndHandler(pylon.CameraEventHandler):  # type: ignore[name-defined]
            def OnCameraEvent(self, camera: Any, user_id: int, node: Any) -> None:
                on_event()

        handler = ExposureEndHandler()
        self.cam.RegisterCameraEventHandler(handler, node, 1, pylon.RegistrationMode_Append,
                                            pylon.Cleanup_None)
        self.exposure_end = (handler, node)
        return True

    def destroy(self, genicam: ModuleType) -> None:
        """StopGrabbing, Close, deregister and DestroyDevice, each attempted whatever the others did."""
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
                logger.debug("%s during teardown: %s", name, short(exc))
