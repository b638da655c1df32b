"""Frames: the pixels of one acquisition and what is known about how they were taken."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from inspection.errors import CameraError, ImageError

_ALLOWED_DTYPES = (np.uint8, np.uint16)


def check_image(pixels: object, *, what: str = "image") -> np.ndarray:
    """Return ``pixels`` as a validated image array or raise :class:`ImageError`.

    Accepted: a non-empty 2-D (grey) or 3-D with 3 channels (BGR colour) array of uint8 or uint16.
    Anything else (float images, NaN, empty arrays, 4 channels, objects) is refused with a message
    that says what was received, never coerced silently.
    """
    if not isinstance(pixels, np.ndarray):
        raise ImageError(f"{what} must be a numpy array, got {type(pixels).__name__}")
    if pixels.size == 0:
        raise ImageError(f"{what} is empty (shape {pixels.shape})")
    if pixels.dtype not in _ALLOWED_DTYPES:
        raise ImageError(f"{what} has dtype {pixels.dtype}; expected uint8 or uint16")
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.ndim == 2:
        return pixels
    if pixels.ndim == 3 and pixels.shape[2] == 3:
        return pixels
    raise ImageError(f"{what} has shape {pixels.shape}; expected HxW grey or HxWx3 colour")


@dataclass(frozen=True)
class Frame:
    """One image from a camera (or a file), with its acquisition metadata.

    ``pixels`` is owned by the frame (copied out of any vendor buffer) and must not be mutated.
    ``complete`` is False when the camera delivered a partial buffer; such a frame is never
    inspected as if it were whole.
    """

    pixels: np.ndarray
    camera_id: str = ""
    frame_id: int = -1
    device_timestamp_ns: int | None = None
    host_timestamp_ns: int = field(default_factory=time.time_ns)
    exposure_us: float | None = None
    pixel_format: str = "Mono8"
    complete: bool = True
    source: str = ""

    def __post_init__(self) -> None:
        pixels = check_image(self.pixels, what="frame")
        if pixels is not self.pixels:
            object.__setattr__(self, "pixels", pixels)
        self.pixels.setflags(write=False)

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return int(self.pixels.shape[0]), int(self.pixels.shape[1])

    @property
    def is_colour(self) -> bool:
        return self.pixels.ndim == 3


# Camera errors that carry a frame live beside Frame (inspection.errors stays free of image types).
class IncompleteFrame(CameraError):
    """A frame arrived but is incomplete or failed (lost packets, buffer underrun).

    ``frame`` holds what did arrive (marked ``complete=False``) when there is something to show.
    """

    key = "incomplete_frame"

    def __init__(
        self,
        message: str,
        *,
        camera: str | None = None,
        code: int | None = None,
        key: str | None = None,
        frame: Frame | None = None,
    ) -> None:
        super().__init__(message, camera=camera, code=code, key=key)
        self.frame = frame


class FrameSizeMismatch(IncompleteFrame):
    """A frame arrived whole but not at the configured size (e.g. an emulator file smaller than the
    ROI): it is not the image that was asked for, so it is never inspected as if it were."""

    key = "frame_size_mismatch"

    def __init__(
        self,
        message: str,
        *,
        expected: tuple[int, int],
        actual: tuple[int, int],
        camera: str | None = None,
        frame: Frame | None = None,
    ) -> None:
        super().__init__(f"{message}: expected {expected[1]}x{expected[0]} (WxH), got "
                         f"{actual[1]}x{actual[0]}", camera=camera, frame=frame)
        self.expected = expected
        self.actual = actual
