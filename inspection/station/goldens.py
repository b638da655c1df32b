"""Every golden reference a recipe ever had, kept as a version (for a one-click rollback).

``<data_dir>/golden/versions/<recipe_id>/<version>.png`` holds the image (the version is the first
12 hex digits of the PNG's SHA-256, so teaching the same image twice keeps one file) and
``index.json`` beside it lists the versions, oldest first, with who taught them, when, from what
(a part's result id and serial, an uploaded file) and the override reason when a guarded teach was
overridden. Files are written atomically (temporary file + rename).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MAX_VERSIONS = 200  # per recipe; the oldest are dropped (never the current one)


@dataclass(frozen=True)
class GoldenVersion:
    version: str
    taught_ns: int
    taught_by: str
    shape: tuple[int, int]
    source: str = ""
    reason: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"version": self.version, "taught_ns": self.taught_ns, "taught_by": self.taught_by,
                "shape": list(self.shape), "source": self.source, "reason": self.reason}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GoldenVersion:
        shape = d.get("shape") or [0, 0]
        return cls(str(d["version"]), int(d.get("taught_ns") or 0), str(d.get("taught_by") or ""),
                   (int(shape[0]), int(shape[1])), str(d.get("source") or ""), str(d.get("reason") or ""))


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

    def add(self, recipe_id: str, png: bytes, version: GoldenVersion, *, keep: str | None = None) -> None:
        """Keep ``png`` as ``version`` (a version already kept is moved to the end: newest)."""
        with self._lock:
            d = self._dir(recipe_id)
            d.mkdir(parents=True, exist_ok=True)
            path = d / f"{version.version}.png"
            if not path.is_file():
                tmp = path.with_suffix(".png.tmp")
                tmp.write_bytes(png)
                os.replace(tmp, path)
            versions = [v for v in self._read_index(recipe_id) if v.version != version.version]
            versions.append(version)
            while len(versions) > MAX_VERSIONS:
                drop = next((v for v in versions if v.version not in (keep, version.version)), None)
                if drop is None:
                    break
                versions.remove(drop)
                (d / f"{drop.version}.png").unlink(missing_ok=True)
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
