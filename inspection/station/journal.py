"""The result journal: every result is on disk (fsync'd) before the PLC can see RESULT_VALID.

The result store commits in batches on its own thread, after the PLC already has its answer; a
station killed in between (kill -9, power loss) would lose a result the PLC has acted on. So the
station appends each published result to this journal first (one JSON line, ``os.fsync``), inside
the state machine's publication and therefore before the status registers show RESULT_VALID. The
journal is a sequence of small segment files; a segment is deleted once the store has committed
every result in it. At start, :meth:`ResultJournal.recover` hands back the journaled results the
store does not have, and the station stores them (marked as recovered).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

SEGMENT_ENTRIES = 2000


class ResultJournal:
    """Append-only, fsync'd JSON-lines segments under ``folder`` (``<n>.jsonl``)."""

    def __init__(self, folder: Path, *, segment_entries: int = SEGMENT_ENTRIES, fsync: bool = True) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.segment_entries = segment_entries
        self.fsync = fsync
        self._lock = threading.Lock()
        self._open: dict[int, set[str]] = {}  # segment -> ids not yet committed by the store
        self._owner: dict[str, int] = {}  # id -> segment
        self._seg = max((self._number(p) for p in self._segments()), default=0) + 1
        self._count = 0
        self._fd: int | None = None

    # ----------------------------------------------------------------- files
    @staticmethod
    def _number(path: Path) -> int:
        try:
            return int(path.stem)
        except ValueError:
            return 0

    def _segments(self) -> list[Path]:
        return sorted(self.folder.glob("*.jsonl"), key=self._number)

    def _path(self, seg: int) -> Path:
        return self.folder / f"{seg:08d}.jsonl"

    def _ensure_open(self) -> int:
        if self._fd is None or self._count >= self.segment_entries:
            if self._fd is not None:
                os.close(self._fd)
                self._drop_if_done(self._seg)
                self._seg += 1
            self._fd = os.open(self._path(self._seg), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._count = 0
            self._open.setdefault(self._seg, set())
            if self.fsync:  # the new directory entry must survive too
                dir_fd = os.open(self.folder, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
        return self._fd

    # ----------------------------------------------------------------- hot path
    def append(self, entry: dict[str, object]) -> None:
        """Write one result (it must carry a unique ``result_id``) and make it durable."""
        line = (json.dumps(entry, separators=(",", ":"), default=str) + "\n").encode()
        rid = str(entry["result_id"])
        with self._lock:
            fd = self._ensure_open()
            os.write(fd, line)
            if self.fsync:
                os.fdatasync(fd)
            self._count += 1
            self._open[self._seg].add(rid)
            self._owner[rid] = self._seg

    # ----------------------------------------------------------------- store side
    def committed(self, ids: Sequence[str]) -> None:
        """The store committed ``ids`` (its on_commit callback): their segments may go."""
        with self._lock:
            touched = set()
            for rid in ids:
                seg = self._owner.pop(rid, None)
                if seg is not None:
                    self._open[seg].discard(rid)
                    touched.add(seg)
            for seg in touched:
                if seg != self._seg:
                    self._drop_if_done(seg)

    def _drop_if_done(self, seg: int) -> None:
        if not self._open.get(seg):
            self._open.pop(seg, None)
            self._path(seg).unlink(missing_ok=True)

    @property
    def uncommitted(self) -> int:
        with self._lock:
            return len(self._owner)

    def recover(self, stored: Callable[[str], bool]) -> list[dict[str, object]]:
        """Entries of earlier runs whose result the store does not have (``stored(result_id)``
        false), oldest first. Call before the first append; the old segments are kept until
        :meth:`forget_old` (after the recovered entries are committed)."""
        out: list[dict[str, object]] = []
        for path in self._segments():
            if self._number(path) >= self._seg:
                continue
            for entry in _read_lines(path.read_bytes().splitlines()):
                if not stored(str(entry.get("result_id", ""))):
                    out.append(entry)
        return out

    def forget_old(self) -> None:
        """Delete the segments of earlier runs (their results are in the store now)."""
        for path in self._segments():
            if self._number(path) < self._seg and self._number(path) not in self._open:
                path.unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self._drop_if_done(self._seg)


def _read_lines(lines: Iterable[bytes]) -> Iterable[dict[str, object]]:
    for raw in lines:
        try:
            entry = json.loads(raw)
        except ValueError:  # a line torn by the kill: it was never fsync'd, so never shown
            logger.warning("result journal: a torn line skipped")
            continue
        if isinstance(entry, dict) and "result_id" in entry:
            yield entry
