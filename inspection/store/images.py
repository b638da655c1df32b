"""Image files of the result store: the raw part image (lossless PNG), its overlay (JPEG) and, when
the detector made one, its heat map (8-bit PNG, at most 256 px, in the image's frame).

Files live under ``images/YYYY-MM-DD/HH/<result_id>.png``, ``<result_id>.overlay.jpg`` and
``<result_id>.heat.png``; paths in the database are relative to the image root. The heat map's path
is not stored: it is the image's with ``.heat.png`` (:func:`heat_path`), and deleting an image
deletes its heat map (retention needs no change). Every file is written to a temporary name and
renamed, so a crash leaves either a whole file or a ``*.tmp`` that the next start removes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from inspection.errors import StoreError
from inspection.record import PartRecord
from inspection.vision.heatmap import levels_in_image
from inspection.vision.overlay import draw_overlay

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SavedImages:
    image_path: str
    overlay_path: str
    nbytes: int
    heat: bool = False  # a heat map was written (at heat_path(image_path))


def heat_path(image_rel: str) -> str:
    """The heat map file of a stored raw image (``<id>.png`` -> ``<id>.heat.png``)."""
    if not image_rel.endswith(".png") or image_rel.endswith(".heat.png"):
        raise StoreError(f"{image_rel!r} is not a stored part image", key="store_io")
    return image_rel[: -len(".png")] + ".heat.png"


class ImageStore:
    """Writes, finds and deletes the image files of stored results."""

    def __init__(self, root: Path, *, png_compression: int = 1, jpeg_quality: int = 85) -> None:
        self.root = Path(root)
        self.png_compression = png_compression
        self.jpeg_quality = jpeg_quality
        self.root.mkdir(parents=True, exist_ok=True)

    def save(self, record: PartRecord, image: np.ndarray) -> SavedImages:
        """Write ``image`` and its overlay for ``record``; raises StoreError on encode/IO failure."""
        when = time.gmtime(record.decided_ns / 1e9)
        rel_dir = Path(time.strftime("%Y-%m-%d", when)) / time.strftime("%H", when)
        folder = self.root / rel_dir
        folder.mkdir(parents=True, exist_ok=True)
        raw_rel = rel_dir / f"{record.result_id}.png"
        ovl_rel = rel_dir / f"{record.result_id}.overlay.jpg"
        raw = _encode(image, ".png", [cv2.IMWRITE_PNG_COMPRESSION, self.png_compression])
        shapes = record.to_dict()["overlay"]
        overlay = draw_overlay(image, shapes, verdict=record.verdict)  # type: ignore[arg-type]
        ovl = _encode(overlay, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        heat = b""
        if record.result.heat_map is not None:  # small: at most 256 px, 8 bits
            levels = levels_in_image(record.result.heat_map, record.result.alignment, image.shape[:2])
            heat = _encode(levels, ".png", [cv2.IMWRITE_PNG_COMPRESSION, 6])
        self._write(self.root / raw_rel, raw)
        self._write(self.root / ovl_rel, ovl)
        if heat:
            self._write(self.root / heat_path(raw_rel.as_posix()), heat)
        return SavedImages(raw_rel.as_posix(), ovl_rel.as_posix(), len(raw) + len(ovl) + len(heat), bool(heat))

    def path(self, rel: str) -> Path:
        """The absolute path of a stored relative path; refuses paths that leave the root."""
        p = (self.root / rel).resolve()
        if not p.is_relative_to(self.root.resolve()):
            raise StoreError(f"image path {rel!r} is outside the image store", key="store_io")
        return p

    def delete(self, *rels: str | None) -> int:
        """Delete files (missing ones are fine), and with a part image its heat map; returns the
        bytes freed."""
        freed = 0
        todo = [r for r in rels if r]
        todo += [heat_path(r) for r in todo if r.endswith(".png") and not r.endswith(".heat.png")]
        for rel in todo:
            p = self.path(rel)
            try:
                freed += p.stat().st_size
                p.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                logger.warning("cannot delete %s: %s", p, exc)
        return freed

    def sweep_temporary(self) -> int:
        """Remove ``*.tmp`` files left by a crash mid-write and empty folders; returns the count."""
        n = 0
        for tmp in self.root.rglob("*.tmp"):
            try:
                tmp.unlink()
                n += 1
            except OSError as exc:
                logger.warning("cannot remove %s: %s", tmp, exc)
        self.prune_empty_dirs()
        return n

    def prune_empty_dirs(self) -> None:
        for d in sorted((p for p in self.root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                d.rmdir()

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        tmp = path.with_name(path.name + ".tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise StoreError(f"cannot write {path}: {exc}", key="store_io") from exc


def _encode(image: np.ndarray, ext: str, params: list[int]) -> bytes:
    ok, buf = cv2.imencode(ext, image, params)
    if not ok:
        raise StoreError(f"cannot encode image as {ext}", key="store_io")
    return buf.tobytes()
