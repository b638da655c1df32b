"""Writing CameraSettings to a Basler node map, and turning grab buffers into frame pixels.

No pypylon import here: the functions take the node map and the genicam exception base class from
:mod:`plugins.cameras.pylon`, the one module that imports the SDK. Feature names differ between
camera families (ace GigE ``ExposureTimeAbs``, ace USB / ace 2 ``ExposureTime``), so each setting
lists its alternatives and the first one the camera has is written.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspection.camera.settings import CameraSettings, Roi
from inspection.errors import ConfigError
from plugins.cameras.replay import image_files

logger = logging.getLogger(__name__)

# settings name -> device names, first available wins
_PIXEL_FORMATS = {"RGB8": ("RGB8", "RGB8Packed"), "BGR8": ("BGR8", "BGR8Packed")}
# Basler names the Bayer pattern by its first row, OpenCV by its second: RG on the sensor is BG here.
_BAYER_TO_BGR = {
    "BayerRG8": cv2.COLOR_BayerBG2BGR, "BayerGR8": cv2.COLOR_BayerGB2BGR,
    "BayerGB8": cv2.COLOR_BayerGR2BGR, "BayerBG8": cv2.COLOR_BayerRG2BGR,
}


def _param(nodemap: Any, names: tuple[str, ...]) -> tuple[str, Any] | None:
    for name in names:
        node = nodemap.GetNode(name)
        if node.IsValid() and node.IsWritable():
            return name, node
    return None


def write(nodemap: Any, names: tuple[str, ...], value: object, *, field: str,
          generic_error: type[BaseException], required: bool = True) -> str | None:
    """Write ``value`` to the first writable feature in ``names``; returns the name written.

    A missing feature is a ConfigError ``camera_setting_not_supported`` (or None when not
    ``required``); a value the camera refuses is ``camera_setting_rejected`` with the SDK's text.
    """
    found = _param(nodemap, names)
    if found is None:
        if required:
            raise ConfigError(f"the camera has no writable {' / '.join(names)}", field=field,
                              key="camera_setting_not_supported")
        return None
    name, node = found
    try:
        node.Value = value
    except generic_error as exc:
        text = str(exc).split(" : ")[0]
        raise ConfigError(f"{name}={value!r} rejected by the camera: {text}", field=field,
                          key="camera_setting_rejected") from exc
    return name


def read(nodemap: Any, names: tuple[str, ...], default: Any = None) -> Any:
    for name in names:
        node = nodemap.GetNode(name)
        if node.IsValid() and node.IsReadable():
            return node.Value
    return default


def image_size(path: Path) -> tuple[int, int] | None:
    """(height, width) of an image file, or of the first image (alphabetically) in a folder."""
    files = image_files(path)
    if not files:
        return None
    img = cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED)
    return None if img is None else (int(img.shape[0]), int(img.shape[1]))


def apply_settings(nodemap: Any, settings: CameraSettings, *, emulated: bool,
                   generic_error: type[BaseException]) -> None:
    """Write ``settings`` to an open camera that is not grabbing, in the order the features depend
    on each other (trigger off, image source, pixel format, ROI, exposure, gain, rate, trigger)."""
    w = write
    ge = generic_error
    w(nodemap, ("TriggerSelector",), "FrameStart", field="trigger", generic_error=ge, required=False)
    w(nodemap, ("TriggerMode",), "Off", field="trigger", generic_error=ge, required=False)
    roi = settings.roi
    if settings.image_file is not None:
        if not emulated:
            raise ConfigError("image_file works only with the pylon camera emulator (emulated: true)",
                              field="image_file", key="bad_camera_setting")
        path = settings.image_file.expanduser().resolve()
        if not path.exists():
            raise ConfigError(f"{path} does not exist", field="image_file", key="image_file_missing")
        w(nodemap, ("TestImageSelector",), "Off", field="image_file", generic_error=ge)
        w(nodemap, ("ImageFileMode",), "On", field="image_file", generic_error=ge)
        w(nodemap, ("ImageFilename",), str(path), field="image_file", generic_error=ge)
        if roi is None:  # serve the files at their own size, not the emulator's default ROI
            size = image_size(path)
            if size is None:
                raise ConfigError(f"{path} holds no readable image", field="image_file", key="bad_image")
            roi = Roi(x=0, y=0, width=size[1], height=size[0])
    elif emulated:
        w(nodemap, ("ImageFileMode",), "Off", field="image_file", generic_error=ge, required=False)
    names = _PIXEL_FORMATS.get(settings.pixel_format, (settings.pixel_format,))
    pf = nodemap.GetNode("PixelFormat")
    available = tuple(pf.Symbolics) if pf.IsValid() else ()
    chosen = next((n for n in names if n in available), None)
    if chosen is None:
        raise ConfigError(f"the camera cannot deliver {settings.pixel_format}; it offers "
                          f"{', '.join(available) or 'nothing'}", field="pixel_format",
                          key="camera_setting_not_supported")
    w(nodemap, ("PixelFormat",), chosen, field="pixel_format", generic_error=ge)
    if roi is not None:
        w(nodemap, ("OffsetX",), 0, field="roi.x", generic_error=ge, required=False)
        w(nodemap, ("OffsetY",), 0, field="roi.y", generic_error=ge, required=False)
        w(nodemap, ("Width",), roi.width, field="roi.width", generic_error=ge)
        w(nodemap, ("Height",), roi.height, field="roi.height", generic_error=ge)
        if roi.x:
            w(nodemap, ("OffsetX",), roi.x, field="roi.x", generic_error=ge)
        if roi.y:
            w(nodemap, ("OffsetY",), roi.y, field="roi.y", generic_error=ge)
    if settings.exposure_us is not None:
        w(nodemap, ("ExposureAuto",), "Off", field="exposure_us", generic_error=ge, required=False)
        w(nodemap, ("ExposureTime", "ExposureTimeAbs"), settings.exposure_us, field="exposure_us",
          generic_error=ge)
    if settings.gain_db is not None:
        w(nodemap, ("GainAuto",), "Off", field="gain_db", generic_error=ge, required=False)
        w(nodemap, ("Gain", "GainAbs"), settings.gain_db, field="gain_db", generic_error=ge)
    if settings.frame_rate_hz is not None:
        w(nodemap, ("AcquisitionFrameRateEnable",), True, field="frame_rate_hz", generic_error=ge)
        w(nodemap, ("AcquisitionFrameRate", "AcquisitionFrameRateAbs"), settings.frame_rate_hz,
          field="frame_rate_hz", generic_error=ge)
    _apply_trigger(nodemap, settings, ge)
    # Exposure-end events where the camera has them (optional: the frame's arrival is the fallback).
    if write(nodemap, ("EventSelector",), "ExposureEnd", field="events", generic_error=ge, required=False):
        write(nodemap, ("EventNotification",), "On", field="events", generic_error=ge, required=False)
    for name, value in settings.features.items():
        w(nodemap, (name,), value, field=f"features.{name}", generic_error=ge)


def _apply_trigger(nodemap: Any, settings: CameraSettings, ge: type[BaseException]) -> None:
    trig = settings.trigger
    w = write
    w(nodemap, ("TriggerSelector",), "FrameStart", field="trigger", generic_error=ge)
    w(nodemap, ("TriggerMode",), "On", field="trigger", generic_error=ge)
    if trig.source == "software":
        w(nodemap, ("TriggerSource",), "Software", field="trigger.source", generic_error=ge)
    else:
        w(nodemap, ("TriggerSource",), trig.line, field="trigger.line", generic_error=ge)
        w(nodemap, ("TriggerActivation",), "RisingEdge" if trig.edge == "rising" else "FallingEdge",
          field="trigger.edge", generic_error=ge)
        w(nodemap, ("LineSelector",), trig.line, field="trigger.line", generic_error=ge, required=False)
        w(nodemap, ("LineMode",), "Input", field="trigger.line", generic_error=ge, required=False)
        if trig.debounce_us > 0:
            w(nodemap, ("LineDebouncerTime", "LineDebouncerTimeAbs"), trig.debounce_us,
              field="trigger.debounce_us", generic_error=ge)
    if trig.delay_us > 0:
        w(nodemap, ("TriggerDelay", "TriggerDelayAbs"), trig.delay_us, field="trigger.delay_us",
          generic_error=ge)


def to_pixels(view: np.ndarray, device_format: str) -> tuple[np.ndarray, str]:
    """Copy a (zero-copy) buffer view into frame pixels: mono as is, RGB and Bayer to BGR.
    Returns the pixels and the frame's pixel format name."""
    if device_format in _BAYER_TO_BGR:
        return cv2.cvtColor(view, _BAYER_TO_BGR[device_format]), "BGR8"
    if device_format in ("RGB8", "RGB8Packed"):
        return cv2.cvtColor(view, cv2.COLOR_RGB2BGR), "BGR8"
    if device_format in ("BGR8", "BGR8Packed"):
        return np.array(view, copy=True), "BGR8"
    return np.array(view, copy=True), device_format
