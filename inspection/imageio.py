"""Reading and normalising images, with typed errors for everything that can be wrong with them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from inspection.errors import ImageError
from inspection.frame import check_image

_JPEG_SOI = b"\xff\xd8"
_JPEG_EOI = b"\xff\xd9"
_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"IEND\xaeB`\x82"


def _check_complete(data: bytes, path: str) -> None:
    """Refuse truncated JPEG/PNG files, which OpenCV would decode partially without an error."""
    if data.startswith(_JPEG_SOI):
        tail = data.rstrip(b"\x00")[-2:]
        if tail != _JPEG_EOI:
            raise ImageError("JPEG file is truncated (no end-of-image marker)", path=path,
                             key="truncated_image")
    elif data.startswith(_PNG_SIG) and not data.rstrip(b"\x00").endswith(_PNG_IEND):
        raise ImageError("PNG file is truncated (no IEND chunk)", path=path, key="truncated_image")


def decode_image(data: bytes, *, grey: bool = True, path: str = "<bytes>") -> np.ndarray:
    """Decode an encoded image (PNG, JPEG, BMP, TIFF...) held in memory."""
    if not data:
        raise ImageError("file is empty", path=path, key="empty_image")
    _check_complete(data, path)
    flags = cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_UNCHANGED
    buf = np.frombuffer(data, dtype=np.uint8)
    img = cv2.imdecode(buf, flags | cv2.IMREAD_ANYDEPTH)
    if img is None:
        raise ImageError("not a readable image (corrupt or unsupported format)", path=path,
                         key="corrupt_image")
    return check_image(img, what=path)


def read_image(path: str | Path, *, grey: bool = True) -> np.ndarray:
    """Read an image file; grey by default. Raises :class:`ImageError` with the path on failure."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError as exc:
        raise ImageError("file not found", path=str(p), key="image_not_found") from exc
    except IsADirectoryError as exc:
        raise ImageError("is a directory, not an image file", path=str(p)) from exc
    except OSError as exc:
        raise ImageError(f"cannot read file: {exc.strerror}", path=str(p)) from exc
    return decode_image(data, grey=grey, path=str(p))


def percentiles8(image: np.ndarray, qs: tuple[float, ...], *, step: int = 2) -> tuple[float, ...]:
    """Percentiles (0..100) of a uint8 image from its histogram (every ``step``-th pixel): much
    faster than ``np.percentile`` on a full frame."""
    hist = np.bincount(image[::step, ::step].ravel(), minlength=256)
    cdf = np.cumsum(hist) / max(1, int(hist.sum()))
    return tuple(float(np.searchsorted(cdf, q / 100.0)) for q in qs)


def to_grey8(image: np.ndarray, *, what: str = "image") -> np.ndarray:
    """Validated 8-bit grey view of an image: colour is converted (BGR), 16-bit is scaled by its
    bit depth (``>> 8``), 8-bit grey is returned as is (no copy)."""
    img = check_image(image, what=what)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    return np.ascontiguousarray(img)
