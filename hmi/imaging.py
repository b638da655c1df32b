"""Images for the browser: JPEG encoding (scaled, optionally with overlays) and a small LRU cache,
so several panels showing the same part cost one encode."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import cv2
import numpy as np

from inspection.errors import ImageError
from inspection.frame import check_image
from inspection.vision.heatmap import colourise
from inspection.vision.overlay import draw_overlay, to_bgr8


def encode_jpeg(image: np.ndarray, *, max_width: int | None = None, quality: int = 85,
                shapes: list[dict[str, object]] | None = None, labels: bool = True,
                verdict: str | None = None) -> bytes:
    """JPEG bytes of ``image`` scaled down to ``max_width``, with ``shapes`` (image coordinates)
    drawn on the scaled image so lines stay visible. Grey images stay grey unless overlays are drawn."""
    img = check_image(image)
    if img.dtype != np.uint8:
        img = to_bgr8(img)
    h, w = img.shape[:2]
    if max_width is not None and w > max_width:
        scale = max_width / w
        img = cv2.resize(img, (max_width, max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        if shapes is not None:
            shapes = [{**s, "points": [[x * scale, y * scale] for x, y in s["points"]]}  # type: ignore[attr-defined]
                      for s in shapes]
    if shapes is not None:
        img = draw_overlay(img, shapes, verdict=verdict, labels=labels)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ImageError("cannot encode JPEG")
    return buf.tobytes()


def heat_jpeg(image: np.ndarray, levels: np.ndarray, *, max_width: int | None = None,
              quality: int = 85) -> bytes:
    """JPEG bytes of a heat map's ``levels`` (uint8, threshold at 128, any size) coloured over
    ``image`` scaled down to ``max_width`` (the map is scaled to the image)."""
    img = to_bgr8(image)
    h, w = img.shape[:2]
    if max_width is not None and w > max_width:
        img = cv2.resize(img, (max_width, max(1, round(h * max_width / w))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", colourise(img, levels), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ImageError("cannot encode JPEG")
    return buf.tobytes()


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header of a PNG, JPEG, BMP or TIFF file, without decoding it;
    None when the header is not one of those or is cut short."""
    import struct

    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            w, h = struct.unpack(">II", data[16:24])
            return int(w), int(h)
        if data[:2] == b"BM" and len(data) >= 26:
            w, h = struct.unpack("<ii", data[18:26])
            return abs(int(w)), abs(int(h))
        if data[:2] == b"\xff\xd8":
            i = 2
            while i + 9 < len(data):
                if data[i] != 0xFF:
                    return None
                marker = data[i + 1]
                if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                    i += 2
                    continue
                (seg,) = struct.unpack(">H", data[i + 2:i + 4])
                if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                    h, w = struct.unpack(">HH", data[i + 5:i + 9])
                    return int(w), int(h)
                i += 2 + seg
            return None
        if data[:4] in (b"II*\x00", b"MM\x00*"):
            e = "<" if data[:2] == b"II" else ">"
            (ifd,) = struct.unpack(e + "I", data[4:8])
            (n,) = struct.unpack(e + "H", data[ifd:ifd + 2])
            dims: dict[int, int] = {}
            for k in range(n):
                tag, typ, _count = struct.unpack(e + "HHI", data[ifd + 2 + 12 * k:ifd + 10 + 12 * k])
                raw = data[ifd + 10 + 12 * k:ifd + 14 + 12 * k]
                if tag in (256, 257):
                    dims[tag] = struct.unpack(e + ("H" if typ == 3 else "I"), raw[:2] if typ == 3 else raw)[0]
            if 256 in dims and 257 in dims:
                return int(dims[256]), int(dims[257])
    except (struct.error, IndexError):
        return None
    return None


def decode_upload(data: bytes, *, max_pixels: int = 50_000_000) -> np.ndarray:
    """Decode an uploaded image file (PNG, JPEG, BMP, TIFF); ImageError when it is not one, or when
    its header says it is larger than ``max_pixels`` (checked before anything is decoded: a small
    file can decode to gigabytes)."""
    if not data:
        raise ImageError("the uploaded file is empty")
    size = image_size(data)
    if size is None:
        raise ImageError("the uploaded file is not a readable image (PNG, JPEG, BMP or TIFF)")
    if size[0] * size[1] > max_pixels or size[0] > 65535 or size[1] > 65535:
        raise ImageError(f"the uploaded image is {size[0]}x{size[1]} pixels, more than the "
                         f"{max_pixels} allowed")
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ImageError("the uploaded file is not a readable image (PNG, JPEG, BMP or TIFF)")
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2BGR)
    return check_image(arr, what="uploaded image")


class ImageCache:
    """Thread-safe LRU of encoded images, keyed by (result id, variant)."""

    def __init__(self, max_items: int = 96) -> None:
        self.max_items = max_items
        self._items: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_make(self, key: tuple[str, str], make: Callable[[], bytes]) -> bytes:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return data
            self.misses += 1
        data = make()  # outside the lock: encodes of different parts run in parallel
        with self._lock:
            self._items[key] = data
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return data
