"""Every golden reference a recipe ever had, kept as a version (for a one-click rollback).

``<data_dir>/golden/versions/<recipe_id>/<version>.png`` holds the image (the version is the first
12 hex digits of the PNG's SHA-256, so teaching the same image twice keeps one file) and
``index.json`` beside it lists the versions, oldest first, with who taught them, when, from what
(a part's result id and serial, an uploaded file) and the override reason when a guarded teach was
overridden. A golden taught from N good parts keeps its variation model (tolerance band) beside
it, ``<version>.npz`` (``spread_dark``, ``spread_bright``), so a rollback restores both; a good-set
recipe taught from N good parts keeps its good-set model there instead (the model's own archive,
:meth:`inspection.vision.goodset.GoodSetModel.to_bytes`). Files are written atomically (temporary
file + rename).
"""

from __future__ import annotations

import io
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

MAX_VERSIONS = 200  # per recipe; the oldest are dropped (never the current one)


def encode_variation(dark: np.ndarray, bright: np.ndarray) -> bytes:
    """A variation model (per-pixel dark and bright widening of the band) as npz bytes."""
    buf = io.BytesIO()
    np.savez_compressed(buf, spread_dark=np.asarray(dark), spread_bright=np.asarray(bright))
    return buf.getvalue()


def decode_variation(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(spread_dark, spread_bright) of :func:`encode_variation`; ValueError when unreadable."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return np.array(z["spread_dark"]), np.array(z["spread_bright"])
    except (OSError, KeyError, ValueError, EOFError) as exc:
        raise ValueError(f"unreadable variation model: {exc}") from exc


def is_goodset_model(data: bytes) -> bool:
    """Whether kept model bytes are a good-set model (else: a variation model, or unreadable)."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return "bank" in z.files and "meta" in z.files
    except (OSError, ValueError, EOFError):
        return False


@dataclass(frozen=True)
class GoldenVersion:
    version: str
    taught_ns: int
    taught_by: str
    shape: tuple[int, int]
    source: str = ""
    reason: str = ""
    variation_model: bool = False  # a variation model (tolerance band) is kept with it
    goodset_model: bool = False  # a good-set model is kept with it (a good-set recipe's)

    def to_dict(self) -> dict[str, object]:
        return {"version": self.version, "taught_ns": self.taught_ns, "taught_by": self.taught_by,
                "shape": list(self.shape), "source": self.source, "reason": self.reason,
                "variation_model": self.variation_model, "goodset_model": self.goodset_model}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GoldenVersion:
        shape = d.get("shape") or [0, 0]
        return cls(str(d["version"]), int(d.get("taught_ns") or 0), str(d.get("taught_by") or ""),
                   (int(shape[0]), int(shape[1])), str(d.get("source") or ""), str(d.get("reason") or ""),
                   bool(d.get("variation_model", False)), bool(d.get("goodset_model", False)))


class GoldenLibrary:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()

    def _dir(self, recipe_id: str) -> Path:
        return self.root / recipe_id

    def _read_index(self, recipe_id: str) -> list[GoldenVersion]:
        path = self._dir(recipe_id) / "index.json"
        if not path.is_file():
            return []
        try:
            data = json.loads(path.read_text())
            return [GoldenVersion.from_dict(d) for d in data if isinstance(d, dict)]
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            logger.error("ignoring unreadable golden version index %s: %s", path, exc)
            return []

    def _write_index(self, recipe_id: str, versions: list[GoldenVersion]) -> None:
        path = self._dir(recipe_id) / "index.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps([v.to_dict() for v in versions], indent=1))
        os.replace(tmp, path)

    def add(self, recipe_id: str, png: bytes, version: GoldenVersion, *, keep: str | None = None,
            model: bytes | None = None) -> None:
        """Keep ``png`` (and its ``model``, npz bytes: a variation model or a good-set model) as
        ``version`` (a version already kept is moved to the end: newest)."""
        with self._lock:
            d = self._dir(recipe_id)
            d.mkdir(parents=True, exist_ok=True)
            path = d / f"{version.version}.png"
            if not path.is_file():
                tmp = path.with_suffix(".png.tmp")
                tmp.write_bytes(png)
                os.replace(tmp, path)
            npz = d / f"{version.version}.npz"
            if model is not None:
                tmp = npz.with_suffix(".npz.tmp")
                tmp.write_bytes(model)
                os.replace(tmp, npz)
            elif not version.variation_model and not version.goodset_model:
                npz.unlink(missing_ok=True)
            versions = [v for v in self._read_index(recipe_id) if v.version != version.version]
            versions.append(version)
            while len(versions) > MAX_VERSIONS:
                drop = next((v for v in versions if v.version not in (keep, version.version)), None)
                if drop is None:
                    break
                versions.remove(drop)
                (d / f"{drop.version}.png").unlink(missing_ok=True)
                (d / f"{drop.version}.npz").unlink(missing_ok=True)
            self._write_index(recipe_id, versions)

    def versions(self, recipe_id: str) -> list[GoldenVersion]:
        """The kept versions, newest first."""
        with self._lock:
            return self._read_index(recipe_id)[::-1]

    def get(self, recipe_id: str, version: str) -> GoldenVersion | None:
        return next((v for v in self.versions(recipe_id) if v.version == version), None)

    def png(self, recipe_id: str, version: str) -> bytes | None:
        if not version.isalnum():
            return None
        path = self._dir(recipe_id) / f"{version}.png"
        try:
            return path.read_bytes()
        except OSError:
            return None

    def model(self, recipe_id: str, version: str) -> bytes | None:
        """The model kept with ``version`` (npz bytes: variation or good-set model), None when it has none."""
        if not version.isalnum():
            return None
        try:
            return (self._dir(recipe_id) / f"{version}.npz").read_bytes()
        except OSError:
            return None
