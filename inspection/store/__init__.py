"""The result store: SQLite (WAL) records + image files, retention, audit log, operator review."""

from inspection.store.audit import AuditEntry
from inspection.store.config import RetentionPolicy, StoreConfig
from inspection.store.retention import RetentionReport
from inspection.store.rows import ImageState, ResultQuery, Review, ReviewStatus, StoredResult
from inspection.store.store import Counts, ResultStore
from inspection.store.writer import WriterStats

__all__ = [
    "AuditEntry",
    "Counts",
    "ImageState",
    "ResultQuery",
    "ResultStore",
    "RetentionPolicy",
    "RetentionReport",
    "Review",
    "ReviewStatus",
    "StoreConfig",
    "StoredResult",
    "WriterStats",
]
