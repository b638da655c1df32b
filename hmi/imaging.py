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


def decode_upload(data: bytes) -> np.ndarray:
    """Decode an uploaded image file (PNG, JPEG, BMP, TIFF); ImageError when it is not one."""
    if not data:
        raise ImageError("the uploaded file is empty")
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
