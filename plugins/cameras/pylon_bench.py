"""The bare pypylon software-trigger loop: the baseline ``inspection camera bench`` measures the
driver against. It does only what any pypylon program must do per frame (wait for trigger-ready,
trigger, retrieve, copy the pixels out, release) and nothing the driver adds (state and removal
checks, stale-frame draining, frame-id and size checks, the exposure-end hook, the Frame object).
The SDK module is handed in by :meth:`plugins.cameras.pylon.PylonCamera.raw_loop`, so pypylon is still
imported by one module (and this one imports nothing of the driver's).
"""

from __future__ import annotations

import time
from types import ModuleType, TracebackType
from typing import Any

import numpy as np

from inspection.camera.settings import CameraSettings
from inspection.errors import CameraNotFound


class RawPylonLoop:
    """``with RawPylonLoop(settings) as raw: seconds = raw.step()`` (one trigger-to-frame cycle).

    Uses the camera named by ``settings.serial`` (or the first emulated one) and sets only the
    features the benchmark varies: ROI size, pixel format, exposure, emulator image, trigger.
    """

    def __init__(self, settings: CameraSettings, pylon: ModuleType) -> None:
        self.settings = settings
        self.pylon = pylon
        self.cam: Any = None
        self.last_id = -1

    def __enter__(self) -> RawPylonLoop:
        pylon = self.pylon
        s = self.settings
        infos = [i for i in pylon.TlFactory.GetInstance().EnumerateDevices()
                 if (s.serial is None or i.GetSerialNumber() == s.serial)
                 and (not s.emulated or i.GetDeviceClass() == "BaslerCamEmu")]
        if not infos:
            raise CameraNotFound(f"raw loop: no camera with {s.selection}")
        cam = pylon.InstantCamera(pylon.TlFactory.GetInstance().CreateDevice(infos[0]))
        cam.Open()
        self.cam = cam
        try:
            if s.image_file is not None:
                cam.TestImageSelector.Value = "Off"
                cam.ImageFileMode.Value = "On"
                cam.ImageFilename.Value = str(s.image_file)
            cam.PixelFormat.Value = s.pixel_format
            if s.roi is not None:
                cam.Width.Value = s.roi.width
                cam.Height.Value = s.roi.height
            if s.exposure_us is not None:
                cam.ExposureTime.Value = s.exposure_us
            cam.TriggerSelector.Value = "FrameStart"
            cam.TriggerMode.Value = "On"
            cam.TriggerSource.Value = "Software"
            cam.MaxNumBuffer.Value = s.buffer_count
            cam.StartGrabbing(pylon.GrabStrategy_OneByOne, pylon.GrabLoop_ProvidedByUser)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def step(self) -> float:
        """One software trigger -> frame with its pixels copied out; returns the seconds it took."""
        pylon = self.pylon
        cam = self.cam
        t0 = time.perf_counter()
        cam.WaitForFrameTriggerReady(5000, pylon.TimeoutHandling_ThrowException)
        cam.ExecuteSoftwareTrigger()
        result = cam.RetrieveResult(5000, pylon.TimeoutHandling_ThrowException)
        try:
            with result.GetArrayZeroCopy() as view:
                pixels = np.array(view, copy=True)
            self.last_id = int(result.ID)
        finally:
            result.Release()
        elapsed = time.perf_counter() - t0
        del pixels
        return elapsed

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        cam, self.cam = self.cam, None
        if cam is None:
            return
        try:
            cam.StopGrabbing()
        finally:
            try:
                cam.Close()
            finally:
                cam.DestroyDevice()
