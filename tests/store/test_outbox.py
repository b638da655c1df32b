"""The store's outbox with a sink in memory: commit order, durable cursor, partial delivery, retries,
and a backlog that survives a restart."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests_support import make_result

from inspection.errors import SinkError
from inspection.record import PartInfo, PartRecord
from inspection.store import ResultStore, StoreConfig
from inspection.store.export import result_message
from inspection.store.outbox import Forwarder
from inspection.store.rows import StoredResult


class MemorySink:
    name = "memory"

    def __init__(self) -> None:
        self.got: list[str] = []
        self.fail_next: list[int] = []  # per send: deliver this many, then raise (-1: succeed)
        self.beats: list[dict[str, Any]] = []

    def send(self, results: Sequence[StoredResult]) -> None:
        n = self.fail_next.pop(0) if self.fail_next else -1
        if n < 0:
            self.got += [r.result_id for r in results]
            return
        self.got += [r.result_id for r in results[:n]]
        raise SinkError("sink down", delivered=min(n, len(results)), key="sink_unreachable")

    def heartbeat(self, status: dict[str, Any]) -> None:
        self.beats.append(status)

    def close(self) -> None:
        pass


def _fill(store: ResultStore, n: int) -> list[str]:
    ids = []
    for i in range(n):
        result, _ = make_result(i, defective=i % 3 == 0)
        rec = PartRecord(result, PartInfo(trigger_seq=i, part_id=i, station_id="S1"))
        assert store.submit(rec)
        ids.append(rec.result_id)
    assert store.flush(10)
    return ids


def test_every_committed_result_goes_out_once_in_order_despite_failures(tmp_path: Path) -> None:
    with ResultStore(StoreConfig(tmp_path, save_pass_every=0)) as store:
        sink = MemorySink()
        sink.fail_next = [3, 0, 0]  # 3 delivered then down, then down twice
        fwd = Forwarder(store, sink, batch_max=10, max_delay_s=0.05, status=lambda: {"state": "READY"}).start()
        try:
            ids = _fill(store, 25)
            assert fwd.wait_idle(10)
            assert sink.got == ids
            st = fwd.stats()
            assert st.errors == 3 and st.sent == 25 and st.connected
            assert store.get_meta("outbox.memory") == str(st.cursor)
            assert sink.beats and sink.beats[0]["state"] == "READY"
        finally:
            fwd.stop()


def test_the_backlog_survives_a_restart(tmp_path: Path) -> None:
    with ResultStore(StoreConfig(tmp_path, save_pass_every=0)) as store:
        first = _fill(store, 5)
        sink = MemorySink()
        fwd = Forwarder(store, sink).start()
        assert fwd.wait_idle(10)
        fwd.stop()
        later = _fill(store, 4)  # committed while no forwarder runs
        assert Forwarder(store, MemorySink()).pending() == 4
    with ResultStore(StoreConfig(tmp_path, save_pass_every=0)) as store:
        sink2 = MemorySink()
        fwd = Forwarder(store, sink2).start()
        try:
            assert fwd.wait_idle(10)
        finally:
            fwd.stop()
    assert sink.got == first and sink2.got == later


def test_the_result_message_has_the_plant_fields(tmp_path: Path) -> None:
    with ResultStore(StoreConfig(tmp_path, save_pass_every=0)) as store:
        rid = _fill(store, 1)[0]
        msg = result_message(store.require(rid))
    assert msg["result_id"] == rid and msg["station_id"] == "S1" and msg["verdict"] == "reject"
    assert msg["result_code"] == 2 and msg["findings"] and msg["recipe"]["id"] == "pcb-a"
    assert msg["timestamps"]["decided"].endswith("Z") and msg["timestamps_ns"]["decided"] > 0
    assert time.time_ns() - msg["timestamps_ns"]["stored"] < 60e9
