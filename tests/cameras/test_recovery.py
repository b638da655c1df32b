"""Outage logging and background reconnection with back-off."""

from __future__ import annotations

import logging

import pytest

from inspection.camera.recovery import OutageLog, Reconnector


def test_reconnector_backs_off_and_logs_the_outage_once(error_log):
    log = logging.getLogger("inspection.camera.recovery")
    failures = iter([OSError("no route"), OSError("no route"), OSError("still no route")])
    calls: list[int] = []

    def attempt() -> None:
        calls.append(1)
        exc = next(failures, None)
        if exc is not None:
            raise exc

    rec = Reconnector(attempt, what="camera X", min_s=0.01, max_s=0.03, log=log)
    rec.start("device removed")
    assert rec.done.wait(5.0)
    rec.stop()
    assert len(calls) == 4 and rec.attempts == 4
    assert rec.delays == pytest.approx([0.01, 0.02, 0.03, 0.03])  # doubled, capped at max_s
    levels = [r.levelno for r in error_log.records if r.name == log.name]
    assert levels == [logging.ERROR, logging.DEBUG, logging.DEBUG, logging.DEBUG, logging.WARNING]
    assert "device removed" in error_log.records[0].getMessage()
    assert "recovered" in error_log.records[-1].getMessage()
    assert not rec.outage.down


def test_a_second_outage_is_logged_at_error_again(error_log):
    log = logging.getLogger("inspection.camera.recovery")
    outage = OutageLog(log, "plc")
    for _ in range(3):
        outage.failure("timeout")
    outage.recovered()
    outage.failure("timeout")
    levels = [r.levelno for r in error_log.records]
    assert levels == [logging.ERROR, logging.DEBUG, logging.DEBUG, logging.WARNING, logging.ERROR]
    assert outage.outages == 2


def test_stop_ends_a_reconnection_that_never_succeeds():
    def attempt() -> None:
        raise OSError("unplugged")

    rec = Reconnector(attempt, what="camera Y", min_s=0.01, max_s=0.02)
    rec.start()
    rec.start()  # idempotent while running
    rec.stop(timeout_s=2.0)
    assert not rec.running and not rec.done.is_set()
    with pytest.raises(ValueError):
        Reconnector(attempt, what="bad", min_s=1.0, max_s=0.5)
