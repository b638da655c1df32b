"""Progress bars for long command-line work: one display for every command, drawn by tqdm on stderr.

A terminal gets a live bar; a log (CI, a pipe, journald) gets a line every few seconds, not a flood.
``enabled=False`` (``--quiet``) draws nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO, TypeVar

from tqdm import tqdm

T = TypeVar("T")

LOG_INTERVAL_S = 5.0  # how often a bar redraws when stderr is not a terminal


class Progress:
    """``bar = Progress(total, "label")``, then ``bar.update(n, note)``; closes itself at ``total``."""

    def __init__(self, total: int, label: str = "", *, stream: TextIO | None = None,
                 enabled: bool = True) -> None:
        self.total = max(0, total)
        self.label = label
        self.done = 0
        self.note = ""
        out = stream or sys.stderr
        tty = bool(getattr(out, "isatty", lambda: False)())
        self._bar = tqdm(total=self.total, desc=label, file=out, disable=not enabled or self.total == 0,
                         mininterval=0.1 if tty else LOG_INTERVAL_S, dynamic_ncols=tty, ascii=not tty,
                         unit="it", leave=True)

    def update(self, n: int = 1, note: str = "") -> None:
        self.done += n
        if note and note != self.note:
            self.note = note
            self._bar.set_postfix_str(note, refresh=False)
        self._bar.update(n)
        if self.done >= self.total:
            self.close()

    def close(self) -> None:
        self._bar.close()


def track(items: Iterable[T], total: int, label: str = "", *, enabled: bool = True) -> Iterator[T]:
    """``items`` with a progress bar over ``total`` of them."""
    bar = Progress(total, label, enabled=enabled)
    try:
        for item in items:
            yield item
            bar.update()
    finally:
        bar.close()


def reporter(label: str, *, enabled: bool = True) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback (for loops that report their own position) drawing one bar."""
    state: dict[str, Progress] = {}

    def report(done: int, total: int) -> None:
        bar = state.get("bar")
        if bar is None or bar.total != total:
            bar = state["bar"] = Progress(total, label, enabled=enabled)
        if done > bar.done:
            bar.update(done - bar.done)

    return report
