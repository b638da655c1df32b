"""Configuration of the result store (frozen, validated; the station config file maps onto it)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from inspection.errors import ConfigError

GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True)
class RetentionPolicy:
    """What the store deletes, and when.

    - ``image_max_age_days``: images older than this are deleted (the record stays).
    - ``record_max_age_days``: records (and their images) older than this are deleted.
    - ``max_image_bytes``: quota of the image folder; above it the oldest images go, pass images
      before reject images. 0 = no quota.
    - ``min_free_bytes``: free space to keep on the store's disk; below it the oldest images go
      (pass images first). When nothing is left to delete and the disk is still below
      ``min_free_bytes / 2``, new images are skipped (records are still written).
    - ``max_records``: most records kept (0 = no limit); above it records go in the order below.
    - Records under pressure (``max_records``, or free space below ``min_free_bytes / 8`` once no
      image is left to delete, i.e. well after the low-disk and critical-disk alarms): oldest
      passes first, then unreviewed rejects, reviewed rejects last.
      ``records_warn_fraction``: a warning (``records_near_limit``) when the records reach this share
      of ``max_records``, before any is deleted.
    - ``batch``: most files deleted per run (runs repeat every ``StoreConfig.retention_interval_s``).
    """

    image_max_age_days: float = 30.0
    record_max_age_days: float = 365.0
    max_image_bytes: int = 0
    min_free_bytes: int = 2 * GIB
    max_records: int = 0
    records_warn_fraction: float = 0.9
    batch: int = 2000

    def __post_init__(self) -> None:
        for name in ("image_max_age_days", "record_max_age_days"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise ConfigError(f"must be a positive number of days, got {v!r}", field=f"retention.{name}")
        if not 0 < self.records_warn_fraction <= 1:
            raise ConfigError(f"must be in (0, 1], got {self.records_warn_fraction!r}",
                              field="retention.records_warn_fraction")
        for name in ("max_image_bytes", "min_free_bytes", "max_records"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v >= 0):
                raise ConfigError(f"must be a non-negative integer, got {v!r}", field=f"retention.{name}")
        if not (isinstance(self.batch, int) and self.batch >= 1):
            raise ConfigError(f"must be >= 1, got {self.batch!r}", field="retention.batch")


@dataclass(frozen=True)
class StoreConfig:
    """Where and how results are stored.

    ``root`` holds ``results.db`` (SQLite, WAL) and ``images/``. Reject images are always saved
    (raw PNG + overlay JPEG); passes every ``save_pass_every``-th part (0 = never).

    The hot path only enqueues: ``queue_max`` records may wait for the writer thread, and their
    images together at most ``pending_image_bytes_max`` bytes. When the image budget is full the
    new part's image is dropped (its record is kept, ``image_state='dropped'``); when the queue is
    full the new record is dropped. Both are counted (``WriterStats``) and logged.

    ``synchronous`` FULL makes every committed batch durable across power loss; NORMAL is durable
    across a process crash (kill -9) only, and faster.
    """

    root: Path
    save_pass_every: int = 0
    queue_max: int = 2000
    pending_image_bytes_max: int = 256 * MIB
    batch_max: int = 64
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    png_compression: int = 1
    jpeg_quality: int = 85
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    retention_interval_s: float = 60.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))
        checks: list[tuple[str, bool]] = [
            ("save_pass_every", isinstance(self.save_pass_every, int) and self.save_pass_every >= 0),
            ("queue_max", isinstance(self.queue_max, int) and self.queue_max >= 1),
            ("pending_image_bytes_max", isinstance(self.pending_image_bytes_max, int)
             and self.pending_image_bytes_max >= 0),
            ("batch_max", isinstance(self.batch_max, int) and self.batch_max >= 1),
            ("synchronous", self.synchronous in ("FULL", "NORMAL")),
            ("png_compression", isinstance(self.png_compression, int) and 0 <= self.png_compression <= 9),
            ("jpeg_quality", isinstance(self.jpeg_quality, int) and 10 <= self.jpeg_quality <= 100),
            ("retention_interval_s", isinstance(self.retention_interval_s, int | float)
             and math.isfinite(self.retention_interval_s) and self.retention_interval_s > 0),
        ]
        for name, ok in checks:
            if not ok:
                raise ConfigError(f"invalid value {getattr(self, name)!r}", field=f"store.{name}")

    @property
    def db_path(self) -> Path:
        return self.root / "results.db"

    @property
    def image_root(self) -> Path:
        return self.root / "images"
