"""A small progress bar for long command-line work (stderr; one line per 10% when not a TTY)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")


class Progress:
    def __init__(self, total: int, label: str = "", *, stream: TextIO | None = None,
                 enabled: bool = True) -> None:
        self.total = max(0, total)
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.total > 0
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0
        self.t0 = time.monotonic()
        self._last_decile = -1
        self._last_draw = 0.0
        self.note = ""

    def update(self, n: int = 1, note: str = "") -> None:
        self.done += n
        if note:
            self.note = note
        if not self.enabled:
            return
        now = time.monotonic()
        frac = self.done / self.total
        if self.tty:
            if now - self._last_draw < 0.1 and self.done < self.total:
                return
            self._last_draw = now
            bar = "#" * int(frac * 30)
            self.stream.write(f"\r{self.label} [{bar:<30}] {self.done}/{self.total} {self._rate(now)}"
                              f" {self.note}\x1b[K")
            if self.done >= self.total:
                self.stream.write("\n")
        else:
            decile = int(frac * 10)
            if decile > self._last_decile:
                self._last_decile = decile
                self.stream.write(f"{self.label} {self.done}/{self.total} ({frac:.0%}) "
                                  f"{self._rate(now)} {self.note}\n")
        self.stream.flush()

    def _rate(self, now: float) -> str:
        dt = now - self.t0
        if self.done == 0 or dt <= 0:
            return ""
        rate = self.done / dt
        eta = (self.total - self.done) / rate if rate > 0 else 0
        return f"{rate:.1f}/s eta {eta:.0f}s"


def track(items: Iterable[T], total: int, label: str = "", *, enabled: bool = True) -> Iterator[T]:
    bar = Progress(total, label, enabled=enabled)
    for item in items:
        yield item
        bar.update()
