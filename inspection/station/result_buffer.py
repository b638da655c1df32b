"""The station's result outbox: results wait here, in trigger order, until the PLC acknowledges them.

Nothing is ever overwritten or dropped: a result leaves only through :meth:`ResultBuffer.acknowledge`.
``depth`` is the number of waiting results the PLC allowed for (BUFFER_ENABLE); more than that is an
overrun (BUFFER_OVERRUN), and the station stops starting inspections, but the results still wait.
"""

from __future__ import annotations

from collections import deque

from inspection.plc.record import ResultRecord


class ResultBuffer:
    def __init__(self, depth: int) -> None:
        if depth < 1:
            raise ValueError(f"buffer depth must be >= 1, got {depth}")
        self.depth = depth
        self._records: deque[ResultRecord] = deque()
        self._presented = False

    def __len__(self) -> int:
        return len(self._records)

    @property
    def presented(self) -> ResultRecord | None:
        """The result shown with RESULT_VALID, if any."""
        return self._records[0] if self._presented else None

    @property
    def waiting(self) -> int:
        """Results not yet shown (QUEUED_RESULTS)."""
        return len(self._records) - (1 if self._presented else 0)

    @property
    def full(self) -> bool:
        return len(self._records) >= self.depth

    def add(self, record: ResultRecord) -> bool:
        """Queue ``record``; True when the buffer now holds more than ``depth`` results."""
        self._records.append(record)
        return len(self._records) > self.depth

    def present(self) -> ResultRecord | None:
        """Show the oldest waiting result (if none is shown yet)."""
        if not self._presented and self._records:
            self._presented = True
            return self._records[0]
        return None

    def clear(self) -> list[ResultRecord]:
        """Drop every result (the PLC session that was to acknowledge them ended); returns them."""
        records = list(self._records)
        self._records.clear()
        self._presented = False
        return records

    def acknowledge(self) -> ResultRecord | None:
        """The PLC copied the shown result: it leaves the buffer. None if nothing was shown."""
        if not self._presented:
            return None
        self._presented = False
        return self._records.popleft()
